"""The copy task (Arjovsky et al. 2016, arXiv:1511.06464; after Hochreiter & Schmidhuber 1997).

Input: 10 symbols drawn uniformly from 8 (ids 1..8), ``length - 1`` blanks
(id 0), a delimiter (id 9), then 10 more blanks: ``length + 20`` steps, one-hot
over 10 ids. Output: blank at every step except the last 10, which repeat the
10 symbols in order. It tests whether a cell can hold 30 bits for ``length``
steps and replay them on cue.

Loss: cross-entropy over 10 classes averaged over every step. Baseline: a
memoryless model that knows the timing is certain of the blanks (loss 0) and
uniform over the 8 symbols on the 10 recall steps (ln 8 each), so its mean is
``10 ln 8 / (length + 20)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo.core.registry import register_task
from zoo.core.tasks.data import TaskData, require, split_rngs

SYMBOLS = 8  # ids 1..8
CLASSES = 10  # 0 blank, 1..8 symbols, 9 delimiter (never a target)
BLANK, DELIMITER = 0, 9
RECALL = 10  # symbols to copy

SOLVED_BELOW = 0.1
SOLVED_REASON = (
    "The ratio is the mean recall cross-entropy over ln 8, so below 0.1 the model gives the right symbol "
    "a geometric-mean probability above 8**-0.1 = 0.81 on every recall step, against 1/8 without memory."
)


@dataclass(frozen=True)
class CopySettings:
    length: int = 100  # T: steps between the last symbol and the first recall step, minus 10
    train_size: int = 10000
    test_size: int = 1000

    def __post_init__(self):
        require(self.length >= 1, f"copy: length must be >= 1, got {self.length}")
        require(min(self.train_size, self.test_size) >= 1, "copy: train_size and test_size must be >= 1")


Settings = CopySettings


def _sample(rng: np.random.Generator, n: int, length: int) -> TaskData:
    symbols = rng.integers(1, SYMBOLS + 1, (n, RECALL))
    ids = np.zeros((n, length + 2 * RECALL), np.int32)
    ids[:, :RECALL] = symbols
    ids[:, RECALL + length - 1] = DELIMITER
    y = np.zeros_like(ids)
    y[:, -RECALL:] = symbols
    return TaskData(np.eye(CLASSES, dtype=np.float32)[ids], y)


def baseline(settings: CopySettings) -> float:
    """Mean cross-entropy of the memoryless predictor: 10 ln 8 / (length + 20)."""
    return RECALL * math.log(SYMBOLS) / (settings.length + 2 * RECALL)


def recall_accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of the last 10 steps whose argmax (logits or probabilities, (n, steps, 10)) is right."""
    return float(np.mean(np.argmax(scores[:, -RECALL:], axis=-1) == y_true[:, -RECALL:]))


def extra_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict:
    return {"recall_accuracy": recall_accuracy(y_true, scores)}


# Upper bounds that catch a typo before work starts (the lower ones are __post_init__'s).
LIMITS = {"length": (None, 100_000), "train_size": (None, 10_000_000), "test_size": (None, 1_000_000)}


@register_task(
    "copy",
    settings=CopySettings,
    features=CLASSES,
    steps=lambda s: s.length + 2 * RECALL,
    classes=CLASSES,
    loss="cross_entropy",
    metric="test_ce",
    modes=[("many", "synced")],
    baseline=baseline,
    solved_below=SOLVED_BELOW,
    solved_reason=SOLVED_REASON,
    extra_metrics=extra_metrics,
    test_settings={"length": 3, "train_size": 128, "test_size": 64},
    limits=LIMITS,
)
def generate(settings: CopySettings, seed: int, layout: str = "many", target: str = "synced"
             ) -> tuple[TaskData, TaskData]:
    """The copy task (Arjovsky et al. 2016): replay 10 symbols from 8 after T blanks.

    Train and test sets: x (n, length + 20, 10) one-hot float32, y (n, length + 20) int32 ids.
    """
    train_rng, test_rng = split_rngs(seed)
    return (_sample(train_rng, settings.train_size, settings.length),
            _sample(test_rng, settings.test_size, settings.length))
