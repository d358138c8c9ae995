"""The horizon section's figures: the solve rate against length per cell (at its
best learning rate), and the per-step gradient factor against the horizon
across cells. The numbers are ``horizon``'s."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zoo.report.horizon import lr_text
from zoo.report.memory_plots import length_axis, line_styles
from zoo.report.plots import cell_colors, subplots


def solve_rate_plot(at: pd.DataFrame, best: pd.DataFrame, cells: list[str], task: str) -> Figure:
    """Share of seeds solved against length per cell (at its best learning rate), Wilson 95% bands."""
    colors, styles = cell_colors(cells), line_styles(cells)
    lengths = sorted(at.length.unique())
    fig, ax = subplots(figsize=(8.5, 4.6), constrained_layout=True)
    spread = {c: (i - (len(cells) - 1) / 2) * 0.02 for i, c in enumerate(cells)}  # dodge, in log-x units
    for cell in cells:
        lr = best.set_index("cell").best_lr.get(cell)
        g = at[(at.cell == cell) & (at.lr == lr)].sort_values("length")
        if g.empty:
            continue
        x = g.length * 10 ** spread[cell]
        st = styles[cell]
        ax.plot(x, g.solved / g.seeds, color=colors[cell], lw=st["lw"] * 0.7, ls=st["ls"], marker=st["marker"],
                ms=6, mfc="white", label=f"{cell} (lr {lr_text(lr)})")
        ax.fill_between(x, g.wilson_low, g.wilson_high, color=colors[cell], alpha=0.10, lw=0)
    ax.axhline(0.5, color="black", lw=0.8, ls=":")
    ax.annotate("majority: above this line", (0.01, 0.5), xycoords=("axes fraction", "data"), xytext=(0, 3),
                textcoords="offset points", fontsize=8)
    ax.set(ylim=(-0.03, 1.03), ylabel="share of seeds that solved",
           title=f"{task}: solve rate against length (line: k/n seeds; band: Wilson 95% interval)")
    length_axis(ax, lengths)
    fig.legend(loc="outside right center", frameon=False)
    return fig


def gradient_horizon_plot(summary: pd.DataFrame, task: str) -> Figure:
    """Across cells: the per-step factor of ‖dh_T/dh_1‖ at initialisation and after training
    against the horizon, one point per cell."""
    cells = list(summary.cell)
    colors = cell_colors(cells)
    fig, axes = subplots(1, 2, figsize=(10.5, 4.2), sharey=True, constrained_layout=True)
    for ax, column, title in ((axes[0], "factor_init", "at initialisation"),
                              (axes[1], "factor_end", "after training")):
        # Cells at one horizon share a row: a point that lies under the row's previous label joins it
        # (one label, names in x order), so no two names overlap. A character of the 8-point label is
        # about 2% of the data's x range on this axis (its 18% margins included).
        ys = summary.reach.where(summary.reach > 0, summary.floor.iloc[0])
        for i, r in summary.iterrows():
            ax.scatter([r[column]], [ys[i]], color=colors[r.cell], s=60, zorder=3,
                       marker="o" if r.reach > 0 else "v", edgecolors="black", linewidths=0.5)
        xs = summary[column].astype(float)
        char = 0.02 * (np.nanmax(xs) - np.nanmin(xs)) if xs.notna().any() else 0.0
        for y, row in summary.assign(x=xs, y=ys).dropna(subset=["x"]).sort_values("x").groupby("y"):
            groups = [[row.iloc[0]]]
            for _, r in row.iloc[1:].iterrows():
                label = ", ".join(c.cell for c in groups[-1])
                (groups[-1].append(r) if r.x <= groups[-1][0].x + char * (len(label) + 2) else groups.append([r]))
            for g in groups:
                ax.annotate(", ".join(r.cell for r in g), (g[0].x, y), xytext=(4, 4), textcoords="offset points",
                            fontsize=8)
        ax.axvline(1.0, color="0.5", lw=0.8, ls="--")
        ax.margins(x=0.18)
        ax.set(xlabel=f"per-step factor of ‖dh_T/dh_1‖, {title}\n((T−1)-th root, geometric mean over its runs)",
               title=title)
    ticks = sorted({r if r > 0 else summary.floor.iloc[0] for r in summary.reach})
    axes[0].set_yscale("log")
    axes[0].set_yticks(ticks, [("none" if t == summary.floor.iloc[0] else f"{t:g}") for t in ticks])
    axes[0].minorticks_off()
    axes[0].set_ylim(ticks[0] / 1.3, ticks[-1] * 1.3)
    axes[0].set_ylabel("horizon (longest length a majority solved)\n▼ none: no length solved")
    fig.suptitle(f"{task}: does the gradient through time predict the horizon?")
    return fig
