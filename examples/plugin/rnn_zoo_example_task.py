"""An rnn-zoo plugin task, registered when rnn-zoo imports this module: pure NumPy, no Keras."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo import register_task
from zoo.core.tasks.data import TaskData, require


@dataclass(frozen=True)
class RecallFirstSettings:
    length: int = 20  # T: the value to recall is T - 1 steps before the answer
    train_size: int = 2000
    test_size: int = 500

    def __post_init__(self):
        require(self.length >= 1, f"recall_first: length must be >= 1, got {self.length}")


def baseline(settings: RecallFirstSettings) -> float:
    """MSE of the best constant (1/2): the variance of U[0, 1], 1/12."""
    return 1.0 / 12.0


def _sample(rng: np.random.Generator, n: int, length: int) -> TaskData:
    x = rng.random((n, length, 1)).astype(np.float32)
    return TaskData(x, x[:, :1, 0].copy())


@register_task(
    "recall_first",
    settings=RecallFirstSettings,
    features=1,
    steps=lambda s: s.length,
    loss="mse",
    metric="test_mse",
    modes=[("many", "next")],
    baseline=baseline,
    solved_below=0.1,
    solved_reason="Below 0.1 of the variance the first value is known to within about a third of its spread.",
    test_settings={"length": 4, "train_size": 64, "test_size": 32},
)
def generate(settings: RecallFirstSettings, seed: int, layout: str = "many", target: str = "next"):
    """Recall the first of T random values (plugin example)."""
    train_rng, test_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    return (_sample(train_rng, settings.train_size, settings.length),
            _sample(test_rng, settings.test_size, settings.length))
