"""Cell, mode and task registries: name -> spec dicts behind small functions.

This is rnn-zoo's one piece of mutable global state. The ``register_*``
decorators fill it when a module that defines cells, modes or tasks is
imported; ``zoo.core.catalog`` decides which modules those are (the built-ins
and the entry points) and is what callers use to look names up.

A cell builder takes ``units`` and returns a Keras RNN cell (an object with
``state_size`` and ``call(inputs, states)``); the modes wrap it in
``keras.layers.RNN``. A mode builder takes a cell factory and the task's window
and horizon and returns a ``keras.Model``. A task generator is pure NumPy:
``(settings, seed, layout, target) -> (train, test)``. Nothing here imports Keras.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import inspect
import sys
from dataclasses import dataclass
from typing import Callable


class UnknownNameError(KeyError, ValueError):
    """A cell or mode name that is not registered."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


class DuplicateNameError(ValueError):
    """Two builders registered under the same name."""


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
        found = {"claim": self.claim, "remedy": self.remedy, "published": list(self.published)}
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

    @property
    def fingerprint(self) -> str:
        return code_fingerprint(self.generate)


_CELLS: dict[str, CellSpec] = {}
_MODES: dict[str, ModeSpec] = {}
_TASKS: dict[str, TaskSpec] = {}


def _first_line(obj) -> str:
    doc = (obj.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def _source_of(fn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def register_cell(name: str, *, param_count: Callable[[int, int], int], gates: Callable | None = None,
                  claim: str = "", remedy: str = "", published: tuple = ()):
    """Register a cell builder under ``name``; returns the builder unchanged. ``claim``,
    ``remedy`` and ``published`` are what the report may say of it (``CellSpec``).

    Example:
        @register_cell("gru", param_count=lambda i, u: 3 * (u * (i + u) + 2 * u))
        def gru(units: int = 64):
            "Gated recurrent unit (Cho et al. 2014), Keras's GRUCell."
            return keras.layers.GRUCell(units)
    """
    if not name.isidentifier():
        raise ValueError(f"cell name {name!r} is not a valid Python identifier")
    if published and not (len(published) == 3 and isinstance(published[0], str) and isinstance(published[1], int)
                          and isinstance(published[2], str)):
        raise ValueError(f"cell {name!r}: published must be (task, length, who reported what), got {published!r}")

    def decorate(builder):
        source = _source_of(builder)
        old = _CELLS.get(name)
        if old is not None and old.source != source:
            raise DuplicateNameError(f"cell {name!r} is registered twice: by {old.source} and by {source}")
        _CELLS[name] = CellSpec(name, builder, param_count, _first_line(builder), source, gates, claim, remedy,
                                tuple(published))
        return builder

    return decorate


def register_mode(name: str, *, layout: str, target: str, param_count: Callable, required: bool = True):
    """Register a mode builder under ``name``; returns the builder unchanged."""

    def decorate(builder):
        _MODES[name] = ModeSpec(name, builder, param_count, layout, target, _first_line(builder), required)
        return builder

    return decorate


def register_task(
    name: str,
    *,
    settings: type,
    features: int,
    steps: Callable,
    loss: str,
    metric: str,
    modes,
    baseline: Callable,
    solved_below: float,
    solved_reason: str,
    classes: int = 0,
    length: str = "length",
    extra_metrics: Callable | None = None,
    test_settings: dict | None = None,
    section: str = "memory",
    forecast: bool = False,
    limits: dict | None = None,
    check: Callable | None = None,
    quick: Callable | None = None,
):
    """Register a task generator under ``name``; returns the generator unchanged.

    Example (the adding problem; see ``zoo.core.tasks.adding``):
        @register_task("adding", settings=AddingSettings, features=2, steps=lambda s: s.length,
                       loss="mse", metric="test_mse", modes=[("many", "next")],
                       baseline=lambda s: 1 / 6, solved_below=0.1, solved_reason="...")
        def generate(settings, seed, layout="many", target="next"):
            "The adding problem (Le et al. 2015): sum the two marked values."
            return train, test

    A forecasting task declares ``section="main", forecast=True`` and its
    settings' ``limits`` (``{"window": (1, 10_000)}``); see ``zoo.core.tasks.sine``.
    """
    if not name.isidentifier():
        raise ValueError(f"task name {name!r} is not a valid Python identifier")
    if not dataclasses.is_dataclass(settings):
        raise ValueError(f"task {name!r}: settings must be a dataclass, got {settings!r}")
    fields = [f.name for f in dataclasses.fields(settings)]
    if length not in fields:
        raise ValueError(f"task {name!r}: its length setting {length!r} is not a field of {settings.__name__}")
    if loss not in TASK_LOSSES or metric not in TASK_METRICS:
        raise ValueError(f"task {name!r}: loss must be one of {TASK_LOSSES} and metric one of {TASK_METRICS}")
    if (loss == "cross_entropy") != bool(classes) or (metric == "test_ce") != bool(classes):
        raise ValueError(f"task {name!r}: classification (classes > 0) goes with cross_entropy and test_ce")
    if not 0 < solved_below < 1:
        raise ValueError(f"task {name!r}: solved_below must lie between 0 and 1, got {solved_below}")
    if section not in REPORT_SECTIONS:
        raise ValueError(f"task {name!r}: section must be one of {REPORT_SECTIONS}, got {section!r}")
    for setting, (low, high) in (limits or {}).items():
        if setting not in fields:
            raise ValueError(f"task {name!r}: limit on {setting!r}, which is not a field of {settings.__name__}")
        if low is not None and high is not None and low > high:
            raise ValueError(f"task {name!r}: limit on {setting!r} has low {low} above high {high}")

    def decorate(generate):
        source = _source_of(generate)
        old = _TASKS.get(name)
        if old is not None and old.source != source:
            raise DuplicateNameError(f"task {name!r} is registered twice: by {old.source} and by {source}")
        owner = _TASK_OF_SETTINGS.get(settings)
        if owner is not None and owner != name:
            raise DuplicateNameError(f"tasks {owner!r} and {name!r} share the settings class {settings.__name__}")
        _TASKS[name] = TaskSpec(
            name, generate, settings, features, steps, classes, loss, metric,
            tuple(tuple(m) for m in modes), baseline, solved_below, solved_reason, length, extra_metrics,
            tuple(sorted((test_settings or {}).items())), _first_line(generate), source,
            section, forecast, tuple((k, tuple(v)) for k, v in (limits or {}).items()), check, quick,
        )
        _TASK_OF_SETTINGS[settings] = name
        return generate

    return decorate


_TASK_OF_SETTINGS: dict[type, str] = {}


def task_name_of(settings) -> str:
    """The name of the task whose settings class ``settings`` is an instance of."""
    cls = type(settings)
    name = _TASK_OF_SETTINGS.get(cls) or getattr(cls, "task_name", None)
    if name is None:
        raise UnknownNameError(f"{cls.__name__} is not the settings class of a registered task")
    return name


def closest(name: str, choices) -> str | None:
    """The name in ``choices`` closest to ``name``, or None when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if str(name).lower() in lowered:  # a case slip is the likeliest typo of all
        return lowered[str(name).lower()]
    found = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.4)
    return found[0] if found else None


def nearest_hint(name, choices) -> str:
    """`` (did you mean 'x'?)`` naming the choice closest to ``name``, or "" when nothing is close."""
    near = closest(str(name), choices)
    return f" (did you mean {near!r}?)" if near is not None else ""


def unknown_name_message(kind: str, name, choices) -> str:
    choices = sorted(choices)
    return f"unknown {kind} {name!r}; valid choices: {', '.join(choices)}" + nearest_hint(name, choices)


def _lookup(table: dict, kind: str, name: str):
    try:
        return table[name]
    except KeyError:
        raise UnknownNameError(unknown_name_message(kind, name, table)) from None


def cell(name: str) -> CellSpec:
    """The registered cell ``name`` (no loading: use ``zoo.core.catalog``)."""
    return _lookup(_CELLS, "cell", name)


def mode(name: str) -> ModeSpec:
    return _lookup(_MODES, "mode", name)


def task(name: str) -> TaskSpec:
    return _lookup(_TASKS, "task", name)


def task_names() -> list[str]:
    return sorted(_TASKS)


def cell_names() -> list[str]:
    return sorted(_CELLS)


def mode_names(required_only: bool = False) -> list[str]:
    """In registration order, which is the order of the report's tables."""
    return [n for n, spec in _MODES.items() if spec.required or not required_only]
