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

from zoo.core.config import TaskConfig
from zoo.core.registry import register_task
from zoo.core.tasks import sine_gap
from zoo.core.tasks.data import TaskData

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


def baseline(settings: TaskConfig) -> float:
    """MSE of the best constant on the next-value test targets: their variance (about 1/2).

    A model that ignores its input can only predict a constant. The targets
    are those of ``sine_gap`` with no gap, so its closed form applies.
    """
    s = settings
    return sine_gap.baseline(sine_gap.Settings(length=0, window=s.window, test_start=s.test_start,
                                               test_stop=s.test_stop, test_points=s.test_points))


SOLVED_BELOW = 0.01
SOLVED_REASON = (
    "Repeating the window's last value scores 2 sin^2(d/2) / (1/2), about 0.01 of the baseline at the "
    "default test gap d = 0.1, so below 0.01 a model predicts better than persistence."
)


@register_task(
    "sine",
    settings=TaskConfig,
    features=1,
    steps=lambda s: s.window,
    loss="mae",
    metric="test_mse",
    modes=[("one", "next"), ("many", "next"), ("one", "horizon"), ("many", "horizon"), ("many", "synced")],
    baseline=baseline,
    solved_below=SOLVED_BELOW,
    solved_reason=SOLVED_REASON,
    length="window",
    test_settings={"train_stop": 3.0, "train_points": 300, "test_stop": 106.0, "test_points": 60},
)
def generate(settings: TaskConfig, seed: int, layout: str = "many", target: str = "next") -> tuple[TaskData, TaskData]:
    """The seed post's task: the next value(s) of sin(t) from the w before (no memory needed)."""
    t = settings

    def cut(start: float, stop: float, points: int) -> TaskData:
        w = make_windows(series(start, stop, points), t.window, t.horizon, layout, target)
        return TaskData(w.x, w.y, w.offsets, w.ends)

    return cut(t.train_start, t.train_stop, t.train_points), cut(t.test_start, t.test_stop, t.test_points)
