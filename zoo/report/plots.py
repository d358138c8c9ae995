"""What every figure of the report shares: a figure with no backend, panels
side by side, one legend outside them, a mean-and-range band, log axes that
survive empty data, and saving. The figures themselves live beside this
module: ``training_plots`` (how training went), ``through_time_plots``
(gradients through time), ``clipping_plots`` (the clipping experiment),
``memory_plots`` and ``horizon_plots``. A cell has the same colour in every
figure (``cell_colors``).

Figures are built with matplotlib's ``Figure`` API, not pyplot: importing
the report selects no backend and registers no figure with pyplot, so a
notebook's own backend stays as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zoo.core.colors import cell_colors, figure_legend  # noqa: F401 (the report's figures take cell_colors from here)


def save(figures: dict, out) -> list:
    """Each figure written as ``out / name`` (PNG at the report's resolution); their paths, in order."""
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
    return [out / name for name in figures]


def subplots(*args, figsize=None, dpi=None, constrained_layout=False, **kwargs):
    """``pyplot.subplots`` without pyplot: a ``Figure`` no backend manages, and its axes."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained" if constrained_layout else None)
    return fig, fig.subplots(*args, **kwargs)


def panels(modes, rows: int = 1, height: float = 3.4, sharey: bool | str = False):
    """A figure with a column of ``rows`` panels per mode (or per any value), and its axes (2-D)."""
    fig, axes = subplots(
        # At least 9 inches wide: one or two panels keep room for the figure's title and its legend.
        rows, len(modes), figsize=(max(4.2 * len(modes), 9.0), height * rows), squeeze=False, sharey=sharey,
        constrained_layout=True,
    )
    return fig, axes


def legend(fig, axes) -> None:
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


def band(ax, table: pd.DataFrame, x: str, y: str, color, label: str) -> None:
    """Mean over seeds as a line, min..max over seeds as a band."""
    g = table.groupby(x)[y]
    mean, low, high = g.mean(), g.min(), g.max()
    ax.plot(mean.index, mean.values, color=color, label=label, lw=1.6)
    if table.seed.nunique() > 1:
        ax.fill_between(mean.index, low.values, high.values, color=color, alpha=0.2, lw=0)
