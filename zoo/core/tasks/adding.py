"""The adding problem (Le et al. 2015, arXiv:1504.00941; Arjovsky et al. 2016, arXiv:1511.06464).

Each sequence has ``length`` steps of two channels: a value drawn from U[0, 1]
and a marker that is 1 at exactly two steps, one in the first half and one in
the second. The target is the sum of the two marked values, read at the end.
It tests whether a cell can pick out values on a signal and carry them across
up to ``length`` steps of distractors.

Baseline: without memory the best prediction is the mean of the target, 1, and
its mean squared error is the variance of a sum of two independent U[0, 1],
2 * 1/12 = 1/6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.core.registry import register_task
from zoo.core.tasks.data import TaskData, require, split_rngs

SOLVED_BELOW = 0.1
SOLVED_REASON = (
    "Remembering one marked value exactly and guessing 1/2 for the other leaves its variance 1/12, "
    "half the baseline (ratio 0.5), so a ratio below 0.1 needs both values remembered."
)


@dataclass(frozen=True)
class AddingSettings:
    length: int = 100  # steps T; the first marker may sit T - 1 steps before the answer
    train_size: int = 10000
    test_size: int = 1000

    def __post_init__(self):
        require(self.length >= 2, f"adding: length must be >= 2 (one marker per half), got {self.length}")
        require(min(self.train_size, self.test_size) >= 1, "adding: train_size and test_size must be >= 1")


Settings = AddingSettings


def _sample(rng: np.random.Generator, n: int, steps: int) -> TaskData:
    values = rng.random((n, steps)).astype(np.float32)
    half = steps // 2
    first = rng.integers(0, half, n)
    second = rng.integers(half, steps, n)
    rows = np.arange(n)
    markers = np.zeros((n, steps), np.float32)
    markers[rows, first] = markers[rows, second] = 1.0
    y = (values[rows, first] + values[rows, second])[:, None]
    return TaskData(np.stack([values, markers], axis=-1), y.astype(np.float32))


def baseline(settings: AddingSettings) -> float:
    """MSE of the best constant (1): Var(U1 + U2) = 1/6, whatever the length."""
    return 1.0 / 6.0


# Upper bounds that catch a typo before work starts (the lower ones are __post_init__'s).
LIMITS = {"length": (None, 100_000), "train_size": (None, 10_000_000), "test_size": (None, 1_000_000)}


@register_task(
    "adding",
    settings=AddingSettings,
    features=2,
    steps=lambda s: s.length,
    loss="mse",
    metric="test_mse",
    modes=[("many", "next")],
    baseline=baseline,
    solved_below=SOLVED_BELOW,
    solved_reason=SOLVED_REASON,
    test_settings={"length": 6, "train_size": 128, "test_size": 64},
    limits=LIMITS,
)
def generate(settings: AddingSettings, seed: int, layout: str = "many", target: str = "next"
             ) -> tuple[TaskData, TaskData]:
    """The adding problem (Le et al. 2015): the sum of the 2 marked values among T.

    Train and test sets: x (n, length, 2) float32, y (n, 1) float32.
    """
    train_rng, test_rng = split_rngs(seed)
    return (_sample(train_rng, settings.train_size, settings.length),
            _sample(test_rng, settings.test_size, settings.length))
