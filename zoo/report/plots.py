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

from zoo.core.colors import cell_colors, cell_markers, figure_legend, marked  # noqa: F401 (the report's figures take them from here)


def save(figures: dict, out) -> list:
    """Each figure written as ``out / name`` (PNG at the report's resolution); their paths, in order."""
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
    return [out / name for name in figures]


def subplots(*args, figsize=None, dpi=None, constrained_layout=False, **kwargs):
    """``pyplot.subplots`` without pyplot: a ``Figure`` no backend manages, and its axes."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained" if constrained_layout else None)
    return fig, fig.subplots(*args, **kwargs)


MAX_COLUMNS = 4  # panels per line: more wrap onto further lines, so a figure keeps a readable shape


def panels(modes, rows: int = 1, height: float = 3.4, sharey: bool | str = False, width: float = 4.2,
           columns: int = MAX_COLUMNS):
    """A figure with a column of ``rows`` panels per mode (or per any value), and its axes (2-D).

    ``axes[row, i]`` is the ``row``-th panel of the ``i``-th value, as if side by side, but at
    most ``columns`` values stand on a line: more wrap onto further lines (each a block of
    ``rows`` rows), so 15 values make 4 lines of 4, not one strip 60 inches wide. ``sharey``
    True shares every panel's y axis, "row" each row's across its lines. ``legend`` repeats
    a row's y label at the start of each of its lines.
    """
    n = max(len(modes), 1)
    cols = min(n, max(columns, 1))
    lines = -(-n // cols)
    fig, grid = subplots(
        # At least 9 inches wide: one or two panels keep room for the figure's title and its legend.
        rows * lines, cols, figsize=(max(width * cols, 9.0), height * rows * lines), squeeze=False,
        constrained_layout=True,
    )
    axes = np.empty((rows, n), dtype=object)
    for i in range(n):
        for row in range(rows):
            axes[row, i] = grid[(i // cols) * rows + row, i % cols]
    used = {id(ax) for ax in axes.ravel()}
    for ax in grid.ravel():
        if id(ax) not in used:  # the rest of the last line
            ax.set_visible(False)
    if sharey:
        for row in range(rows):
            for ax in axes[row]:
                ref = axes[0, 0] if sharey is True else axes[row, 0]
                if ax is not ref:
                    ax.sharey(ref)
                if ax.get_subplotspec().colspan.start != 0:
                    ax.tick_params(axis="y", which="both", labelleft=False)
    return fig, axes


def legend(fig, axes) -> None:
    """One legend for the figure, outside the panels so it hides no data; on wrapped
    ``panels``, each row's y label also at the start of each of its lines."""
    axes = np.atleast_2d(np.asarray(axes, dtype=object))
    for row in axes:
        label = next((ax.get_ylabel() for ax in row if ax.get_ylabel()), "")
        for ax in row:
            if label and not ax.get_ylabel() and ax.get_subplotspec().colspan.start == 0 and ax.has_data():
                ax.set_ylabel(label)
    figure_legend(fig, axes, frameon=False)


def _seeds_per_line(table: pd.DataFrame, by) -> pd.Series | None:
    """The number of seeds behind each line (one per ``by`` group), or None without seeds."""
    keys = [k for k in by if k in table.columns]
    if table.empty or "seed" not in table.columns:
        return None
    return table.groupby(keys).seed.nunique() if keys else pd.Series([table.seed.nunique()])


def _mean_over(seeds: pd.Series) -> str:
    return f"mean over {seeds.max()} seeds" if seeds.min() == seeds.max() else "mean over seeds"


def spread_note(table: pd.DataFrame, kind: str, spread: str, by=("cell", "mode")) -> str:
    """What a figure's lines or bars are over seeds, for its title: ``mean over N seeds,
    <kind> = <spread>``, or ``one seed: no <kind>`` where no line has more than one seed
    (so no title promises a band or interval that one seed cannot give); a line of one
    seed among several is said to have none."""
    seeds = _seeds_per_line(table, by)
    if seeds is None:
        return ""
    if seeds.max() <= 1:
        return f"one seed: no {kind}"
    return f"{_mean_over(seeds)}, {kind} = {spread}" + (" (none on a line of one seed)" if seeds.min() <= 1 else "")


def seeds_note(table: pd.DataFrame, by=("cell", "mode")) -> str:
    """What a figure's lines (no band) are over seeds, counted per line, for its title:
    ``mean over N seeds``, ``one seed``, or ``mean over seeds (one on some lines)``."""
    seeds = _seeds_per_line(table, by)
    return "" if seeds is None else seeds_over(seeds)


def seeds_over(seeds: pd.Series) -> str:
    """``seeds_note`` from the number of seeds behind each line or marker."""
    if seeds.empty or seeds.max() <= 1:
        return "one seed"
    return _mean_over(seeds) + (" (one on some lines)" if seeds.min() <= 1 else "")


def plain_log_ticks(axis) -> None:
    """A log axis labelled in plain numbers (0.02, 0.3), its minor ticks too, so a point below the
    lowest power of ten still has a labelled tick near it; not 2×10⁻² mathtext."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_locator(LogLocator(base=10))
    axis.set_minor_locator(LogLocator(base=10, subs=(2, 3, 5)))
    axis.set_major_formatter(plain)
    axis.set_minor_formatter(plain)


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


def band(ax, table: pd.DataFrame, x: str, y: str, color, label: str, marker: str | None = None) -> None:
    """Mean over seeds as a line (with the cell's ``marker``, if any: ``cell_markers``), min..max over
    seeds as a band."""
    g = table.groupby(x)[y]
    mean, low, high = g.mean(), g.min(), g.max()
    ax.plot(mean.index, mean.values, color=color, label=label, lw=1.6, **marked(marker, mean.values))
    if table.seed.nunique() > 1:
        ax.fill_between(mean.index, low.values, high.values, color=color, alpha=0.2, lw=0)
