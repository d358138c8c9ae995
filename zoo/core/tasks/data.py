"""What every memory task returns, and the seed-derived random streams. Pure numpy.

A task is a module with a frozen settings dataclass, ``generate(settings, seed)
-> (train, test)`` and a closed-form ``baseline(settings)``: the best loss of a
model that cannot remember, against which its test loss is judged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The most input values a task's training set may hold: 1 GB of float32. Loading
# refuses settings above it before any work, naming them.
MAX_INPUT_VALUES = 250_000_000


@dataclass(frozen=True)
class TaskData:
    """Inputs and targets of one split.

    ``y`` is ``(n, 1)`` or ``(n, steps, 1)`` float32 for regression, ``(n, steps)``
    int32 class ids for classification. ``offsets`` and ``ends`` (sine tasks only)
    say where the targets sit in the series: at ``ends + offsets``.
    """

    x: np.ndarray  # (n, steps, features) float32
    y: np.ndarray
    offsets: np.ndarray | None = None
    ends: np.ndarray | None = None


def split_rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent train and test streams from one seed."""
    return np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])


def require(ok: bool, message: str) -> None:
    """Refuse bad settings with one line naming what was expected."""
    if not ok:
        raise ValueError(message)
