"""The registered probes' program: every probe's ``measure`` compiled for one model shape.

A probe's ``measure(ctx)`` (``zoo.probes.<name>.measure``) receives a
``ProbeContext``: the model, its loss, the backend's scan and autodiff, and
the model cut at the recurrent layer that reads the input (``InputSplit``),
so a probe needs no per-cell or per-mode code. ``ProbePrograms.get(eng)``
compiles them once per model shape (shared by the seeds and optimizers of a
shape); ``values`` runs one probe and its NumPy ``finish`` where it has one,
and ``rows`` turns an epoch's values into the rows of ``probe_<name>.csv``,
checking them against the declared columns.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from zoo import probes as probe_folders
from zoo.core.probe_registry import KEYED_UNITS, ProbeSpec
from zoo.engine import backend
from zoo.engine.losses import per_sample_loss


def _state_sizes(cell) -> list[int]:
    return list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]


@dataclass
class InputSplit:
    """The model as front -> recurrent layer -> rest, cut at the layer that reads the input.

    ``front(tv, ntv, x)`` is the layer's input sequence (batch, steps, features);
    ``step(cell_vars, x_t, state) -> (output, state)`` one step of its cell on a
    flat state (h, or h and c side by side); ``rest(tv, ntv, out)`` the model's
    prediction from the layer's output (the last step's, or every step's when
    ``return_sequences``). ``cell_index`` are the cell's weights' positions in
    the model's trainable variables, ``cell_paths`` their paths.
    """

    front: Callable
    rest: Callable
    step: Callable
    cell_index: list[int]
    cell_paths: list[str]
    state_size: int
    return_sequences: bool
    # The cell's own list of the weights its recurrence runs through (``RECURRENT_WEIGHTS``), if it has one.
    recurrent_names: tuple[str, ...] | None = None

    @property
    def recurrent(self) -> list[int]:
        """Positions in ``cell_index`` of the recurrent weights: those the cell declares in
        ``RECURRENT_WEIGHTS`` (LEM's z_kernel, the LRU's λ), else those named ``recurrent*``,
        else (a cell whose recurrence has no weight of its own, such as minGRU) all the cell's."""
        names = [p.rsplit("/", 1)[-1] for p in self.cell_paths]
        declared = self.recurrent_names
        found = [j for j, n in enumerate(names)
                 if (n in declared if declared is not None else n.startswith("recurrent"))]
        return found or list(range(len(self.cell_paths)))


def output_step(cell) -> Callable:
    """``step(cell_vars, x_t, flat) -> (output, flat)``: one step of a built cell on a flat state
    (its states side by side), statelessly, with ``cell_vars`` the values of its trainable weights."""
    splits = list(np.cumsum(_state_sizes(cell))[:-1])
    cell_constants = [v.value for v in cell.non_trainable_variables]
    kwargs = {"training": False} if getattr(cell, "_call_has_training_arg", True) else {}

    def step(cell_vars, x_t, flat):
        states = list(ops.split(flat, splits, axis=-1)) if splits else [flat]
        (out, new), _ = cell.stateless_call(cell_vars, cell_constants, x_t, states, **kwargs)
        new = list(new) if isinstance(new, (list, tuple)) else [new]
        return out, ops.concatenate(new, axis=-1)

    return step


def _sub_call(sub: keras.Model, paths: list[str]):
    """``fn(tv, ntv, inputs)`` calling ``sub`` statelessly with its weights taken from the whole model's."""
    trainable = [paths.index(v.path) for v in sub.trainable_variables]
    constants = [v.value for v in sub.non_trainable_variables]

    def call(tv, ntv, inputs):
        return sub.stateless_call([tv[i] for i in trainable], constants, inputs, training=False)[0]

    return call


class ProbeContext:
    """What a probe's ``measure`` works with: the model, its loss and the backend's tools."""

    scan = staticmethod(backend.scan)
    grad = staticmethod(backend.grad)
    value_and_grad = staticmethod(backend.value_and_grad)
    batch_jacobian = staticmethod(backend.batch_jacobian)

    def __init__(self, model: keras.Model, layout: str, loss_kind: str, cell=None):
        self.model, self.layout, self.loss_kind = model, layout, loss_kind
        self.cell = cell  # the registered cell (``zoo.core.registry.CellSpec``) of the model, if known

    def gate_function(self):
        """``gates(x_t, states) -> {name: activation}`` of the input layer's cell, as its registered
        cell declares them; None for an ungated cell (or one the registry does not know)."""
        return None if self.cell is None else self.cell.gate_fn(self.input_layer().cell)

    def reads_model_input(self) -> bool:
        """Whether the input layer reads the model's input itself (no layer in front)."""
        return self.input_layer().input is self.model.inputs[0]

    def loss(self, pred, y):
        """The mean per-sample training loss of ``pred`` against ``y``."""
        return ops.mean(per_sample_loss(self.loss_kind, pred, y))

    def predict(self, tv, ntv, x):
        return self.model.stateless_call(tv, ntv, x, training=False)[0]

    def input_layer(self):
        """The recurrent layer that reads the input sequence."""
        names = [layer.name for layer in self.model.layers]
        return self.model.get_layer("encoder" if "encoder" in names else "rnn")

    def input_split(self) -> InputSplit:
        model, layer = self.model, self.input_layer()
        cell = layer.cell
        paths = [v.path for v in model.trainable_variables]
        sizes = _state_sizes(cell)
        front = keras.Model(model.inputs[0], layer.input)
        rest = keras.Model(layer.output, model.output)
        return InputSplit(
            _sub_call(front, paths), _sub_call(rest, paths), output_step(cell),
            [paths.index(v.path) for v in cell.trainable_variables], [v.path for v in cell.trainable_variables],
            sum(sizes), bool(layer.return_sequences), getattr(cell, "RECURRENT_WEIGHTS", None),
        )


def check_output(spec: ProbeSpec, out: dict) -> dict:
    """A probe's outputs as NumPy, refused unless they are its declared columns, of its unit's shape
    (a keyed unit's: ``{name: scalar}`` per column, the same names in each)."""
    if set(out) != set(spec.columns):
        raise ValueError(f"probe {spec.name!r} produced the columns {sorted(out)}; it declares {list(spec.columns)}")
    if spec.unit in KEYED_UNITS:
        keys = {tuple(sorted(v)) if isinstance(v, dict) else None for v in out.values()}
        values = {k: {name: np.asarray(x, np.float64) for name, x in v.items()} for k, v in out.items()
                  if isinstance(v, dict)}
        if len(keys) != 1 or None in keys or any(x.shape != () for v in values.values() for x in v.values()):
            raise ValueError(f"probe {spec.name!r} must return a {{{spec.unit} name: scalar}} dict per column, "
                             f"with the same names in each; got {sorted(out)}")
        return values
    values = {k: np.asarray(v, np.float64) for k, v in out.items()}
    shapes = {v.shape for v in values.values()}
    want = "scalars" if spec.unit == "epoch" else f"1-D arrays of one length (a value per {spec.unit})"
    if (spec.unit == "epoch" and shapes != {()}) or (spec.unit != "epoch" and (len(shapes) != 1 or
                                                                               len(next(iter(shapes))) != 1)):
        raise ValueError(f"probe {spec.name!r} must return {want}; got shapes {sorted(shapes)}")
    return values


def rows_of(spec: ProbeSpec, epoch: int, values: dict[str, np.ndarray]) -> list[dict]:
    """The rows of ``probe_<name>.csv`` for one probed epoch."""
    if spec.unit == "epoch":
        return [{"epoch": epoch, **{k: float(values[k]) for k in spec.columns}}]
    if spec.unit in KEYED_UNITS:
        names = sorted(next(iter(values.values())))
        return [{"epoch": epoch, spec.unit: name, **{k: float(values[k][name]) for k in spec.columns}}
                for name in names]
    n = len(next(iter(values.values())))
    return [{"epoch": epoch, spec.unit: i, **{k: float(values[k][i]) for k in spec.columns}} for i in range(n)]


def compiled_with_xla(module) -> bool:
    """Whether a probe's measure is compiled with XLA: unless its module sets ``XLA = False``
    (TensorFlow only: the spectrum's SVDs, which TensorFlow's XLA does slowly on a CPU)."""
    return bool(getattr(module, "XLA", True))


class ProbeProgram:
    """The compiled ``measure`` of every registered probe that applies to one model shape."""

    def __init__(self, model: keras.Model, layout: str, loss_kind: str, cell=None):
        ctx = ProbeContext(model, layout, loss_kind, cell)
        self.specs: dict[str, ProbeSpec] = {}
        self.fns: dict[str, Callable] = {}  # the compiled measures of the probes that apply
        self.finish: dict[str, Callable] = {}  # their NumPy last steps, where they have one
        for name in probe_folders.list_probes():
            spec = probe_folders.get_probe(name)
            self.specs[name] = spec
            if spec.during == "step":
                continue  # a statistic of the training step: compiled into it (zoo.engine.step_probes)
            module = probe_folders.measure_module(spec)
            fn = module.measure(ctx)
            if fn is not None:  # None: the probe does not apply to this model
                self.fns[name] = backend.compile_fn(fn, xla=compiled_with_xla(module))
                if getattr(module, "finish", None) is not None:
                    self.finish[name] = module.finish

    def values(self, name: str, tv, ntv, x, y) -> dict:
        """Probe ``name``'s columns at the weights ``tv``, ``ntv`` on the batch ``x``, ``y``: its compiled
        measure, then its ``finish`` (NumPy, outside the compiled program) where it has one, checked."""
        out = self.fns[name](tv, ntv, x, y)
        if name in self.finish:
            out = self.finish[name](out)
        return check_output(self.specs[name], out)

    def rows(self, epoch: int, tv, ntv, x, y) -> dict[str, list[dict]]:
        return {name: rows_of(self.specs[name], epoch, self.values(name, tv, ntv, x, y)) for name in self.fns}


class ProbePrograms:
    """Compiled probe programs by model shape (``zoo.engine.step.model_key``), bounded like ``ENGINES``."""

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._programs: OrderedDict = OrderedDict()

    def get(self, eng) -> ProbeProgram:
        key = eng.model_key
        if key not in self._programs:
            self._programs[key] = ProbeProgram(eng.template, eng.resolved.mode.layout, eng.resolved.loss,
                                               eng.resolved.cell)
            if len(self._programs) > self.maxsize:
                self._programs.popitem(last=False)
        self._programs.move_to_end(key)
        return self._programs[key]


PROGRAMS = ProbePrograms()
