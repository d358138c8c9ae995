"""The sine task of the seed post: series and windows per mode. Pure, no I/O.

The seed predicts the 6th sine value from the 5 before it. A window is always
``w`` consecutive values; modes differ in how it is fed (one step of ``w``
features, or ``w`` steps of one value) and in the target:

- ``next``: the value right after the window (offset 1);
- ``horizon``: the ``h`` values after the window (offsets 1..h);
- ``synced``: the value after each step of the window (offsets 2-w..1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TARGETS = ("next", "horizon", "synced")
LAYOUTS = ("one", "many")


@dataclass(frozen=True)
class Windows:
    """Inputs, targets, and where each target sits in its series."""

    x: np.ndarray  # (n, 1, w) for layout "one", (n, w, 1) for "many"
    y: np.ndarray  # (n, 1) for target "next", (n, k, 1) otherwise
    offsets: np.ndarray  # (k,) position of each target after the window's last value
    ends: np.ndarray  # (n,) index of each window's last value in the series


def series(start: float, stop: float, points: int) -> np.ndarray:
    """``sin(linspace(start, stop, points))`` in float32, as in the seed."""
    return np.sin(np.linspace(start, stop, points)).astype(np.float32)


def target_offsets(target: str, window: int, horizon: int) -> np.ndarray:
    if target == "next":
        return np.array([1])
    if target == "horizon":
        return np.arange(1, horizon + 1)
    if target == "synced":
        return np.arange(2 - window, 2)
    raise ValueError(f"unknown target {target!r}; valid choices: {', '.join(TARGETS)}")


def make_windows(values: np.ndarray, window: int, horizon: int, layout: str, target: str) -> Windows:
    """Cut ``values`` into every full window with its target, in series order."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid choices: {', '.join(LAYOUTS)}")
    offsets = target_offsets(target, window, horizon)
    last_needed = window - 1 + offsets.max()  # furthest index a window needs, from its start
    n = len(values) - last_needed
    if n < 1:
        raise ValueError(
            f"series of {len(values)} points is too short for window {window} "
            f"and targets up to offset {offsets.max()}"
        )
    starts = np.arange(n)
    x = values[starts[:, None] + np.arange(window)]
    ends = starts + window - 1
    y = values[ends[:, None] + offsets]
    x = x[:, None, :] if layout == "one" else x[:, :, None]
    y = y if target == "next" else y[:, :, None]
    return Windows(x.astype(np.float32), y.astype(np.float32), offsets, ends)
