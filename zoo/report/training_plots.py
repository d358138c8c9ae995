"""Figures of how training went and what it reached: loss and gradient norm per
epoch, the gradient per weight group, the forecast against the truth, the test
error per cell and mode, and the test error against the parameter count.
Each takes tables (``zoo.report.tables``) and returns a Figure.
"""

from __future__ import annotations

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zoo.core.specs import canonical_loss
from zoo.report.plots import band, cell_colors, cell_markers, legend, panels, plain_log_ticks, spread_note, subplots


def epoch_ticks() -> matplotlib.ticker.MaxNLocator:
    """An epoch axis' ticks: whole epochs only (a run of 4 epochs has no epoch 2.5)."""
    return matplotlib.ticker.MaxNLocator(integer=True)


# How a loss is named on an axis (train.loss: zoo.core.specs.TASK_LOSSES; a user's fit may name its own).
LOSS_NAMES = {"mae": "MAE", "mse": "MSE", "cross_entropy": "cross-entropy"}


def loss_curves(epochs: pd.DataFrame, losses=()) -> Figure:
    """Training loss by epoch, a panel per mode; ``losses``: the loss names the runs trained with."""
    modes = list(dict.fromkeys(epochs["mode"]))
    colors, markers = cell_colors(epochs.cell.unique()), cell_markers(epochs.cell.unique())
    fig, axes = panels(modes, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for cell, t in epochs[epochs["mode"] == mode].groupby("cell"):
            band(ax, t, "epoch", "loss", colors[cell], cell, markers[cell])
        ax.set(title=mode, xlabel="epoch", yscale="log")
        ax.xaxis.set_major_locator(epoch_ticks())
    names = list(dict.fromkeys(LOSS_NAMES.get(canonical_loss(name), str(name)) for name in losses if name))
    axes[0, 0].set_ylabel(f"training loss ({names[0]}, log scale)" if len(names) == 1 else
                          f"training loss (each task's own: {', '.join(names)}; log scale)" if names else
                          "training loss (log scale)")
    fig.suptitle(f"Training loss ({spread_note(epochs, 'band', 'min..max over seeds')})")
    legend(fig, axes)
    return fig


def gradient_norms(epochs: pd.DataFrame) -> Figure:
    modes = list(dict.fromkeys(epochs["mode"]))
    colors, markers = cell_colors(epochs.cell.unique()), cell_markers(epochs.cell.unique())
    fig, axes = panels(modes, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for cell, t in epochs[epochs["mode"] == mode].groupby("cell"):
            band(ax, t, "epoch", "grad_norm_mean", colors[cell], cell, markers[cell])
            peak = t.groupby("epoch").grad_norm_max.max()
            ax.plot(peak.index, peak.values, color=colors[cell], lw=0.7, ls=":", alpha=0.8)
        ax.set(title=mode, xlabel="epoch", yscale="log")
        ax.xaxis.set_major_locator(epoch_ticks())
    axes[0, 0].set_ylabel("global gradient norm (log scale)")
    fig.suptitle("Gradient norm before clipping: epoch mean (solid), epoch peak (dotted)\n"
                 f"({spread_note(epochs, 'band', 'min..max of the epoch mean over seeds')})")
    legend(fig, axes)
    return fig


GROUP_KINDS = ("input_kernel", "recurrent_kernel", "bias", "head")
# The recurrent_kernel group holds every weight the recurrence runs through (the LRU's ν and θ too).
KIND_TITLES = {"recurrent_kernel": "recurrent weights"}


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
            ax.set_title(f"{mode}: {KIND_TITLES.get(kind, kind.replace('_', ' '))}")
            if (t.norm_mean > 0).any():
                ax.set_yscale("log")
                # A log axis drops a line of zeros: say whose they are, or the panel reads as theirs alone.
                zero = sorted(c for c, n in t.groupby("cell").norm_mean if (n == 0).all())
                if zero:
                    who = f"{len(zero)} cells" if len(zero) > 3 else ", ".join(zero)
                    ax.text(0.02, 0.03, f"exactly 0 (off the log axis): {who}", transform=ax.transAxes,
                            fontsize=7.5, color="0.35", va="bottom")
            elif not t.empty:
                ax.text(0.5, 0.5, "exactly zero: one step\nfrom a zero state never\nuses this kernel",
                        ha="center", va="center", transform=ax.transAxes, color="0.4")
            if col == 0:
                ax.set_ylabel("gradient norm (log)")
            if row == len(modes) - 1:
                ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(epoch_ticks())
    decoders = sorted(set(g[g.layer == "decoder"]["mode"]))
    fig.suptitle("Gradient norm per weight group (epoch mean"
                 + (f"; {', '.join(decoders)}: encoder solid, decoder dashed)" if decoders else ")"))
    legend(fig, axes)
    return fig


def predictions(preds: pd.DataFrame, points: int = 200) -> Figure:
    """Truth and each cell's next-value prediction (first seed), and the error below.

    At this scale the predictions lie on the truth, so the error row is where
    the cells differ.
    """
    modes = list(dict.fromkeys(preds["mode"]))
    colors = cell_colors(preds.cell.unique())
    fig, axes = panels(modes, rows=2, height=2.6)
    for col, mode in enumerate(modes):
        top, bottom = axes[0, col], axes[1, col]
        t = preds[(preds["mode"] == mode) & (preds.offset == 1)]
        truth = t.drop_duplicates("index").sort_values("index").head(points)
        for cell, c in t.groupby("cell"):
            c = c[c.seed == c.seed.min()].sort_values("index").head(points)
            top.plot(c["index"], c.prediction, color=colors[cell], lw=1.0, label=cell)
            bottom.plot(c["index"], c.prediction - c.truth, color=colors[cell], lw=1.0)
        # Over the predictions, dotted: under 15 lines a pale truth could not be seen.
        top.plot(truth["index"], truth.truth, color="black", lw=1.6, ls=":", label="truth", zorder=5)
        bottom.axhline(0, color="black", lw=0.6)
        top.set(title=mode, ylim=(-1.25, 1.25))
        bottom.set(xlabel="test series index")
    axes[0, 0].set_ylabel("sin(t), next-value\nprediction")
    axes[1, 0].set_ylabel("prediction − truth")
    length = preds[preds.offset == 1]["index"].nunique()
    shown = f"first {points} of {length} points, first seed" if length > points else "first seed"
    fig.suptitle(f"Next-value predictions on the test series ({shown}; truth dotted)")
    legend(fig, axes)
    return fig


def _interval_title(summary: pd.DataFrame, what: str) -> str:
    """``what`` and the interval its error bars show, or that there is none: one seed gives no interval."""
    finite = summary.test_mae_ci95.notna() if "test_mae_ci95" in summary else pd.Series(False, index=summary.index)
    if not finite.any():
        # one seed per bar, or several of which at most one finished ok (the rest diverged or failed)
        one_seed = "seeds" not in summary or (summary["seeds"].fillna(0) <= 1).all()
        return f"{what} ({'one seed' if one_seed else 'at most one ok run per bar'}: no interval)"
    return f"{what} (mean over seeds, error bars: 95% t-interval" + (")" if finite.all() else "; none for one ok run)")


def _error_bars(ax, x, y, err) -> None:
    """Error bars where there is an interval; none (not a bar of zero height) where there is not."""
    x, y, err = np.asarray(x, float), np.asarray(y, float), np.asarray(err, float)
    keep = np.isfinite(err) & np.isfinite(y)
    if keep.any():
        ax.errorbar(x[keep], y[keep], yerr=err[keep], fmt="none", ecolor="black", elinewidth=1, capsize=3)


def test_mae_points(summary: pd.DataFrame) -> Figure:
    """Test MAE per cell and mode as points on a log axis. Not bars: a bar on a log axis starts at
    wherever the axis happens to end, so its height (0.14 against 0.18 drawn as 1 against 10) misleads."""
    modes = list(dict.fromkeys(summary["mode"]))
    cells = sorted(summary.cell.unique())
    colors = cell_colors(cells)
    fig, ax = subplots(figsize=(2.2 * len(modes) + 3, 4), constrained_layout=True)
    width = 0.8 / len(cells)
    for i, cell in enumerate(cells):
        t = summary[summary.cell == cell].set_index("mode").reindex(modes)
        x = np.arange(len(modes)) + (i - (len(cells) - 1) / 2) * width
        ax.plot(x, t.test_mae, "o", markersize=7, color=colors[cell], label=cell)
        if "test_mae_ci95" in t:
            _error_bars(ax, x, t.test_mae, t.test_mae_ci95)
    ax.set_xticks(np.arange(len(modes)), modes)
    ax.set_xlim(-0.5, len(modes) - 0.5)
    ax.grid(axis="y", which="both", alpha=0.25)
    ax.set(yscale="log", xlabel="mode (a dot per cell, in the legend's order)", ylabel="test MAE (log scale)",
           title=_interval_title(summary, "Test MAE per cell and mode"))
    plain_log_ticks(ax.yaxis)
    fig.legend(loc="outside right center", frameon=False)
    return fig


def params_vs_mae(summary: pd.DataFrame) -> Figure:
    """Test MAE against parameter count: equal units (circles) and equal budget (squares)."""
    modes = list(dict.fromkeys(summary["mode"]))
    colors = cell_colors(summary.cell.unique())
    common_units = summary.units.mode().iloc[0]
    fig, axes = panels(modes, sharey=True)
    for ax, mode in zip(axes[0], modes):
        for r in summary[summary["mode"] == mode].itertuples():
            equal_units = r.units == common_units
            ax.errorbar(r.params, r.test_mae, yerr=None if np.isnan(r.test_mae_ci95) else r.test_mae_ci95,
                        marker="o" if equal_units else "s", color=colors[r.cell], capsize=3,
                        label=f"{r.cell} ({'equal units' if equal_units else 'equal parameters'})")
        ax.set(title=mode, xlabel="parameters", yscale="log")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
    axes[0, 0].set_ylabel("test MAE (log scale)")
    fig.suptitle(_interval_title(summary, f"Equal units ({common_units}, circles) against an equal parameter "
                                          "budget (squares)"))
    legend(fig, axes)
    return fig
