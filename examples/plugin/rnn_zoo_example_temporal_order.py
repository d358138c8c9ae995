"""An rnn-zoo plugin classification task: the temporal-order problem (Hochreiter &
Schmidhuber 1997, experiment 6a). Pure NumPy, no Keras.

Each sequence of ``length`` steps starts with E, ends with the trigger B, and
holds random distractors from {a, b, c, d} except at two steps t1 (in the
first tenth to fifth of the sequence) and t2 (in its middle tenth, 50-60% of
the way), which hold X or Y. The class at the end is the order of the two:
XX, XY, YX or YY. The paper's sequences are 100-110 steps with t1 in 10-20
and t2 in 50-60; here the length is one setting (a memory sweep varies it)
and t1, t2 scale with it.

A many_to_one classification task: the label of a sequence is one class id,
so ``y`` has shape (n,) int (the README's task contract). A model that
cannot remember X and Y guesses among 4 equally likely classes: its best
cross-entropy is ln 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from zoo import register_task
from zoo.core.tasks.data import TaskData, require

SYMBOLS = ("E", "B", "a", "b", "c", "d", "X", "Y")  # one-hot input, in this order
E, B, X, Y = 0, 1, 6, 7
DISTRACTORS = (2, 3, 4, 5)
CLASSES = 4  # XX, XY, YX, YY


@dataclass(frozen=True)
class TemporalOrderSettings:
    length: int = 100  # steps per sequence (the paper: 100-110)
    train_size: int = 4000
    test_size: int = 1000

    def __post_init__(self):
        require(self.length >= 10, f"temporal_order: length must be >= 10, got {self.length}")
        require(min(self.train_size, self.test_size) >= 1, "temporal_order: train_size and test_size must be >= 1")


def positions(length: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The inclusive ranges of t1 and t2: 10-20 and 50-60 at length 100 (the paper's)."""
    return (length // 10, length // 5), (length // 2, 3 * length // 5)


def _sample(rng: np.random.Generator, n: int, length: int) -> TaskData:
    ids = rng.choice(DISTRACTORS, size=(n, length))
    ids[:, 0], ids[:, -1] = E, B
    (lo1, hi1), (lo2, hi2) = positions(length)
    t1, t2 = rng.integers(lo1, hi1 + 1, n), rng.integers(lo2, hi2 + 1, n)
    first, second = rng.integers(0, 2, n), rng.integers(0, 2, n)  # 0: X, 1: Y
    rows = np.arange(n)
    ids[rows, t1], ids[rows, t2] = X + first, X + second
    x = np.eye(len(SYMBOLS), dtype=np.float32)[ids]
    return TaskData(x, (2 * first + second).astype(np.int32))  # y: (n,) class ids


def baseline(settings: TemporalOrderSettings) -> float:
    """Cross-entropy of the memoryless predictor: uniform over 4 classes, ln 4."""
    return math.log(CLASSES)


@register_task(
    "temporal_order",
    settings=TemporalOrderSettings,
    features=len(SYMBOLS),
    steps=lambda s: s.length,
    classes=CLASSES,
    loss="cross_entropy",
    metric="test_ce",
    modes=[("many", "next")],
    baseline=baseline,
    solved_below=0.1,
    solved_reason="The ratio is the test cross-entropy over ln 4, so below 0.1 the model gives the right class "
                  "a geometric-mean probability above 4**-0.1 = 0.87, against 1/4 without memory.",
    test_settings={"length": 10, "train_size": 128, "test_size": 64},
)
def generate(settings: TemporalOrderSettings, seed: int, layout: str = "many", target: str = "next"):
    """The temporal-order problem (Hochreiter & Schmidhuber 1997): the order of X and Y (plugin example)."""
    train_rng, test_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    return (_sample(train_rng, settings.train_size, settings.length),
            _sample(test_rng, settings.test_size, settings.length))
