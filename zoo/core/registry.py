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
import inspect
from typing import Callable

from zoo.core.names import UnknownNameError, unknown_name_message
from zoo.core.specs import REPORT_SECTIONS, TASK_LOSSES, TASK_METRICS, CellSpec, ModeSpec, TaskSpec


class DuplicateNameError(ValueError):
    """Two builders registered under the same name."""


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
        _CELLS[name] = CellSpec(name, builder, param_count, _doc_summary(builder), source, gates, claim, remedy,
                                tuple(published))
        return builder

    return decorate


def register_mode(name: str, *, layout: str, target: str, param_count: Callable, required: bool = True):
    """Register a mode builder under ``name``; returns the builder unchanged."""

    def decorate(builder):
        _MODES[name] = ModeSpec(name, builder, param_count, layout, target, _doc_summary(builder), required)
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
