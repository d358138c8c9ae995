"""What every figure shares, the report's and the probes' own: a colour per cell, one legend."""

from __future__ import annotations

import zlib

import numpy as np
from matplotlib import colormaps


def cell_colors(cells) -> dict[str, tuple]:
    """A colour per cell that depends on its name alone, so every figure agrees.

    The name's hash picks a colour of the palette; a clash within one figure
    moves to the next free colour. A figure of more than ten cells (the whole
    registry) takes its colours from a palette of twenty, so none repeats.
    """
    palette = colormaps["tab10" if len(set(cells)) <= 10 else "tab20"].colors
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


def figure_legend(fig, axes, loc: str = "outside right center", **kwargs) -> None:
    """One legend for the figure, beside its panels so it hides no data: each label once, from every panel."""
    handles = {}
    for ax in np.ravel(axes):
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc=loc, **kwargs)
