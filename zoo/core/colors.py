"""What every figure shares, the report's and the probes' own: a colour per cell, one legend."""

from __future__ import annotations

import zlib
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

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
    free colour. More than ten cells take a palette of twenty, so none repeats.
    The assignment is over ``cells`` and, inside ``shared_cells``, every cell
    of the report: the report draws all its figures inside one such block, so
    each cell keeps one colour in all of them. The result has a colour for
    each cell of that whole set.
    """
    return dict(_assign(frozenset(map(str, cells)) | _SHARED.get()))


@lru_cache(maxsize=64)
def _assign(names: frozenset[str]) -> tuple[tuple[str, tuple], ...]:
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"].colors
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


def figure_legend(fig, axes, loc: str = "outside right center", **kwargs) -> None:
    """One legend for the figure, beside its panels so it hides no data: each label once, from every panel."""
    handles = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc=loc, **kwargs)
