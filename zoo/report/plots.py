"""Matplotlib figures of the comparison. Every function takes tables and
returns a Figure; ``zoo.report`` saves them. A cell has the same colour in
every figure.
"""

from __future__ import annotations

import zlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

GROUP_KINDS = ("input_kernel", "recurrent_kernel", "bias", "head")


def cell_colors(cells) -> dict[str, tuple]:
    """A colour per cell that depends on its name alone, so every figure agrees.

    The name's hash picks a colour of the palette; a clash within one figure
    moves to the next free colour.
    """
    palette = plt.get_cmap("tab10").colors
    colors, used = {}, set()
    for name in sorted(set(cells)):
        i = int(zlib.crc32(name.encode())) % len(palette)
        for _ in range(len(palette)):
            if i not in used:
                break
            i = (i + 1) % len(palette)
        used.add(i)
        colors[name] = palette[i]
    return colors


def _panels(modes, rows: int = 1, height: float = 3.4, sharey: bool | str = False):
    fig, axes = plt.subplots(
        rows, len(modes), figsize=(4.2 * len(modes), height * rows), squeeze=False, sharey=sharey,
        constrained_layout=True,
    )
    return fig, axes


def _legend(fig, axes) -> None:
    """One legend for the figure, outside the panels so it hides no data."""
    handles = {}
    for ax in axes.ravel():
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside right center", frameon=False)


def log_scale_where_possible(fig: plt.Figure) -> plt.Figure:
    """Turn each log axis that has no finite positive value to plot (a grid whose
    runs all diverged) back to linear, saying so on the panel, so drawing never
    fails; axes with data keep their log scale. Returns ``fig``."""
    empty = [
        (ax, axis) for ax in fig.axes for axis in ("x", "y")
        if getattr(ax, f"get_{axis}scale")() == "log" and not any(
            np.isfinite(getattr(a.dataLim, f"minpos{axis}"))
            for a in getattr(ax, f"get_shared_{axis}_axes")().get_siblings(ax)
        )
    ]
    for ax, axis in empty:
        getattr(ax, f"set_{axis}scale")("linear")
        label = getattr(ax, f"get_{axis}label")()
        for log in (" (log scale)", ", log scale", " (log)", ", log"):
            label = label.replace(log, "")
        getattr(ax, f"set_{axis}label")(label)
        ax.text(0.5, 0.5, "nothing finite and positive to show\n(diverged runs?)", ha="center", va="center",
                transform=ax.transAxes, color="0.4")
    return fig


def _band(ax, table: pd.DataFrame, x: str, y: str, color, label: str) -> None:
    """Mean over seeds as a line, min..max over seeds as a band."""
    g = table.groupby(x)[y]
    mean, low, high = g.mean(), g.min(), g.max()
    ax.plot(mean.index, mean.values, color=color, label=label, lw=1.6)
    if table.seed.nunique() > 1:
        ax.fill_between(mean.index, low.values, high.values, color=color, alpha=0.2, lw=0)


def loss_curves(epochs: pd.DataFrame) -> plt.Figure:
    modes = list(dict.fromkeys(epochs["mode"]))
    colors = cell_colors(epochs.cell.unique())
    fig, axes = _panels(modes, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for cell, t in epochs[epochs["mode"] == mode].groupby("cell"):
            _band(ax, t, "epoch", "loss", colors[cell], cell)
        ax.set(title=mode, xlabel="epoch", yscale="log")
    axes[0, 0].set_ylabel("training loss (MAE, log scale)")
    fig.suptitle("Training loss: mean over seeds, band = min..max over seeds")
    _legend(fig, axes)
    return fig


def gradient_norms(epochs: pd.DataFrame) -> plt.Figure:
    modes = list(dict.fromkeys(epochs["mode"]))
    colors = cell_colors(epochs.cell.unique())
    fig, axes = _panels(modes, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for cell, t in epochs[epochs["mode"] == mode].groupby("cell"):
            _band(ax, t, "epoch", "grad_norm_mean", colors[cell], cell)
            peak = t.groupby("epoch").grad_norm_max.max()
            ax.plot(peak.index, peak.values, color=colors[cell], lw=0.7, ls=":", alpha=0.8)
        ax.set(title=mode, xlabel="epoch", yscale="log")
    axes[0, 0].set_ylabel("global gradient norm (log scale)")
    fig.suptitle("Gradient norm before clipping: epoch mean (solid), epoch peak (dotted)")
    _legend(fig, axes)
    return fig


def gradient_by_lag(probes: pd.DataFrame) -> plt.Figure:
    """dL/dx and dh_T/dh_t against lag, first (dashed) and last (solid) probed epoch."""
    modes = list(dict.fromkeys(probes["mode"]))
    colors = cell_colors(probes.cell.unique())
    fig, axes = _panels(modes, rows=2)
    rows = [("dL_dx", "‖dL/dx‖ per input value"), ("dhT_dht", "‖dh_T/dh_t‖ (Frobenius)")]
    for col, mode in enumerate(modes):
        for row, (y, label) in enumerate(rows):
            ax = axes[row, col]
            t = probes[(probes["mode"] == mode)].dropna(subset=[y])
            if t.empty:
                ax.text(0.5, 0.5, f"{mode} reads one step:\nno hidden state through time",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
                ax.set(xticks=[], yticks=[])
                continue
            for cell, c in t.groupby("cell"):
                first, last = c.epoch.min(), c.epoch.max()
                for epoch, style in ((first, "--"), (last, "-")):
                    m = c[c.epoch == epoch].groupby("lag")[y].mean()
                    ax.plot(m.index, m.values, ls=style, marker="o", ms=3, color=colors[cell],
                            label=cell if epoch == last else None)
            ax.set(yscale="log", xlabel="lag (steps before the last input)")
            if col == 0:
                ax.set_ylabel(label + "\n(log scale)")
            ax.set_title(mode if row == 0 else f"{mode}: through time")
    fig.suptitle("Gradients through time: last probed epoch (solid) and first (dashed)")
    _legend(fig, axes)
    return fig


def weight_groups(gradients: pd.DataFrame) -> plt.Figure:
    """Mean gradient norm per weight kind over training; encoder solid, decoder dashed."""
    modes = list(dict.fromkeys(gradients["mode"]))
    colors = cell_colors(gradients.cell.unique())
    g = gradients.copy()
    g["kind"] = g.group.str.split(".").str[-1]
    g["layer"] = g.group.str.split(".").str[0]
    fig, axes = plt.subplots(len(modes), len(GROUP_KINDS), figsize=(15, 2.8 * len(modes)),
                             squeeze=False, sharex=True, constrained_layout=True)
    for row, mode in enumerate(modes):
        for col, kind in enumerate(GROUP_KINDS):
            ax = axes[row, col]
            t = g[(g["mode"] == mode) & (g.kind == kind)]
            for (cell, layer), c in t.groupby(["cell", "layer"]):
                m = c.groupby("epoch").norm_mean.mean()
                ax.plot(m.index, m.values, color=colors[cell], ls="--" if layer == "decoder" else "-",
                        label=cell, lw=1.3)
            ax.set_title(f"{mode}: {kind.replace('_', ' ')}")
            if (t.norm_mean > 0).any():
                ax.set_yscale("log")
            elif not t.empty:
                ax.text(0.5, 0.5, "exactly zero: one step\nfrom a zero state never\nuses this kernel",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
            if col == 0:
                ax.set_ylabel("gradient norm (log)")
            if row == len(modes) - 1:
                ax.set_xlabel("epoch")
    fig.suptitle("Gradient norm per weight group (epoch mean; many_to_many: encoder solid, decoder dashed)")
    _legend(fig, axes)
    return fig


def predictions(preds: pd.DataFrame, points: int = 200) -> plt.Figure:
    """Truth and each cell's next-value prediction (first seed), and the error below.

    At this scale the predictions lie on the truth, so the error row is where
    the cells differ.
    """
    modes = list(dict.fromkeys(preds["mode"]))
    colors = cell_colors(preds.cell.unique())
    fig, axes = _panels(modes, rows=2, height=2.6)
    for col, mode in enumerate(modes):
        top, bottom = axes[0, col], axes[1, col]
        t = preds[(preds["mode"] == mode) & (preds.offset == 1)]
        truth = t.drop_duplicates("index").sort_values("index").head(points)
        top.plot(truth["index"], truth.truth, color="black", lw=3, alpha=0.3, label="truth")
        for cell, c in t.groupby("cell"):
            c = c[c.seed == c.seed.min()].sort_values("index").head(points)
            top.plot(c["index"], c.prediction, color=colors[cell], lw=1.0, label=cell)
            bottom.plot(c["index"], c.prediction - c.truth, color=colors[cell], lw=1.0)
        bottom.axhline(0, color="black", lw=0.6)
        top.set(title=mode, ylim=(-1.25, 1.25))
        bottom.set(xlabel="test series index")
    axes[0, 0].set_ylabel("sin(t), next-value\nprediction")
    axes[1, 0].set_ylabel("prediction − truth")
    fig.suptitle(f"Next-value predictions on the test series (first {points} points, first seed)")
    _legend(fig, axes)
    return fig


def test_mae_bars(summary: pd.DataFrame) -> plt.Figure:
    modes = list(dict.fromkeys(summary["mode"]))
    cells = sorted(summary.cell.unique())
    colors = cell_colors(cells)
    fig, ax = plt.subplots(figsize=(2.2 * len(modes) + 3, 4), constrained_layout=True)
    width = 0.8 / len(cells)
    for i, cell in enumerate(cells):
        t = summary[summary.cell == cell].set_index("mode").reindex(modes)
        x = np.arange(len(modes)) + (i - (len(cells) - 1) / 2) * width
        err = t.test_mae_ci95.fillna(0).to_numpy()
        ax.bar(x, t.test_mae, width, color=colors[cell], label=cell, yerr=err, capsize=3)
    ax.set_xticks(np.arange(len(modes)), modes)
    ax.set(yscale="log", ylabel="test MAE (log scale)", title="Test MAE per cell and mode, 95% interval over seeds")
    fig.legend(loc="outside right center", frameon=False)
    return fig


# ------------------------------------------------------------ experiment plots


def decay_by_window(probes: pd.DataFrame) -> plt.Figure:
    """dh_T/dh_t against lag at the last probed epoch, one panel per window length."""
    p = probes.dropna(subset=["dhT_dht"])
    p = p[p.epoch == p.groupby("run_id").epoch.transform("max")]
    windows = sorted(p.window.unique())
    colors = cell_colors(p.cell.unique())
    fig, axes = _panels(windows, sharey=True)
    for ax, window in zip(axes[0], windows):
        for cell, c in p[p.window == window].groupby("cell"):
            _band(ax, c, "lag", "dhT_dht", colors[cell], cell)
        ax.set(title=f"window {window}", xlabel="lag (steps back)", yscale="log")
    axes[0, 0].set_ylabel("‖dh_T/dh_t‖ (log scale)")
    fig.suptitle("Vanishing gradients: the through-time Jacobian against lag, last probed epoch "
                 "(mean over seeds, band = min..max)")
    _legend(fig, axes)
    return fig


def clipping(epochs: pd.DataFrame, column: str) -> plt.Figure:
    """Loss and peak gradient norm per cell, with clipping (solid) and without (dashed)."""
    colors = cell_colors(epochs.cell.unique())
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), squeeze=False, constrained_layout=True)
    loss_ax, norm_ax = axes[0]
    for (cell, clip), c in epochs.groupby(["cell", epochs[column].fillna(-1)]):
        style = "--" if clip == -1 else "-"
        label = f"{cell}, " + ("no clipping" if clip == -1 else f"clipped at {clip:g}")
        loss = c.groupby("epoch").loss.median()
        loss_ax.plot(loss.index, loss.values, ls=style, color=colors[cell], label=label)
        peak = c.groupby("epoch").grad_norm_max.max()
        # Markers, so a run that blew up in its first epoch still shows its one point.
        norm_ax.plot(peak.index, peak.values, ls=style, color=colors[cell], marker="o", ms=3)
        for _, run in c.groupby("run_id"):
            bad = run[~np.isfinite(run.loss)]
            if len(bad):  # where a run diverged
                loss_ax.plot(bad.epoch, [loss_ax.get_ylim()[1]] * len(bad), "x", color=colors[cell], ms=9)
    for clip in epochs[column].dropna().unique():
        norm_ax.axhline(clip, color="black", lw=0.8, ls=":")
        norm_ax.annotate(f"clip norm {clip:g}", (1, clip), textcoords="offset points", xytext=(2, 3), fontsize=8)
    loss_ax.set(yscale="log", xlabel="epoch", ylabel="training loss (median over seeds, log)",
                title="Loss; × marks a run that diverged")
    norm_ax.set(yscale="log", xlabel="epoch", ylabel="peak gradient norm in the epoch (log)",
                title="Gradient norm before clipping")
    fig.legend(*loss_ax.get_legend_handles_labels(), loc="outside right center", frameon=False)
    return fig


def params_vs_mae(summary: pd.DataFrame) -> plt.Figure:
    """Test MAE against parameter count: equal units (circles) and equal budget (squares)."""
    modes = list(dict.fromkeys(summary["mode"]))
    colors = cell_colors(summary.cell.unique())
    common_units = summary.units.mode().iloc[0]
    fig, axes = _panels(modes, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for r in summary[summary["mode"] == mode].itertuples():
            equal_units = r.units == common_units
            ax.errorbar(r.params, r.test_mae, yerr=0 if np.isnan(r.test_mae_ci95) else r.test_mae_ci95,
                        marker="o" if equal_units else "s", color=colors[r.cell], capsize=3,
                        label=f"{r.cell} ({'equal units' if equal_units else 'equal parameters'})")
        ax.set(title=mode, xlabel="parameters", yscale="log")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    axes[0, 0].set_ylabel("test MAE (log scale)")
    fig.suptitle(f"Equal units ({common_units}, circles) against an equal parameter budget (squares)")
    _legend(fig, axes)
    return fig


def gate_activity(gates: pd.DataFrame) -> plt.Figure:
    """Mean gate activations at the probed epochs, one panel per gate name.

    ``carry`` puts every gated cell on one scale: the share of the previous
    state a step keeps (Keras GRU: z; the post's GRU: 1 - z; LSTM: f; MGU: 1 - f).
    """
    mode = "many_to_one" if (gates["mode"] == "many_to_one").any() else gates["mode"].iloc[0]
    g = gates[gates["mode"] == mode]
    names = ["carry"] + sorted(set(g.gate) - {"carry"})
    colors = cell_colors(g.cell.unique())
    fig, axes = _panels(names, height=3.0, sharey=True)
    for ax, name in zip(axes[0], names):
        for cell, c in g[g.gate == name].groupby("cell"):
            _band(ax, c, "epoch", "mean", colors[cell], cell)
        ax.set(title=name + (" (share of old state kept)" if name == "carry" else ""), xlabel="probed epoch",
               ylim=(0, 1))
    axes[0, 0].set_ylabel("mean activation on the probe batch")
    fig.suptitle(f"Gate activity ({mode}): carry = Keras GRU z, the post's GRU 1 − z, LSTM forget f, MGU 1 − f")
    _legend(fig, axes)
    return fig
