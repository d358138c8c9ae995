"""The seed post's sine task with a gap: predict the next value after ``length`` blank steps.

The post predicts ``sin`` at the 6th point from the 5 before it, training on
``sin(linspace(0, 100, 10000))`` and testing on ``sin(linspace(100, 200, 1000))``
(float32). Here every window of ``window`` consecutive values is followed by
``length`` blank steps before the answer is asked for, so the window must be
carried across the gap (with ``length = 0`` it is the post's task). In the spirit
of the delayed-recall tasks of Hochreiter & Schmidhuber (1997).

Inputs have 2 channels over ``window + length`` steps: channel 0 holds the
window's values then zeros, channel 1 is 1 on the blank steps. The target is
the value right after the window (offset 1 from its last value, ``ends``).

Baseline: a model that forgets the window can only predict a constant; the best
is the mean of the test targets and its MSE is their variance (about 0.5, the
mean of sin^2). The targets are ``sin(a + k d)`` on an arithmetic grid, so the
variance follows in closed form from the sums of sines and cosines over it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo.core.registry import register_task
from zoo.core.tasks.data import TaskData, require

SOLVED_BELOW = 0.05
SOLVED_REASON = (
    "Remembering only the sign of the window scores about 0.2 of the baseline, while remembering just its "
    "last value scores about 0.01 on the post's test grid (steps of 0.1 rad; less on a finer one), so below "
    "0.05 the values crossed the gap."
)


@dataclass(frozen=True)
class SineGapSettings:
    length: int = 20  # blank steps between the window's last value and the answer
    window: int = 5
    train_start: float = 0.0
    train_stop: float = 100.0
    train_points: int = 10000
    test_start: float = 100.0
    test_stop: float = 200.0
    test_points: int = 1000

    def __post_init__(self):
        require(self.length >= 0, f"sine_gap: length must be >= 0, got {self.length}")
        require(self.window >= 1, f"sine_gap: window must be >= 1, got {self.window}")
        for name in ("train", "test"):
            points = getattr(self, f"{name}_points")
            require(points > self.window, f"sine_gap: {name}_points must exceed window {self.window}, got {points}")


Settings = SineGapSettings


def series(start: float, stop: float, points: int) -> np.ndarray:
    """``sin(linspace(start, stop, points))`` in float32, as in the post."""
    return np.sin(np.linspace(start, stop, points)).astype(np.float32)


def _windows(values: np.ndarray, window: int, length: int) -> TaskData:
    n = len(values) - window
    ends = np.arange(n) + window - 1
    x = np.zeros((n, window + length, 2), np.float32)
    x[:, :window, 0] = values[ends[:, None] + np.arange(1 - window, 1)]
    x[:, window:, 1] = 1.0
    return TaskData(x, values[ends + 1][:, None], offsets=np.array([1]), ends=ends)


def _ratio(m: int, h: float) -> float:
    """sin(m h) / sin(h), with its limit where sin(h) = 0."""
    if abs(math.sin(h)) < 1e-12:
        return m * round(math.cos(h)) ** (m - 1)
    return math.sin(m * h) / math.sin(h)


def baseline(settings: SineGapSettings) -> float:
    """Variance of the test targets sin(b + j d), j = 0..m-1, in closed form."""
    s = settings
    d = (s.test_stop - s.test_start) / (s.test_points - 1)
    m = s.test_points - s.window  # targets: grid points window..points-1
    b = s.test_start + s.window * d
    mean = _ratio(m, d / 2) * math.sin(b + (m - 1) * d / 2) / m
    mean_sq = 0.5 - _ratio(m, d) * math.cos(2 * b + (m - 1) * d) / (2 * m)
    return mean_sq - mean**2


@register_task(
    "sine_gap",
    settings=SineGapSettings,
    features=2,
    steps=lambda s: s.window + s.length,
    loss="mse",
    metric="test_mse",
    modes=[("many", "next")],
    baseline=baseline,
    solved_below=SOLVED_BELOW,
    solved_reason=SOLVED_REASON,
    test_settings={"length": 4, "train_points": 300, "test_points": 120},
    limits={"length": (None, 100_000), "window": (None, 10_000), "train_points": (None, 10_000_000),
            "test_points": (None, 1_000_000)},  # the lower bounds are its own checks (__post_init__)
)
def generate(settings: SineGapSettings, seed: int, layout: str = "many", target: str = "next"
             ) -> tuple[TaskData, TaskData]:
    """The post's sine task with L blank steps between the window and the answer.

    Every window of the train and test series. The series are fixed, so ``seed`` changes nothing.
    """
    s = settings
    return (_windows(series(s.train_start, s.train_stop, s.train_points), s.window, s.length),
            _windows(series(s.test_start, s.test_stop, s.test_points), s.window, s.length))
