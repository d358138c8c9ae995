"""What a registered cell, mode and task is: their spec dataclasses
(``CellSpec``, ``ModeSpec``, ``TaskSpec``), the losses, metrics and report
sections a task may declare, and the fingerprint of the code that defines
each. ``zoo.core.registry`` builds and stores them. Nothing here imports Keras.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import numbers
import sys
from dataclasses import dataclass
from typing import Callable


def code_fingerprint(fn: Callable) -> str:
    """A short hash of the code that defines ``fn``: its whole module file.

    The module, not the function alone, because a builder often returns a
    class defined beside it (a hand-written cell): editing either must change
    the fingerprint. Code with no file (a notebook cell) hashes its own source.
    """
    module = sys.modules.get(fn.__module__)
    try:
        path = inspect.getsourcefile(module) if module is not None else None
        with open(path, "rb") as f:
            data = f.read()
    except (TypeError, OSError):
        try:
            data = inspect.getsource(fn).encode()
        except (TypeError, OSError):
            data = f"{fn.__module__}.{fn.__qualname__}".encode()
    return hashlib.sha1(data).hexdigest()[:12]


@dataclass(frozen=True)
class CellSpec:
    """A registered cell.

    ``param_count(input_dim, units)`` is the closed-form number of weights of
    one cell; the tests compare it with what Keras builds. ``gates(cell,
    inputs, states)``, for gated cells, returns one step's gate activations by
    name (``carry`` is the share of the previous state kept); a hand-written
    cell can instead define a ``gates(inputs, states)`` method.

    What the report says of the cell beyond its numbers comes from here, never
    from its name in the report's code: ``claim``, what its paper claims about
    the gradient through time; ``remedy``, what to try first where it carries
    too little memory; ``published``, a horizon its paper reports, as
    ``(task, length, who reported what)``: the report says when a search falls
    short of it. Each run stores them (``declares``), since the report reads
    runs, not the registry.
    """

    name: str
    builder: Callable
    param_count: Callable[[int, int], int]
    description: str
    source: str
    gates: Callable | None = None
    claim: str = ""
    remedy: str = ""
    published: tuple = ()

    def declares(self) -> dict:
        """What the report may say of the cell, as a run's ``metrics.json`` stores it."""
        found = {"description": self.description, "claim": self.claim, "remedy": self.remedy,
                 "published": list(self.published)}
        return {key: value for key, value in found.items() if value}

    def gate_fn(self, cell) -> Callable | None:
        """``fn(inputs, states) -> {gate: activations}`` for a built cell, if it has gates."""
        if self.gates is not None:
            return lambda inputs, states: self.gates(cell, inputs, states)
        return getattr(cell, "gates", None)

    @property
    def fingerprint(self) -> str:
        return code_fingerprint(self.builder)


@dataclass(frozen=True)
class ModeSpec:
    """A registered sequence-mapping mode.

    ``param_count(cell_params, units, window, horizon)`` is the closed-form
    number of weights of the whole model, given the cell's own count function.
    ``layout`` ("one" or "many") and ``target`` ("next", "horizon" or
    "synced") tell the task how to cut the windows. ``required`` marks the
    four modes of the default grid.
    """

    name: str
    builder: Callable
    param_count: Callable
    layout: str
    target: str
    description: str
    required: bool

    @property
    def fingerprint(self) -> str:
        return code_fingerprint(self.builder)


OUTPUT_KINDS = ("regression", "classification")
TASK_LOSSES = ("mae", "mse", "cross_entropy")
# The other names Keras knows the two regression losses by (a user's fit may compile with any of them).
LOSS_SYNONYMS = {"mean_squared_error": "mse", "meansquarederror": "mse",
                "mean_absolute_error": "mae", "meanabsoluteerror": "mae"}


def canonical_loss(name: str) -> str:
    """A loss name as TASK_LOSSES spells it ("mean_squared_error" -> "mse"); an unknown name, lower-cased."""
    name = str(name).lower()
    return LOSS_SYNONYMS.get(name, name)
TASK_METRICS = ("test_mae", "test_mse", "test_ce")
# Where a task's runs appear in the report: "main" is the seed post's comparison (loss curves, the
# forecast), "memory" the memory tasks' section (how far each cell remembers, against a baseline).
REPORT_SECTIONS = ("main", "memory")


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: a pure data generator and what its numbers mean.

    ``settings`` is a frozen dataclass whose fields (all with defaults) are the
    task's ``[task]`` keys; ``length`` names the field that sets the memory
    span a sweep varies. ``features`` is the number of input channels per step
    and ``steps(settings)`` the input steps of a "many"-layout mode. ``classes``
    is 0 for regression (a Dense(1) head) or k for k-class classification
    (Dense(k) logits, cross-entropy). ``modes`` lists the (layout, target)
    pairs of the modes it supports. ``baseline(settings)`` is the closed-form
    best value of ``metric`` for a model that cannot remember; a run whose
    ``metric / baseline`` falls below ``solved_below`` has solved the task,
    for ``solved_reason``. ``extra_metrics(y_true, pred)`` adds task-specific
    test numbers (copy: the recall accuracy). ``test_settings`` are settings
    small enough to train in a second, for the tests over the registry.

    What the rest of the zoo reads instead of the task's name: ``section``,
    the report section of its runs (``REPORT_SECTIONS``); ``forecast``, whether
    its test targets are points of one series (``TaskData.offsets`` and
    ``ends``), so the report plots the prediction against the truth;
    ``limits``, ``(setting, (low, high))`` pairs that loading checks before any
    work (``None``: no bound that side); ``check(settings, mode, train)``, the
    relations between settings a limit cannot state (a one-line problem, or
    None), in place of loading's default check of the inputs' size;
    ``quick(settings, variants, batch)``, the settings of a ``--quick`` smoke
    run (less data, same shape, still fitting every variant's settings of the
    grid and its largest batch), for a task whose data is worth shrinking.
    """

    name: str
    generate: Callable
    settings: type
    features: int
    steps: Callable
    classes: int
    loss: str
    metric: str
    modes: tuple[tuple[str, str], ...]
    baseline: Callable
    solved_below: float
    solved_reason: str
    length: str
    extra_metrics: Callable | None
    test_settings: tuple[tuple[str, object], ...]
    description: str
    source: str
    section: str = "memory"
    forecast: bool = False
    limits: tuple[tuple[str, tuple[int | None, int | None]], ...] = ()
    check: Callable | None = None
    quick: Callable | None = None

    def limit(self, setting: str) -> tuple[int | None, int | None]:
        """The (low, high) bounds of a setting; (None, None) when the task states none."""
        return dict(self.limits).get(setting, (None, None))

    @property
    def output(self) -> str:
        return "classification" if self.classes else "regression"

    @property
    def head_units(self) -> int:
        """Width of the Dense head: one value, or one per class."""
        return self.classes or 1

    @property
    def head_activation(self) -> str | None:
        """The head's activation: linear for regression, log-probabilities for classification."""
        return "log_softmax" if self.classes else None

    def supports(self, mode: "ModeSpec") -> bool:
        return (mode.layout, mode.target) in self.modes

    def label_shape(self, target: str, n: int, settings) -> tuple[int, ...]:
        """The shape ``y`` must have for ``n`` samples and a mode's ``target``: one
        output per sample ("next"), per horizon step ("horizon") or per input step
        ("synced"); class ids (int) for classification, values with a last axis of
        1 for regression. Regression "next": (n, 1); classification "next": (n,)."""
        per = {"next": (), "horizon": (getattr(settings, "horizon", 1),), "synced": (self.steps(settings),)}[target]
        if self.classes:
            return (n, *per)
        return (n, *per, 1) if per else (n, 1)

    def check_labels(self, settings, mode: "ModeSpec", split: str, y) -> None:
        """Refuse labels whose shape is not ``label_shape``: such labels broadcast
        against the model's output and make the loss silently wrong."""
        expected = self.label_shape(mode.target, len(y), settings)
        if tuple(y.shape) != expected:
            kind = "class ids" if self.classes else "values"
            raise ValueError(
                f"task {self.name!r}: {split} labels have shape {tuple(y.shape)} for mode {mode.name} "
                f"({mode.layout}, {mode.target}), expected {expected} ({self.output}: {kind}; see the "
                "README's task contract)")

    def check_data(self, settings, mode: "ModeSpec") -> None:
        """What a run of this task and mode would train on, generated (seed 0) and checked before any
        worker starts (``checked_data``), and a ``baseline`` that is a finite number above 0 (the
        report divides by it). A ``ValueError`` names the task, what was found and what was expected."""
        self.checked_data(settings, 0, mode)
        baseline = self.baseline(settings)
        if not (isinstance(baseline, numbers.Real) and math.isfinite(baseline) and baseline > 0):
            raise ValueError(
                f"task {self.name!r}: baseline({type(settings).__name__}) = {baseline!r}, expected a finite "
                "number above 0: the report divides the test metric by it")

    def checked_data(self, settings, seed: int, mode: "ModeSpec") -> tuple:
        """The training and test sets, cut for the mode, with inputs ``(n, steps, features)`` (``features``
        as registered) and labels of ``label_shape``, or a ``ValueError`` that says what was found."""
        train, test = self.generate(settings, seed, mode.layout, mode.target)
        steps = self.steps(settings)
        for split, data in (("training", train), ("test", test)):
            shape = tuple(getattr(data.x, "shape", ()))
            # A "many" mode reads a step at a time; a "one" mode reads the whole window as one step.
            expected = (steps, self.features) if mode.layout == "many" else (1, steps * self.features)
            if len(shape) != 3 or shape[1:] != expected:
                raise ValueError(
                    f"task {self.name!r}: {split} inputs have shape {shape} for mode {mode.name} "
                    f"({mode.layout}, {mode.target}), expected (n, {expected[0]}, {expected[1]}): registered with "
                    f"features={self.features}, steps {steps}")
            self.check_labels(settings, mode, split, data.y)
        return train, test

    @property
    def fingerprint(self) -> str:
        return code_fingerprint(self.generate)
