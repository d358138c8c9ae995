"""What every figure shares, the report's and the probes' own: a colour per cell, one legend."""

from __future__ import annotations

import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

import matplotlib.colors
import numpy as np
from matplotlib import colormaps

# The cells of the report being drawn (``shared_cells``): every figure drawn meanwhile takes
# its colours from the assignment over all of them, not over the cells it happens to show.
_SHARED: ContextVar[frozenset[str]] = ContextVar("rnn_zoo_shared_cells", default=frozenset())


@contextmanager
def shared_cells(cells):
    """Within this block every figure colours its cells from one assignment over ``cells``
    (all the cells of a report), so a cell has the same colour in every figure of it, even
    in one that shows only some cells (the gated ones, one mode's). Blocks nest: the inner
    one adds its cells to the outer's."""
    token = _SHARED.set(_SHARED.get() | frozenset(map(str, cells)))
    try:
        yield
    finally:
        _SHARED.reset(token)


def cell_colors(cells) -> dict[str, tuple]:
    """A colour per cell, from its name and the cells drawn beside it.

    The name's hash picks a colour of the palette; a clash moves to the next
    free colour. More than ten cells take tab10 and strong colours unlike it
    (``_palette``), so none repeats up to twenty.
    The assignment is over ``cells`` and, inside ``shared_cells``, every cell
    of the report: the report draws all its figures inside one such block, so
    each cell keeps one colour in all of them. The result has a colour for
    each cell of that whole set.
    """
    return dict(_assign(frozenset(map(str, cells)) | _SHARED.get()))


# Beyond ten cells: tab10's colours, then strong ones unlike them. Not tab20, whose second ten are
# paler twins of the first (a light and a dark blue, a light and a dark red), which a reader of 15
# cells' lines cannot tell apart. The first five (black, navy, maroon, teal, magenta) serve up to 15.
EXTRA = ("#000000", "#000075", "#800000", "#469990", "#f032e6",
         "#c8a000", "#006400", "#4b0082", "#fa8072", "#708090")


def _palette(count: int) -> list[tuple]:
    """tab10 for up to ten cells; tab10 and ``EXTRA`` for more (15 colours up to 15 cells, else 20)."""
    base = list(colormaps["tab10"].colors)
    if count <= 10:
        return base
    extra = [matplotlib.colors.to_rgb(c) for c in EXTRA]
    return base + extra[: 5 if count <= 15 else len(extra)]


@lru_cache(maxsize=64)
def _assign(names: frozenset[str]) -> tuple[tuple[str, tuple], ...]:
    palette = _palette(len(names))
    colors, used = [], set()
    for name in sorted(names):
        i = int(zlib.crc32(name.encode())) % len(palette)
        for _ in range(len(palette)):
            if i not in used:
                break
            i = (i + 1) % len(palette)
        used.add(i)
        colors.append((name, palette[i]))
    return tuple(colors)


# Beyond ten cells colour alone no longer tells every pair apart at a glance (tab10's brown beside
# maroon, its cyan beside teal): each cell also gets a marker shape, so a line and its legend entry
# match by shape too. Up to ten cells their colours suffice, and markers would only clutter.
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")


def cell_markers(cells) -> dict[str, str | None]:
    """A marker per cell (None up to ten cells), from the same set of cells as ``cell_colors``: by
    name over ``cells`` and, inside ``shared_cells``, every cell of the report, so a cell keeps its
    marker in every figure."""
    names = sorted(frozenset(map(str, cells)) | _SHARED.get())
    if len(names) <= 10:
        return {name: None for name in names}
    return {name: MARKERS[i % len(MARKERS)] for i, name in enumerate(names)}


def marked(marker: str | None, values) -> dict:
    """``Axes.plot`` keywords for a cell's ``marker`` on a line through ``values`` (its y): spaced a
    tenth of the panel apart (however many points the line has), each shape's started a little later,
    so markers of lines that run together do not stack; nothing where the cell has no marker. A line
    of fewer than two finite points marks each (matplotlib cannot space markers along no length, and a
    lone point is drawn by its marker alone)."""
    if marker is None:
        return {}
    if np.isfinite(np.asarray(values, dtype=float)).sum() < 2:
        return {"marker": marker, "ms": 4}
    return {"marker": marker, "ms": 4, "markevery": ((MARKERS.index(marker) % 5) * 0.02, 0.1)}


def figure_legend(fig, axes, loc: str = "outside right center", **kwargs) -> None:
    """One legend for the figure, beside its panels so it hides no data: each label once, from every panel."""
    handles = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    # The report's cells in one order in every legend (by name, after any other entry such as
    # "truth"), not in the order the panels first draw them: a cell absent from the first panel
    # (the LRU has no input kernel) would otherwise move to the end of that figure's legend.
    cells = _SHARED.get()
    handles = dict(sorted(handles.items(), key=lambda item: (item[0] in cells, item[0] if item[0] in cells else "")))
    if handles:
        fig.legend(list(handles.values()), list(handles), loc=loc, **kwargs)
