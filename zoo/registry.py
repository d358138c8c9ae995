"""Cell and mode registries: the only mutable global state in rnn-zoo.

A cell builder takes ``units`` and returns a Keras RNN cell (an object with
``state_size`` and ``call(inputs, states)``); the modes wrap it in
``keras.layers.RNN``. A mode builder takes a cell factory and the task's window
and horizon and returns a ``keras.Model``.

Built-in cells register themselves when ``zoo.cells`` is imported. Cells from
other packages are found through the entry-point group ``rnn_zoo.cells``: each
entry point names a module (importing it registers its cells) or a builder.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

ENTRY_POINT_GROUP = "rnn_zoo.cells"


class UnknownNameError(KeyError, ValueError):
    """A cell or mode name that is not registered."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


class DuplicateNameError(ValueError):
    """Two builders registered under the same name."""


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


@dataclass(frozen=True)
class ModeSpec:
    """A registered sequence-mapping mode.

    ``param_count(cell_params, units, window, horizon)`` is the closed-form
    number of weights of the whole model, given the cell's own count function.
    ``layout`` ("one" or "many") and ``target`` ("next", "horizon" or
    "synced") tell ``zoo.tasks`` how to cut the windows. ``required`` marks the
    four modes of the default grid.
    """

    name: str
    builder: Callable
    param_count: Callable
    layout: str
    target: str
    description: str
    required: bool


_CELLS: dict[str, CellSpec] = {}
_MODES: dict[str, ModeSpec] = {}
_plugins_loaded = False


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
            raise DuplicateNameError(
                f"cell {name!r} is registered twice: by {old.source} and by {source}"
            )
        _CELLS[name] = CellSpec(name, builder, param_count, _first_line(builder), source, gates)
        return builder

    return decorate


def register_mode(
    name: str, *, layout: str, target: str, param_count: Callable, required: bool = True
):
    """Register a mode builder under ``name``; returns the builder unchanged."""

    def decorate(builder):
        _MODES[name] = ModeSpec(
            name, builder, param_count, layout, target, _first_line(builder), required
        )
        return builder

    return decorate


def _load_builtins() -> None:
    importlib.import_module("zoo.cells")
    importlib.import_module("zoo.modes")


def load_plugins() -> None:
    """Import the cells that other packages declare under ``rnn_zoo.cells``.

    A plugin that fails to import gives a warning naming it; the built-in cells
    and the other plugins stay usable. A name clash is an error, not a warning:
    silently picking one of two cells would make results ambiguous.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except DuplicateNameError:
            raise
        except Exception as exc:  # a broken plugin must not take the zoo down
            warnings.warn(
                f"rnn-zoo: cell plugin {ep.name!r} ({ep.value}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                stacklevel=2,
            )


def _ensure_loaded() -> None:
    _load_builtins()
    load_plugins()


def closest(name: str, choices) -> str | None:
    """The registered name closest to ``name``, or None when nothing is close."""
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.4)
    return found[0] if found else None


def unknown_name_message(kind: str, name, choices) -> str:
    choices = sorted(choices)
    msg = f"unknown {kind} {name!r}; valid choices: {', '.join(choices)}"
    near = closest(str(name), choices)
    if near is not None:
        msg += f" (did you mean {near!r}?)"
    return msg


def list_cells(pattern: str = "*") -> list[str]:
    """Registered cell names matching an fnmatch ``pattern``, sorted."""
    _ensure_loaded()
    return sorted(n for n in _CELLS if fnmatch.fnmatch(n, pattern))


def list_modes(pattern: str = "*", *, required_only: bool = False) -> list[str]:
    """Registered mode names matching ``pattern``, in registration order."""
    _ensure_loaded()
    return [
        n
        for n, spec in _MODES.items()
        if fnmatch.fnmatch(n, pattern) and (spec.required or not required_only)
    ]


def get_cell(name: str) -> CellSpec:
    _ensure_loaded()
    try:
        return _CELLS[name]
    except KeyError:
        raise UnknownNameError(unknown_name_message("cell", name, _CELLS)) from None


def get_mode(name: str) -> ModeSpec:
    _ensure_loaded()
    try:
        return _MODES[name]
    except KeyError:
        raise UnknownNameError(unknown_name_message("mode", name, _MODES)) from None
