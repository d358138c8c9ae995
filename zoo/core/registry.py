"""Cell, mode and task registries: name -> spec dicts behind small functions.

This is rnn-zoo's one piece of mutable global state. The ``register_*``
decorators fill it when a module that defines cells, modes or tasks is
imported; ``zoo.core.catalog`` decides which modules those are (the built-ins
and the entry points) and is what callers use to look names up.

A cell builder takes ``units`` and returns a Keras RNN cell (an object with
``state_size`` and ``call(inputs, states)``); the modes wrap it in
``keras.layers.RNN``. A mode builder takes a cell factory and the task's window
and horizon and returns a ``keras.Model``. Nothing here imports Keras.
"""

from __future__ import annotations

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
    """

    name: str
    builder: Callable
    param_count: Callable[[int, int], int]
    description: str
    source: str
    gates: Callable | None = None

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


_CELLS: dict[str, CellSpec] = {}
_MODES: dict[str, ModeSpec] = {}


def _first_line(obj) -> str:
    doc = (obj.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def _source_of(fn) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def register_cell(name: str, *, param_count: Callable[[int, int], int], gates: Callable | None = None):
    """Register a cell builder under ``name``; returns the builder unchanged.

    Example:
        @register_cell("gru", param_count=lambda i, u: 3 * (u * (i + u) + 2 * u))
        def gru(units: int = 64):
            "Gated recurrent unit (Cho et al. 2014), Keras's GRUCell."
            return keras.layers.GRUCell(units)
    """
    if not name.isidentifier():
        raise ValueError(f"cell name {name!r} is not a valid Python identifier")

    def decorate(builder):
        source = _source_of(builder)
        old = _CELLS.get(name)
        if old is not None and old.source != source:
            raise DuplicateNameError(f"cell {name!r} is registered twice: by {old.source} and by {source}")
        _CELLS[name] = CellSpec(name, builder, param_count, _first_line(builder), source, gates)
        return builder

    return decorate


def register_mode(name: str, *, layout: str, target: str, param_count: Callable, required: bool = True):
    """Register a mode builder under ``name``; returns the builder unchanged."""

    def decorate(builder):
        _MODES[name] = ModeSpec(name, builder, param_count, layout, target, _first_line(builder), required)
        return builder

    return decorate


def closest(name: str, choices) -> str | None:
    """The name in ``choices`` closest to ``name``, or None when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if str(name).lower() in lowered:  # a case slip is the likeliest typo of all
        return lowered[str(name).lower()]
    found = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.4)
    return found[0] if found else None


def unknown_name_message(kind: str, name, choices) -> str:
    choices = sorted(choices)
    msg = f"unknown {kind} {name!r}; valid choices: {', '.join(choices)}"
    near = closest(str(name), choices)
    if near is not None:
        msg += f" (did you mean {near!r}?)"
    return msg


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


def cell_names() -> list[str]:
    return sorted(_CELLS)


def mode_names(required_only: bool = False) -> list[str]:
    """In registration order, which is the order of the report's tables."""
    return [n for n, spec in _MODES.items() if spec.required or not required_only]
