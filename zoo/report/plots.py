"""Matplotlib figures of the comparison. Every function takes tables and
returns a Figure; ``zoo.report`` saves them. A cell has the same colour in
every figure.

Figures are built with matplotlib's ``Figure`` API, not pyplot: importing
the report selects no backend and registers no figure with pyplot, so a
notebook's own backend stays as it was.
"""

from __future__ import annotations

import textwrap

import matplotlib.lines
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from zoo.core.colors import cell_colors, figure_legend  # noqa: F401 (the report's figures take cell_colors from here)
from zoo.report.tables import sigma_min_text

GROUP_KINDS = ("input_kernel", "recurrent_kernel", "bias", "head")


def save(figures: dict, out) -> list:
    """Each figure written as ``out / name`` (PNG at the report's resolution); their paths, in order."""
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
    return [out / name for name in figures]


def subplots(*args, figsize=None, dpi=None, constrained_layout=False, **kwargs):
    """``pyplot.subplots`` without pyplot: a ``Figure`` no backend manages, and its axes."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained" if constrained_layout else None)
    return fig, fig.subplots(*args, **kwargs)




def _panels(modes, rows: int = 1, height: float = 3.4, sharey: bool | str = False):
    fig, axes = subplots(
        # At least 9 inches wide: one or two panels keep room for the figure's title and its legend.
        rows, len(modes), figsize=(max(4.2 * len(modes), 9.0), height * rows), squeeze=False, sharey=sharey,
        constrained_layout=True,
    )
    return fig, axes


def _legend(fig, axes) -> None:
    """One legend for the figure, outside the panels so it hides no data."""
    figure_legend(fig, axes, frameon=False)


def log_scale_where_possible(fig: Figure) -> Figure:
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


def loss_curves(epochs: pd.DataFrame) -> Figure:
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


def gradient_norms(epochs: pd.DataFrame) -> Figure:
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


def _state_size_caption(probes: pd.DataFrame) -> str:
    """The lag-0 value of ‖dh_T/dh_t‖ is ‖I‖_F = √(state size), read back from the data."""
    zero = probes[(probes.lag == 0)].dropna(subset=["dhT_dht"])
    sizes = zero.groupby("cell").dhT_dht.first()
    if sizes.empty:
        return ""
    parts = [f"{cell} √{round(v * v)} = {v:.3g}" for cell, v in sizes.items()]
    return ("Lag 0 of ‖dh_T/dh_t‖ is dh_T/dh_T = I, whose Frobenius norm is √(state size): " + ", ".join(parts)
            + " (an LSTM carries h and c).")


def _first_label(epoch) -> str:
    return "initial weights (epoch 0)" if epoch == 0 else f"first probed epoch ({int(epoch)})"


def gradient_by_lag(probes: pd.DataFrame) -> Figure:
    """dL/dx and dh_T/dh_t against lag, first (dashed: the initial weights) and last (solid) probed epoch."""
    modes = list(dict.fromkeys(probes["mode"]))
    colors = cell_colors(probes.cell.unique())
    fig, axes = _panels(modes, rows=2)
    rows = [("dL_dx", "RMS ‖dL/dx_t‖\nover the probe batch"),
            ("dhT_dht", "‖dh_T/dh_t‖ (Frobenius),\nmean over the probe batch")]
    labelled = set()  # each row's first panel with data gets the y label
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
            through = probes[probes["mode"] == mode].dhT_dht.notna().any()
            ax.set(yscale="log", xlabel="lag T − t (steps before the last input)" if through
                   else "input value, counted back from the newest (all in one step)")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            if row not in labelled:
                ax.set_ylabel(label + " (log)")
                labelled.add(row)
            ax.set_title(f"{mode}: dL/dx_t" if row == 0 else f"{mode}: through time")
    first, last = probes.epoch.min(), probes.epoch.max()
    fig.suptitle(f"Gradients through time: dashed = {_first_label(first)}, solid = epoch {int(last)}; "
                 "mean over seeds")
    caption = _state_size_caption(probes)
    if caption:  # wrapped to the figure's width (about 14 characters an inch at 9 points)
        fig.supxlabel(textwrap.fill(caption, int(fig.get_figwidth() * 14)), fontsize=9, color="0.25")
    _legend(fig, axes)
    return fig


def _point(ax, x: float, value: float, floor: float, marker: str, **style) -> None:
    """A factor as a marker; one below the axis' floor as a ▼ at the floor with its value."""
    if not np.isfinite(value):
        return
    if value >= floor:
        ax.plot(x, value, marker, **style)
        return
    ax.plot(x, floor, "v", **{**style, "ms": style.get("ms", 7) * 0.8})
    ax.annotate(f"{value:.1g}", (x, floor), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7)


def jacobian_spectrum(summary: pd.DataFrame) -> Figure:
    """Per-step factors that explain the decay, one panel per mode with a state through time:
    the one-step Jacobian's singular values (bar: min to max, tick: median), e^λ of the top
    Lyapunov exponent, the per-step factor of ‖dh_T/dh_t‖ over lags 1-5 and the carry gate,
    at the initial weights (left, thin, hollow) and the last probed epoch (right, thick)."""
    s = summary.dropna(subset=["jac_sigma_max"])
    modes = list(dict.fromkeys(s["mode"])) or ["(none)"]
    colors = cell_colors(summary.cell.unique())
    fig, axes = subplots(1, len(modes), figsize=(1.6 * max(s.cell.nunique(), 2) * len(modes) + 4, 4.6),
                             squeeze=False, sharey=True, constrained_layout=True)
    # The axis shows factors down to FLOOR; a smaller σ_min (a direction one step all but
    # erases, as in an LSTM, whose h' is nearly a function of c') is written at the bottom.
    shown = pd.concat([s.jac_sigma_median, s.decay_factor, np.exp(s.lyapunov_top), s.carry,
                       s.decay_factor_first, np.exp(s.lyapunov_top_first)]).dropna()
    floor = 10 ** np.floor(np.log10(max(min(shown.min() / 3, 0.1), 1e-4))) if len(shown) else 0.01
    top = max(s.jac_sigma_max.max(), s.jac_sigma_max_first.max(), 1.0) * 1.6 if len(s) else 2.0
    for ax, mode in zip(axes[0], modes):
        t = s[s["mode"] == mode].sort_values("cell")
        for i, r in enumerate(t.itertuples()):
            c = colors[r.cell]
            if np.isfinite(r.jac_sigma_max_first):
                ax.plot([i - 0.2] * 2, [max(r.jac_sigma_min_first, floor), r.jac_sigma_max_first], color=c, lw=2,
                        alpha=0.45)
                _point(ax, i - 0.2, np.exp(r.lyapunov_top_first), floor, "o", color=c, mfc="white", ms=7)
                _point(ax, i - 0.2, r.decay_factor_first, floor, "D", color=c, mfc="white", ms=6)
            ax.plot([i + 0.2] * 2, [max(r.jac_sigma_min, floor), r.jac_sigma_max], color=c, lw=7, alpha=0.75)
            ax.plot(i + 0.2, r.jac_sigma_median, "_", color="black", ms=16, mew=2)
            _point(ax, i + 0.2, np.exp(r.lyapunov_top), floor, "o", color="black", mfc=c, ms=8)
            _point(ax, i + 0.2, r.decay_factor, floor, "D", color="black", mfc=c, ms=7)
            if np.isfinite(r.carry):
                ax.plot(i + 0.2, r.carry, "s", color="black", mfc="white", ms=7)
            if r.jac_sigma_min < floor:
                ax.annotate(f"σ_min\n{sigma_min_text(r.jac_sigma_min, r.jac_sigma_max)}", (i + 0.2, floor),
                            xytext=(0, 4),
                            textcoords="offset points", ha="center", va="bottom", fontsize=7,
                            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1})
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set_xticks(range(len(t)), list(t.cell))
        ax.set_xlim(-0.6, len(t) - 0.4)
        ax.set(yscale="log", title=mode, ylim=(floor, top))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes[0, 0].set_ylabel("factor per step back in time (log)\nabove 1: grows, below 1: shrinks")
    line = matplotlib.lines.Line2D
    handles = [line([], [], color="0.4", lw=7, alpha=0.75, label="singular values of dh_{t+1}/dh_t, min to max"),
               line([], [], color="black", marker="_", ls="", ms=16, mew=2, label="median singular value"),
               line([], [], color="black", marker="D", ls="", mfc="0.6", label="‖dh_T/dh_t‖ per step, lags 1-5"),
               line([], [], color="black", marker="o", ls="", mfc="0.6",
                    label="e^λ, top Lyapunov exponent\n(finite-time, most expanding direction)"),
               line([], [], color="black", marker="s", ls="", mfc="white", label="carry gate: share of old state kept"),
               line([], [], color="0.4", lw=2, alpha=0.45, marker="o", mfc="white",
                    label="left, thin, hollow: initial weights")]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=8)
    fig.suptitle("Why gradients vanish or not: one-step Jacobian spectrum and per-step factors\n"
                 "right of each cell: last probed epoch (mean over seeds; σ range over seeds)", fontsize=11)
    return fig


def weight_groups(gradients: pd.DataFrame) -> Figure:
    """Mean gradient norm per weight kind over training; encoder solid, decoder dashed."""
    modes = list(dict.fromkeys(gradients["mode"]))
    colors = cell_colors(gradients.cell.unique())
    g = gradients.copy()
    g["kind"] = g.group.str.split(".").str[-1]
    g["layer"] = g.group.str.split(".").str[0]
    fig, axes = subplots(len(modes), len(GROUP_KINDS), figsize=(15, 2.8 * len(modes)),
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


def predictions(preds: pd.DataFrame, points: int = 200) -> Figure:
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


def test_mae_bars(summary: pd.DataFrame) -> Figure:
    modes = list(dict.fromkeys(summary["mode"]))
    cells = sorted(summary.cell.unique())
    colors = cell_colors(cells)
    fig, ax = subplots(figsize=(2.2 * len(modes) + 3, 4), constrained_layout=True)
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


def decay_by_window(probes: pd.DataFrame) -> Figure:
    """dh_T/dh_t against lag at the last probed epoch, one panel per window length."""
    p = probes.dropna(subset=["dhT_dht"])
    p = p[p.epoch == p.groupby("run_id").epoch.transform("max")]
    windows = sorted(p.window.unique())
    colors = cell_colors(p.cell.unique())
    fig, axes = _panels(windows, height=4.0, sharey=True)
    for ax, window in zip(axes[0], windows):
        for cell, c in p[p.window == window].groupby("cell"):
            _band(ax, c, "lag", "dhT_dht", colors[cell], cell)
        ax.set(title=f"window {window}", xlabel="lag T − t (steps back)", yscale="log")
    axes[0, 0].set_ylabel("‖dh_T/dh_t‖ (Frobenius, mean over\nthe probe batch, log scale)")
    fig.suptitle("Gradients through time against lag, one panel per window: last probed epoch\n"
                 "(mean over seeds, band = min..max over seeds)")
    caption = _state_size_caption(p)
    if caption:
        fig.supxlabel(caption, fontsize=9, color="0.25")
    _legend(fig, axes)
    return fig


def _clip_label(value) -> str:
    return "no clipping" if value is None or (isinstance(value, float) and np.isnan(value)) else f"clipped at {value:g}"


def _groups(table: pd.DataFrame, column: str) -> tuple[list[str], list[tuple]]:
    """The settings besides clipping that split a clipping experiment, and their value combinations."""
    keys = ["cell", "mode"] + [c for c in ("window", "units", "learning_rate") if c in table.columns
                               and table[c].nunique() > 1]
    combos = sorted(dict.fromkeys(map(tuple, table[keys].itertuples(index=False))), key=lambda c: tuple(map(str, c)))
    return keys, combos


def _name(keys, combo) -> str:
    return " ".join(f"{k} {v}" if k not in ("cell", "mode") else str(v) for k, v in zip(keys, combo))


CLIP_STYLES = {False: ("tab:red", "--"), True: ("tab:blue", "-")}


def clipping(epochs: pd.DataFrame, column: str) -> Figure:
    """Loss and peak gradient norm per epoch, without clipping (red, dashed) and with (blue),
    one column per cell x mode x setting; × marks the epoch where a run diverged."""
    keys, combos = _groups(epochs, column)
    fig, axes = subplots(2, len(combos), figsize=(3.6 * len(combos) + 2, 6.4), squeeze=False,
                             constrained_layout=True, sharey="row")
    for col, combo in enumerate(combos):
        t = epochs[(epochs[keys] == pd.Series(combo, index=keys)).all(axis=1)]
        loss_ax, norm_ax = axes[0, col], axes[1, col]
        for clip, c in t.groupby(t[column].fillna(-1)):
            color, style = CLIP_STYLES[clip != -1]
            label = _clip_label(None if clip == -1 else clip)
            for i, (_, run) in enumerate(c.groupby("run_id")):
                good = run[np.isfinite(run.loss)]
                loss_ax.plot(good.epoch, good.loss, ls=style, color=color, lw=1.2, label=label if i == 0 else None)
                norm_ax.plot(run.epoch, run.grad_norm_max, ls=style, color=color, lw=1.2, marker="o", ms=3)
                bad = run[~np.isfinite(run.loss)]
                if len(bad):  # where a run diverged: its peak norm, then ×
                    norm_ax.plot(bad.epoch, bad.grad_norm_max, "x", color=color, ms=11, mew=2)
                    loss_ax.annotate("×", (bad.epoch.iloc[0], 1), xycoords=("data", "axes fraction"),
                                     color=color, ha="center", va="top", fontsize=16)
        for clip in t[column].dropna().unique():
            norm_ax.axhline(clip, color="black", lw=0.8, ls=":")
        loss_ax.set(yscale="log", title=_name(keys, combo))
        norm_ax.set(yscale="log", xlabel="epoch")
        norm_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        loss_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("training loss (log)")
    axes[1, 0].set_ylabel("largest gradient norm in the epoch,\nbefore clipping (log); dotted: clip norm")
    fig.suptitle("Clipping: every seed is a line; × at the top marks the epoch a run diverged (NaN), "
                 "× below its largest finite gradient norm")
    _legend(fig, axes)
    return fig


def explosion_by_lag(probes: pd.DataFrame, gradients: pd.DataFrame, column: str) -> Figure:
    """Where an explosion comes from: at the initial weights, ‖dh_T/dh_t‖ and RMS dL/dx_t
    against lag per mode and window (the control with no state through time dashed), and
    the recurrent kernel's share of the gradient norm per epoch."""
    first = probes[probes.epoch == probes.groupby("run_id").epoch.transform("min")]
    keys, combos = _groups(first.drop(columns=[column]), column)
    palette = colormaps["tab10"].colors
    fig, axes = subplots(1, 3, figsize=(17, 4.4), squeeze=False, constrained_layout=True)
    dh_ax, dl_ax, share_ax = axes[0]
    for i, combo in enumerate(combos):
        t = first[(first[keys] == pd.Series(combo, index=keys)).all(axis=1)]
        color, name = palette[i % len(palette)], _name(keys, combo)
        through_time = t.dhT_dht.notna().any()
        style = "-" if through_time else "--"
        if through_time:
            m = t.groupby("lag").dhT_dht.mean()
            dh_ax.plot(m.index, m.values, color=color, label=name)
        m = t.groupby("lag").dL_dx.mean().dropna()
        dl_ax.plot(m.index, m.values, color=color, ls=style, marker="o" if len(m) < 12 else None, ms=3,
                   label=name + ("" if through_time else " (no recurrence: input position)"))
    g = gradients.copy()
    g["kind"] = g.group.str.split(".").str[-1]
    gkeys = [k for k in keys if k in g.columns]
    for i, combo in enumerate(combos):
        t = g[(g[gkeys] == pd.Series(combo[: len(gkeys)], index=gkeys)).all(axis=1)]
        color = palette[i % len(palette)]
        for clip, c in t.groupby(t[column].fillna(-1)):
            per_epoch = c.groupby(["run_id", "epoch"])
            rec = np.sqrt(per_epoch.apply(lambda x: (x[x.kind == "recurrent_kernel"].norm_mean ** 2).sum()))
            total = np.sqrt(per_epoch.apply(lambda x: (x.norm_mean ** 2).sum()))
            share = (rec / total).groupby("epoch").mean()
            share_ax.plot(share.index, share.values, color=color, ls=CLIP_STYLES[clip != -1][1], marker="o",
                          ms=3 if clip != -1 else 7, mfc="white" if clip == -1 else color)
    dh_ax.set(yscale="log", xlabel="lag T − t", ylabel="‖dh_T/dh_t‖ (Frobenius, mean over probe batch, log)",
              title="Through-time Jacobian at the initial weights")
    dl_ax.set(yscale="log", xlabel="lag T − t (steps before the last input)",
              ylabel="RMS ‖dL/dx_t‖ over the probe batch (log)", title="Input gradient at the initial weights")
    share_ax.set(xlabel="epoch", ylabel="recurrent kernel's share of the gradient norm", ylim=(-0.03, 1.03),
                 title="Share of the gradient in the recurrent kernel\n(solid: clipped; dashed, hollow: not clipped)")
    share_ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.legend(*dl_ax.get_legend_handles_labels(), loc="outside right center", frameon=False, fontsize=8)
    fig.suptitle("Exploding gradients through time, at the initial weights (mean over seeds; the clipped and "
                 "unclipped runs of a seed start from the same weights)")
    fig.supxlabel("Lag T − t counts steps back from the last input. A control with no state through time reads "
                  "the window as one step: its lag axis is the position of the value in that step.",
                  fontsize=9, color="0.25")
    return fig


def params_vs_mae(summary: pd.DataFrame) -> Figure:
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
