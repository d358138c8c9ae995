"""The memory section's figures: the ratio to the memoryless baseline and ‖dh_T/dh_1‖ against
length, and the learning curves at the longest length, a line per cell (``memory.cell_order``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.report.memory import cell_order, log_mean
from zoo.report.plots import Figure, cell_colors, subplots


def length_axis(ax, lengths) -> None:
    ax.set_xscale("log")
    ax.set_xticks(lengths, [str(v) for v in lengths])
    ax.minorticks_off()
    ax.set_xlabel("task length (log scale)")
    if len(lengths) == 1:  # one length: a factor of 2 either side, not the cells' dodge stretched edge to edge
        ax.set_xlim(lengths[0] / 2, lengths[0] * 2)


CLIP = 100.0  # ratios above this (a run whose output exploded) are drawn at the edge, so the rest stay readable
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "D", "P", "X", "h")  # not ^ or v: those mark a value clipped at an edge


def line_styles(cells: list[str]) -> dict[str, dict]:
    """A line style, marker and width per cell, so lines that coincide stay visible:
    the first cell's line is the widest, each later one narrower and dashed
    differently, so a line lying exactly on another shows inside it."""
    widths = np.linspace(3.2, 1.4, max(len(cells), 2))
    return {c: {"ls": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)], "lw": float(widths[i]),
                "order": i} for i, c in enumerate(cells)}


def _clipped(ax, xs, values, color) -> None:
    """Values above ``CLIP`` as a ▲ at the edge with the value written beside it."""
    for x, v in zip(xs, values):
        if np.isfinite(v) and v > CLIP:
            ax.scatter([x], [CLIP], color=color, marker="^", s=70, zorder=5, edgecolors="black", linewidths=0.6)
            ax.annotate(f"{v:.2g}".replace("e+0", "e").replace("e+", "e"), (x, CLIP), xytext=(-7, -4),
                        textcoords="offset points", fontsize=8, ha="right", va="top", color=color, fontweight="bold",
                        bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1})


def _seeds(ax, xs, ratios, color) -> None:
    """Each seed's ratio as a dot; one above ``CLIP`` as a triangle at the edge."""
    xs, ratios = np.asarray(xs, float), np.asarray(ratios, float)
    high = ratios > CLIP
    ax.scatter(xs[~high], ratios[~high], color=color, s=12, alpha=0.6, zorder=3)
    if high.any():
        ax.scatter(xs[high], np.full(high.sum(), CLIP), color=color, marker="^", s=40, zorder=4)


def ratio_plot(frame: pd.DataFrame, task: str) -> Figure:
    """Final test loss over the memoryless baseline against length, per cell."""
    cells, lengths = cell_order(frame), sorted(frame.length.unique())
    colors = cell_colors(cells)
    threshold = frame.solved_below.iloc[0]
    fig, ax = subplots(figsize=(8, 4.6), constrained_layout=True)
    spread = {c: (i - (len(cells) - 1) / 2) * 0.025 for i, c in enumerate(cells)}  # dodge, in log-x units
    styles = line_styles(cells)
    for cell in cells:
        g = frame[frame.cell == cell]
        x_of = {length: length * 10 ** spread[cell] for length in lengths}
        raw = g.groupby("length").ratio.agg([log_mean, "min", "max"]).reindex(lengths)
        stats = raw.clip(upper=CLIP)
        xs = [x_of[v] for v in stats.index]
        st = styles[cell]
        ax.plot(xs, stats["log_mean"], color=colors[cell], lw=st["lw"] * 0.7, ls=st["ls"], marker=st["marker"],
                ms=6, mfc="white", label=cell)
        _clipped(ax, xs, raw["log_mean"], colors[cell])  # a clipped mean: ▲ with its value
        if g.seed.nunique() > 1:
            ax.fill_between(xs, stats["min"], stats["max"], color=colors[cell], alpha=0.15, lw=0)
        _seeds(ax, [x_of[v] for v in g.length], g.ratio, colors[cell])
    ax.axhline(1.0, color="black", lw=1.0, ls="--")
    ax.axhline(threshold, color="tab:green", lw=1.0, ls=":")
    ax.annotate("memoryless baseline (1)", (0.01, 1.0), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize=8)
    ax.annotate(f"solved below {threshold:g}", (0.01, threshold), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize=8, color="tab:green")
    metric = frame.metric.iloc[0].removeprefix("test_")
    clipped = (frame.ratio > CLIP).any()  # a seed above CLIP (and so any mean above it)
    ax.set(yscale="log", ylabel=f"final test {'cross-entropy' if metric == 'ce' else metric.upper()} / baseline (log)",
           title=f"{task}: final test loss over the memoryless baseline\n"
                 + (", ".join([f"{'line' if len(lengths) > 1 else 'hollow marker'}: geometric mean over seeds",
                               *(["band: min..max"] if len(lengths) > 1 else []),
                               "dots: seeds"])
                    if frame.seed.nunique() > 1 else "one seed: each point is its run")
                 + "; each cell nudged sideways, so none hides another"
                 + (f"\n▲ at the edge: above {CLIP:g} (an output exploded); outlined ▲: a mean, with its value"
                    if clipped else ""))
    length_axis(ax, lengths)
    fig.legend(loc="outside right center", frameon=False)
    return fig


def gradient_plot(frame: pd.DataFrame, task: str) -> Figure:
    """‖dh_T/dh_1‖ at initialisation and at the end against length; solved runs filled."""
    cells, lengths = cell_order(frame), sorted(frame.length.unique())
    colors = cell_colors(cells)
    fig, axes = subplots(1, 2, figsize=(11, 4.4), sharey=True, constrained_layout=True)
    spread = {c: (i - (len(cells) - 1) / 2) * 0.025 for i, c in enumerate(cells)}
    floor = 1e-45
    for ax, column, title in ((axes[0], "dh_init", "at initialisation (before the first step)"),
                              (axes[1], "dh_end", "at the end (last probed epoch)")):
        for cell in cells:
            g = frame[frame.cell == cell]
            x = g.length * 10 ** spread[cell]
            y = g[column].clip(lower=floor)
            st = line_styles(cells)[cell]
            ax.plot(sorted(set(x)), g.groupby("length")[column].apply(log_mean).clip(lower=floor).values,
                    color=colors[cell], lw=st["lw"] * 0.6, ls=st["ls"], alpha=0.8, label=cell)
            ok = g.solved.to_numpy()
            ax.scatter(x[ok], y[ok], color=colors[cell], s=28, zorder=3)
            ax.scatter(x[~ok], y[~ok], facecolors="white", edgecolors=colors[cell], s=28, zorder=3)
        ax.set(yscale="log", title=title)
        length_axis(ax, lengths)
    axes[0].set_ylabel("‖dh_T/dh_1‖ (log)\nwhole state, mean over the probe batch")
    axes[0].scatter([], [], color="0.3", s=28, label="solved run")
    axes[0].scatter([], [], facecolors="white", edgecolors="0.3", s=28, label="failed run")
    fig.suptitle(f"{task}: the gradient from the answer back to the first step, against the outcome")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", frameon=False)
    return fig


def curves_plot(curves: pd.DataFrame, frame: pd.DataFrame, task: str, length: int) -> Figure:
    """Test loss over baseline against optimizer steps at one length, per cell (thin: each seed)."""
    cells = cell_order(frame)
    colors = cell_colors(cells)
    fig, ax = subplots(figsize=(8, 4.4), constrained_layout=True)
    styles = line_styles(cells)
    highest = curves.test_ratio.max() if len(curves) else math.nan
    for cell in cells:
        c = curves[curves.cell == cell]
        st = styles[cell]
        for _, run in c.groupby("run_id"):
            ax.plot(run.step, run.test_ratio.clip(upper=CLIP), color=colors[cell], lw=0.7, alpha=0.45, ls=st["ls"])
        raw = c.groupby("step").test_ratio.apply(log_mean)
        mean = raw.clip(upper=CLIP)
        # Lines that coincide (two cells stuck at the baseline) stay visible: widths, dashes and markers differ.
        every = max(1, len(mean) // 8)  # markers staggered by cell, so they do not sit on each other
        ax.plot(mean.index, mean.values, color=colors[cell], lw=st["lw"], ls=st["ls"], marker=st["marker"],
                ms=5, mfc="white", markevery=((st["order"] * every) // len(cells), every), label=cell)
        _clipped(ax, mean.index[raw > CLIP][-1:], raw[raw > CLIP][-1:], colors[cell])
    ax.axhline(1.0, color="black", lw=1.0, ls="--", label="memoryless baseline", zorder=1.5)
    ax.axhline(frame.solved_below.iloc[0], color="tab:green", lw=1.0, ls=":", label="solved threshold")
    ax.set(yscale="log", xlabel="optimizer steps", ylabel="test loss / baseline (log)",
           title=f"{task}, length {length}: test loss over the baseline during training\n"
                 "thick: geometric mean over seeds, thin: each seed"
                 + (f"\nvalues above {CLIP:g} cut at the edge (highest {highest:.2g}; "
                    "outlined ▲: a mean's last cut value)" if highest > CLIP else ""))
    fig.legend(loc="outside right center", frameon=False)
    return fig
