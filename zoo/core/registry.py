"""Cell, mode and task registries: name -> spec dicts behind small functions.

This is rnn-zoo's one piece of mutable global state. The ``register_*``
decorators check a declaration and fill it when a module that defines cells,
modes or tasks is imported; ``zoo.core.catalog`` decides which modules those
are (the built-ins and the entry points) and is what callers use to look names
up. What a registered cell, mode or task is (``CellSpec``, ``ModeSpec``,
``TaskSpec``) is ``zoo.core.specs``; the unknown-name error and its hint are
``zoo.core.names``.

A cell builder takes ``units`` and returns a Keras RNN cell (an object with
``state_size`` and ``call(inputs, states)``); the modes wrap it in
``keras.layers.RNN``. A mode builder takes a cell factory and the task's window
and horizon and returns a ``keras.Model``. A task generator is pure NumPy:
``(settings, seed, layout, target) -> (train, test)``. Nothing here imports Keras.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Callable

from zoo.core.names import UnknownNameError, nearest_hint, unknown_keyword_message, unknown_name_message
from zoo.core.specs import REPORT_SECTIONS, TASK_LOSSES, TASK_METRICS, CellSpec, ModeSpec, TaskSpec


class DuplicateNameError(ValueError):
    """Two builders registered under the same name."""


# What a mode's windows look like, as a task declares the modes it supports ((layout, target)
# pairs): the input is one step or many, the target the next value, the next ``horizon`` values
# or one per input step (``TaskSpec.label_shape``).
MODE_LAYOUTS = ("one", "many")
MODE_TARGETS = ("next", "horizon", "synced")

_CELLS: dict[str, CellSpec] = {}
_MODES: dict[str, ModeSpec] = {}
_TASKS: dict[str, TaskSpec] = {}


def _doc_summary(obj) -> str:
    """The docstring's summary: its first paragraph as one line (a summary wrapped over two
    lines is whole, as the report's captions and ``python -m zoo list`` show it)."""
    doc = inspect.cleandoc(obj.__doc__ or "")  # a blank line of indentation alone becomes empty
    return " ".join(line.strip() for line in doc.split("\n\n")[0].splitlines())


def _source_of(fn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _keywords_named(register):
    """``register`` answering an unknown keyword with the nearest valid one, where Python's own
    TypeError names neither (``register_task() got an unexpected keyword argument 'solvd'``)."""
    parameters = inspect.signature(register).parameters
    valid = [p for p in parameters if p != "name"]
    kind = register.__name__.removeprefix("register_")

    @functools.wraps(register)
    def checked(*args, **kwargs):
        unknown = [k for k in kwargs if k not in parameters]
        if unknown:
            name = args[0] if args else kwargs.get("name")
            raise TypeError(f"{kind} {name!r}: " + unknown_keyword_message(register.__name__, unknown[0], valid))
        return register(*args, **kwargs)

    return checked


def _check_name(kind: str, name) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{kind} name {name!r} is not a valid Python identifier")


def _one_of(who: str, what: str, value, choices) -> None:
    """Refuse ``value`` unless it is one of ``choices``: one line naming it, them and the nearest."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{who}: {what} must be one of {', '.join(choices)}, got {value!r}"
                         + nearest_hint(value, choices))


def _check_callable(who: str, what: str, value, optional: bool = False) -> None:
    if not (callable(value) or (optional and value is None)):
        raise ValueError(f"{who}: {what} must be a function{' or None' if optional else ''}, got {value!r}")


def _check_field(who: str, what: str, value, settings: type, fields: list[str]) -> None:
    """Refuse a setting's name that is not a field of the task's settings class, naming the nearest."""
    if value not in fields:
        raise ValueError(f"{who}: {what} {value!r} is not a field of {settings.__name__}; its fields: "
                         f"{', '.join(fields)}" + nearest_hint(value, fields))


def _check_mode_pairs(who: str, modes) -> None:
    """A task's modes: a non-empty list of (layout, target) pairs of ``MODE_LAYOUTS`` and ``MODE_TARGETS``
    (a typo would register a task that supports no mode)."""
    example = "such as [('many', 'next')]"
    if isinstance(modes, (str, bytes)) or not hasattr(modes, "__iter__"):
        raise ValueError(f"{who}: modes must be a list of (layout, target) pairs, {example}; got {modes!r}")
    modes = list(modes)
    if not modes:
        raise ValueError(f"{who}: modes is empty, so the task would support no mode; list its (layout, target) "
                         f"pairs, {example}")
    for pair in modes:
        if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
            spec = _MODES.get(pair) if isinstance(pair, str) else None
            hint = f" (mode {pair} is the pair {(spec.layout, spec.target)!r})" if spec is not None else ""
            raise ValueError(f"{who}: modes: {pair!r} is not a (layout, target) pair, such as ('many', 'next')"
                             + hint)
        where = f"{who}: modes pair {tuple(pair)!r}"
        _one_of(where, "its layout", pair[0], MODE_LAYOUTS)
        _one_of(where, "its target", pair[1], MODE_TARGETS)


def _forget_module(module: str) -> None:
    """Drop what ``module`` registered: a file that fails to import half way is left out whole."""
    for table in (_CELLS, _TASKS):
        for name in [n for n, spec in table.items() if spec.source.startswith(module + ".")]:
            del table[name]
    for name in [n for n, spec in _MODES.items() if getattr(spec.builder, "__module__", None) == module]:
        del _MODES[name]
    for cls in [c for c, name in _TASK_OF_SETTINGS.items() if name not in _TASKS]:
        del _TASK_OF_SETTINGS[cls]


@_keywords_named
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
    _check_name("cell", name)
    who = f"cell {name!r}"
    _check_callable(who, "param_count", param_count)
    _check_callable(who, "gates", gates, optional=True)
    for what, text in (("claim", claim), ("remedy", remedy)):
        if not isinstance(text, str):
            raise ValueError(f"{who}: {what} must be a string (what the report says of the cell), got {text!r}")
    if published and not (len(published) == 3 and isinstance(published[0], str) and isinstance(published[1], int)
                          and isinstance(published[2], str)):
        raise ValueError(f"cell {name!r}: published must be (task, length, who reported what), got {published!r}")

    def decorate(builder):
        source = _source_of(builder)
        old = _CELLS.get(name)
        if old is not None and old.source != source:
            raise DuplicateNameError(f"cell {name!r} is registered twice: by {old.source} and by {source}")
        _CELLS[name] = CellSpec(name, builder, param_count, _doc_summary(builder), source, gates, claim, remedy,
                                tuple(published))
        return builder

    return decorate


@_keywords_named
def register_mode(name: str, *, layout: str, target: str, param_count: Callable, required: bool = True):
    """Register a mode builder under ``name``; returns the builder unchanged. ``layout`` is one of
    ``MODE_LAYOUTS``, ``target`` one of ``MODE_TARGETS``."""
    _check_name("mode", name)
    _one_of(f"mode {name!r}", "layout", layout, MODE_LAYOUTS)
    _one_of(f"mode {name!r}", "target", target, MODE_TARGETS)
    _check_callable(f"mode {name!r}", "param_count", param_count)

    def decorate(builder):
        old = _MODES.get(name)
        if old is not None and _source_of(old.builder) != _source_of(builder):  # as for cells: never silently
            raise DuplicateNameError(f"mode {name!r} is registered twice: by {_source_of(old.builder)} and by "
                                     f"{_source_of(builder)}")
        _MODES[name] = ModeSpec(name, builder, param_count, layout, target, _doc_summary(builder), required)
        return builder

    return decorate


@_keywords_named
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

    Each field is checked here, when the task's file is imported: a bad one is a ValueError
    naming the value, the valid choices and the nearest (an unknown keyword, a TypeError).
    ``modes`` are pairs of ``MODE_LAYOUTS`` and ``MODE_TARGETS``.
    """
    _check_name("task", name)
    who = f"task {name!r}"
    if not (isinstance(settings, type) and dataclasses.is_dataclass(settings)):
        raise ValueError(f"{who}: settings must be a dataclass, got {settings!r}")
    fields = [f.name for f in dataclasses.fields(settings)]
    no_default = [f.name for f in dataclasses.fields(settings) if f.init and f.default is dataclasses.MISSING
                  and f.default_factory is dataclasses.MISSING]
    if no_default:
        raise ValueError(f"{who}: setting {no_default[0]!r} of {settings.__name__} has no default; every setting "
                         "needs one (a config's [task] table may leave any out)")
    _check_field(who, "its length setting", length, settings, fields)
    if isinstance(features, bool) or not isinstance(features, int) or features < 1:
        raise ValueError(f"{who}: features (input channels per step) must be a whole number >= 1, got {features!r}")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 0 or classes == 1:
        raise ValueError(f"{who}: classes must be 0 (regression) or the number of classes (2 or more), "
                         f"got {classes!r}")
    _one_of(who, "loss", loss, TASK_LOSSES)
    _one_of(who, "metric", metric, TASK_METRICS)
    if (loss == "cross_entropy") != bool(classes) or (metric == "test_ce") != bool(classes):
        raise ValueError(f"{who}: classification (classes > 0) goes with cross_entropy and test_ce")
    if hasattr(modes, "__iter__") and not isinstance(modes, (str, bytes)):
        modes = list(modes)  # once: a generator checked below would otherwise register empty
    _check_mode_pairs(who, modes)
    for what, fn, optional in (("steps", steps, False), ("baseline", baseline, False),
                               ("extra_metrics", extra_metrics, True), ("check", check, True),
                               ("quick", quick, True)):
        _check_callable(who, what, fn, optional)
    if isinstance(solved_below, bool) or not isinstance(solved_below, (int, float)) or not 0 < solved_below < 1:
        raise ValueError(f"{who}: solved_below must lie between 0 and 1 (the share of the baseline below which a "
                         f"run has solved the task), got {solved_below!r}")
    if not isinstance(solved_reason, str) or not solved_reason.strip():
        raise ValueError(f"{who}: solved_reason must say why solved_below means solved, got {solved_reason!r}")
    _one_of(who, "section", section, REPORT_SECTIONS)
    if not isinstance(forecast, bool):
        raise ValueError(f"{who}: forecast must be True or False, got {forecast!r}")
    if not isinstance(test_settings or {}, dict):
        raise ValueError(f"{who}: test_settings must be a dict of settings, got {test_settings!r}")
    for setting in test_settings or {}:
        _check_field(who, "test setting", setting, settings, fields)
    if not isinstance(limits or {}, dict):
        raise ValueError(f"{who}: limits must be a dict of setting: (low, high), got {limits!r}")
    for setting, bounds in (limits or {}).items():
        _check_field(who, "limit on", setting, settings, fields)
        if isinstance(bounds, (str, bytes)) or not hasattr(bounds, "__len__") or len(bounds) != 2:
            raise ValueError(f"{who}: limit on {setting!r} must be (low, high), None for no bound, got {bounds!r}")
        low, high = bounds
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
            tuple(sorted((test_settings or {}).items())), _doc_summary(generate), source,
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
