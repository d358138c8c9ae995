"""The zoo's gradient probes on a user's own Keras model (``zoo.diagnose``, ``zoo.ProbeCallback``).

Every recurrent layer of the model (``SimpleRNN``, ``GRU``, ``LSTM``,
``RNN(cell)`` with any cell, both directions of a ``Bidirectional``, at any
depth of a functional, ``Sequential`` or subclassed model) is found, and its
per-step cell path is rebuilt from its own cell, sharing the layer's weights.
Keras's fused paths (cuDNN LSTM, GRU's precomputed scan) hide the per-step
states; the cell path shows them, and is checked against the layer's own
output before anything is measured.

Each layer's input sequence (and mask) is captured while the model itself
runs: the layer's ``call`` is wrapped for the length of one traced call and
restored after it, so the model is never changed. The measurements are the
zoo's own probes (``zoo.engine.probes.state_jacobian_fn``; the spectrum and
gates probes' ``spectrum_fn`` and ``gate_means_fn``, run here on every layer, a
masked or backward one included), given the layer's cell and its captured
inputs; nothing here re-implements them.

Everything is compiled once per ``Diagnoser`` and takes the weights as
arguments, so a callback probes every epoch without compiling again.
"""

from __future__ import annotations

import importlib
import inspect
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from zoo import probes as probe_folders
from zoo.core import catalog
from zoo.core.config import ConfigError, show
from zoo.core.registry import closest
from zoo.engine import backend, probes
from zoo.engine.probe_program import (
    InputSplit,
    ProbeContext,
    check_output,
    compiled_with_xla,
    output_step,
    rows_of,
)

# The share of sequences of the probe batch the spectrum is taken over is the zoo's
# (``probes.spectrum_batch``); these are the cells whose gates the zoo knows.
KNOWN_GATES = {keras.layers.LSTMCell: "lstm", keras.layers.GRUCell: "gru"}
# The gates probe's measure (zoo/probes/gates): its gate means run on every layer, masked or backward too.
GATES = importlib.import_module("zoo.probes.gates.measure")
SPECTRUM = importlib.import_module("zoo.probes.spectrum.measure")  # and the spectrum's, with its mask
# Cell path vs the layer's own output: float32 over a few hundred steps.
PARITY_ATOL, PARITY_RTOL = 2e-4, 2e-3
HISTOGRAM_BINS = 30


class DiagnoseError(ConfigError):
    """A model, data or loss that ``zoo.diagnose`` cannot measure; one line, the model untouched."""


@dataclass
class Recurrent:
    """One recurrent layer (or one direction of a ``Bidirectional``) as the probes see it."""

    name: str  # "lstm", "bidirectional.forward"
    layer: keras.layers.RNN  # the layer whose call is wrapped
    cell: keras.layers.Layer
    kind: str  # "LSTM", "RNN(MyCell)"
    go_backwards: bool

    @property
    def units(self) -> int:
        return probes.state_sizes(self.cell)[0]


def _kind(layer: keras.layers.RNN) -> str:
    if type(layer) is keras.layers.RNN:
        return f"RNN({type(layer.cell).__name__})"
    return type(layer).__name__


def _refuse_unrollable(name: str, layer: keras.layers.RNN) -> None:
    """A layer whose steps the probes cannot rebuild: say which and why."""
    cell = layer.cell
    sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
        raise DiagnoseError(
            f"layer {name!r} ({_kind(layer)}): its cell's state_size is {show(cell.state_size)}, not a list of "
            "vector sizes; the zoo unrolls cells whose states are vectors (SimpleRNN, GRU, LSTM, RNN(cell) with "
            "state_size an int or a list of ints)")
    if getattr(layer, "stateful", False):
        raise DiagnoseError(
            f"layer {name!r} ({_kind(layer)}): stateful=True, so its first state is the previous batch's; the "
            "zoo's probes start each sequence from zeros (build the model with stateful=False to diagnose it)")


def find_recurrent(model: keras.Model) -> list[Recurrent]:
    """The model's recurrent layers in the order Keras tracks them (input side first)."""
    found, inner = [], set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Bidirectional):
            for direction, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
                name = f"{layer.name}.{direction}"
                _refuse_unrollable(name, sub)
                found.append(Recurrent(name, sub, sub.cell, f"Bidirectional({_kind(sub)})", sub.go_backwards))
                inner.add(id(sub))
        elif isinstance(layer, keras.layers.RNN) and id(layer) not in inner:
            _refuse_unrollable(layer.name, layer)
            found.append(Recurrent(layer.name, layer, layer.cell, _kind(layer), layer.go_backwards))
    return found


def gate_function(cell) -> Callable | None:
    """The zoo's gate function for a cell it knows (Keras's LSTM and GRU cells, a cell with ``gates``)."""
    for cls, name in KNOWN_GATES.items():
        if type(cell) is cls:
            return catalog.get_cell(name).gate_fn(cell)
    return getattr(cell, "gates", None)


@contextmanager
def capturing(layers: list[Recurrent], deltas=None):
    """Wrap each layer's ``call`` so it records (inputs, mask, initial_state, output), and
    adds ``deltas[i]`` to its inputs (so dL/d(inputs) is the gradient at the delta).
    Restored on exit, whatever happens: the model is never left changed."""
    captured: list = [None] * len(layers)
    for i, rec in enumerate(layers):
        original = rec.layer.call
        signature = inspect.signature(original)

        def wrapper(*args, _i=i, _original=original, _signature=signature, **kwargs):
            bound = _signature.bind(*args, **kwargs)
            names = list(bound.arguments)
            sequences = bound.arguments[names[0]]
            if deltas is not None:
                sequences = sequences + ops.cast(deltas[_i], sequences.dtype)
                bound.arguments[names[0]] = sequences
            out = _original(*bound.args, **bound.kwargs)
            captured[_i] = (sequences, bound.arguments.get("mask"), bound.arguments.get("initial_state"), out)
            return out

        object.__setattr__(rec.layer, "call", wrapper)  # past Keras's attribute tracking: nothing is tracked
    try:
        yield captured
    finally:
        for rec in layers:
            rec.layer.__dict__.pop("call", None)


@contextmanager
def replacing(rec: Recurrent, output):
    """Wrap the layer's ``call`` so it returns ``output`` (its output sequence, or last step) instead
    of computing it: the rest of the model then runs from there. Restored on exit."""

    def wrapper(*args, **kwargs):
        return output

    object.__setattr__(rec.layer, "call", wrapper)
    try:
        yield
    finally:
        rec.layer.__dict__.pop("call", None)


@dataclass
class _LayerView:
    """What a registered probe reads of "the layer that reads the input": its name and input shape."""

    name: str
    input: object
    cell: object


class LayerContext(ProbeContext):
    """A registered probe's context (``zoo.engine.probe_program.ProbeContext``) for one recurrent
    layer of a user's model, at any depth: the model is cut at that layer by wrapping its ``call``
    (``capturing`` for the front, ``replacing`` for the rest), so no sub-model is built and
    subclassed models work too. The probe's own ``measure`` runs unchanged on it."""

    def __init__(self, diagnoser: "Diagnoser", rec: Recurrent, input_shape: tuple):
        super().__init__(diagnoser.model, layout="user_model", loss_kind="")
        self.diagnoser, self.rec, self.input_shape = diagnoser, rec, input_shape
        self._x: list = []  # the model input of the call being traced: the front sees it, the rest reruns from it

    def loss(self, pred, y):
        return ops.mean(self.diagnoser.loss(y, pred))

    def predict(self, tv, ntv, x):
        return self.model.stateless_call(tv, ntv, x, **self.diagnoser._not_training)[0]

    def input_layer(self):
        return _LayerView(self.rec.name, keras.KerasTensor(self.input_shape), self.rec.cell)

    def gate_function(self):
        return gate_function(self.rec.cell)

    def reads_model_input(self) -> bool:
        return True  # its front is the layer's own captured input, whatever is in front of it

    def input_split(self) -> InputSplit:
        rec, model, stash = self.rec, self.model, self._x
        not_training = self.diagnoser._not_training

        def front(tv, ntv, x):
            stash[:] = [x]
            with capturing([rec]) as captured:
                model.stateless_call(tv, ntv, x, **not_training)
            return ops.convert_to_tensor(captured[0][0])

        def rest(tv, ntv, out):
            with replacing(rec, out):
                return model.stateless_call(tv, ntv, stash[0], **not_training)[0]

        cell_vars = rec.cell.trainable_variables
        return InputSplit(front, rest, output_step(rec.cell), [self.diagnoser.paths.index(v.path) for v in cell_vars],
                          [v.path for v in cell_vars], int(sum(probes.state_sizes(rec.cell))),
                          bool(getattr(rec.layer, "return_sequences", False)),
                          getattr(rec.cell, "RECURRENT_WEIGHTS", None))


def per_sample_loss_fn(model: keras.Model, loss) -> Callable:
    """``fn(y, pred) -> (batch,)``: each sample's loss, from ``loss`` or the model's compiled loss."""
    given = loss
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise DiagnoseError("loss = None and the model is not compiled with a loss: pass loss=, e.g. "
                                "loss='mse' or loss=keras.losses.SparseCategoricalCrossentropy()")
    if isinstance(loss, (list, tuple, dict)):
        raise DiagnoseError(f"loss = {show(loss)}: one loss for the model's one output is supported")
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError:
            names = [n for n in dir(keras.losses) if not n.startswith("_") and n[0].islower()]
            raise DiagnoseError(f"loss = {show(given if given is not None else loss)}: not a Keras loss; "
                                f"e.g. {', '.join(names[:6])} (nearest: {closest(str(loss), names)})") from None
    if not callable(loss):
        raise DiagnoseError(f"loss = {show(loss)}: expected a Keras loss (a name, a Loss or a function)")
    call = loss.call if isinstance(loss, keras.losses.Loss) else loss

    def fn(y, pred):
        values = call(y, pred)
        if len(values.shape) > 1:  # a loss per step or per output: each sample's mean
            values = ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)
        return values

    return fn


def _dense(grad, like):
    """A gradient as a dense tensor: TensorFlow gives an Embedding's as IndexedSlices, and None for unused weights."""
    if grad is None:
        return ops.zeros(like.shape, like.dtype)
    if backend.BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(grad)
    return grad


def _shape_text(shape) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"


def check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise DiagnoseError(f"model = {show(model)}: expected a Keras 3 model (keras.Model, Sequential or a subclass)")
    if not model.built:
        raise DiagnoseError(
            f"model {model.name!r} is not built: call it on a batch or build it first "
            "(e.g. model(x[:1]), or give Sequential an keras.Input(shape=...))")


def check_data(model: keras.Model, x, y) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` as arrays whose shapes fit the model, checked before any work."""
    try:
        x, y = np.asarray(x), np.asarray(y)
    except (TypeError, ValueError) as exc:
        raise DiagnoseError(f"x, y: expected arrays ({exc})") from None
    if x.ndim < 2 or x.dtype == object:
        raise DiagnoseError(f"x of shape {x.shape}: expected a batch of sequences, (batch, steps[, features])")
    if len(y) != len(x):
        raise DiagnoseError(f"x has {len(x)} samples and y {len(y)}: they must have the same first dimension")
    if len(x) == 0:
        raise DiagnoseError("x is empty: give at least one sequence")
    inputs = getattr(model, "inputs", None)
    try:
        expected = tuple(inputs[0].shape) if inputs and len(inputs) == 1 else None
    except (AttributeError, ValueError):
        expected = None
    if expected is not None:
        fits = len(expected) == x.ndim and all(e is None or e == s for e, s in zip(expected[1:], x.shape[1:]))
        if not fits:
            raise DiagnoseError(f"x of shape {x.shape} does not fit the model's input {_shape_text(expected)}")
    return x, y


class Diagnoser:
    """Compiled probes of one model on a probe batch of fixed shape.

    ``measure(x, y)`` returns the raw numbers (numpy) of every recurrent layer
    at the model's current weights; ``zoo.report.diagnosis.Diagnosis`` turns
    them into tables and figures. Building one checks everything first:
    ``DiagnoseError`` (one line) for a model, data or loss it cannot measure.
    """

    def __init__(self, model: keras.Model, x, y, loss=None, spectrum_sequences: int | None = None):
        check_model(model)
        # The spectrum (an SVD and a QR step per step and sequence: its cost grows with steps x n^3)
        # is taken over the zoo's share of the batch (``probes.spectrum_batch``), or over at most this many.
        self.spectrum_sequences = spectrum_sequences
        self.model = model
        self.layers = find_recurrent(model)
        if not self.layers:
            kinds = sorted({type(layer).__name__ for layer in model._flatten_layers(include_self=False)})
            raise DiagnoseError(
                f"model {model.name!r} has no recurrent layer (it has {', '.join(kinds) or 'no layers'}); "
                "zoo.diagnose measures SimpleRNN, GRU, LSTM, RNN(cell) and Bidirectional layers")
        x, y = check_data(model, x, y)
        self.loss = per_sample_loss_fn(model, loss)
        self.batch = len(x)
        # training=False where the model's call takes it (a subclassed model's may not)
        self._not_training = {"training": False} if getattr(model, "_call_has_training_arg", True) else {}
        self._first_look(x, y)  # eager: shapes, masks and the parity check of each cell path
        self._compile()
        self._registered: tuple[list, list[str]] | None = None  # compiled at the first ``registered``

    # -- one eager call: what each layer receives, and whether its cell path reproduces it
    def _first_look(self, x, y) -> None:
        model = self.model
        try:
            with capturing(self.layers) as captured:
                pred = model(x, **self._not_training)
        except Exception as exc:  # the model's own error, on one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DiagnoseError(f"x of shape {x.shape} does not fit model {model.name!r}: {first[:300]}") from None
        pred_shape = tuple(getattr(pred, "shape", ()))
        fits = (y.shape == pred_shape or y.shape == pred_shape[:-1]  # values, or class ids
                or (y.shape[:-1] == pred_shape[:-1] and y.shape[-1:] == (1,)))
        if not fits:
            raise DiagnoseError(f"y of shape {y.shape} does not fit the model's output {_shape_text(pred_shape)}: "
                                "expected the same shape (or class ids without the last axis)")
        try:
            values = ops.convert_to_numpy(self.loss(ops.convert_to_tensor(y), pred))
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            pred_shape = _shape_text(getattr(pred, "shape", ()))
            raise DiagnoseError(f"y of shape {y.shape} does not fit the model's output {pred_shape} "
                                f"under the loss: {first[:300]}") from None
        if values.shape != (len(x),) or not np.all(np.isfinite(values)):
            raise DiagnoseError(f"y of shape {y.shape}: the loss gave {values.shape} values, expected one "
                                f"finite value per sample ({len(x)})")
        self.input_shapes, self.masked = [], []
        for rec, seen in zip(self.layers, captured):
            if seen is None:
                raise DiagnoseError(f"layer {rec.name!r} ({rec.kind}) is not called when the model runs on x")
            sequences, mask, initial_state, out = seen
            if initial_state is not None:
                raise DiagnoseError(
                    f"layer {rec.name!r} ({rec.kind}) starts from a given initial_state (an encoder's, say); "
                    "the zoo's probes start each sequence from zeros, so it cannot unroll this layer")
            if len(sequences.shape) != 3:
                raise DiagnoseError(f"layer {rec.name!r} ({rec.kind}) reads inputs of shape "
                                    f"{_shape_text(sequences.shape)}; the zoo unrolls (batch, steps, features)")
            self.input_shapes.append(tuple(sequences.shape))
            self.masked.append(mask is not None)
            self._check_parity(rec, sequences, mask, out)

    def _check_parity(self, rec: Recurrent, sequences, mask, out) -> None:
        """The cell path (the zoo's step) must give the layer's own last output: else the layer
        computes something its cell does not show, and nothing measured would be about it."""
        sizes, step = probes.cell_step(rec.cell, masked=mask is not None, output=True)
        xs = self._ordered(rec, sequences, mask)
        cell_vars = [v.value for v in rec.cell.trainable_variables]
        theirs = out[0] if isinstance(out, (list, tuple)) else out
        theirs = ops.convert_to_numpy(theirs)
        if theirs.ndim == 3:  # return_sequences: the last step it processed
            theirs = theirs[:, -1]
        # The cell's own output, not its first state: the LRU's is Re(Ch) + Dx.
        start = (ops.zeros((xs.shape[0], sum(sizes))), ops.zeros(theirs.shape))

        def one_step(carry, x_t):
            state, output = step(cell_vars, x_t, *carry)
            return (state, output), output

        _, outputs = backend.scan(one_step, start, ops.moveaxis(xs, 1, 0))
        mine = ops.convert_to_numpy(outputs[-1])
        if theirs.shape != mine.shape or not np.allclose(mine, theirs, atol=PARITY_ATOL, rtol=PARITY_RTOL):
            diff = np.max(np.abs(mine - theirs)) if theirs.shape == mine.shape else f"shape {theirs.shape}"
            raise DiagnoseError(
                f"layer {rec.name!r} ({rec.kind}): stepping its cell does not reproduce the layer's output "
                f"(largest difference {diff}); the layer computes more than its cell's steps (or its output is "
                "not the cell's first state), so the zoo cannot unroll it")

    @staticmethod
    def _ordered(rec: Recurrent, sequences, mask):
        """The layer's inputs in the order it processes them, with the mask as a last feature."""
        xs = ops.convert_to_tensor(sequences)
        if mask is not None:
            xs = ops.concatenate([xs, ops.cast(ops.expand_dims(mask, -1), xs.dtype)], axis=-1)
        return ops.flip(xs, 1) if rec.go_backwards else xs

    # -- the compiled functions, built once
    def _compile(self) -> None:
        model, layers, loss = self.model, self.layers, self.loss
        self.paths = [v.path for v in model.trainable_variables]
        owner = {}
        for rec in layers:
            for v in rec.cell.trainable_variables:
                owner[id(v)] = rec.name
        groups = []
        for v in model.trainable_variables:
            leaf = v.path.split("/")[-1]
            if id(v) in owner:
                groups.append(f"{owner[id(v)]}.{'input_kernel' if leaf == 'kernel' else leaf}")
            else:
                path = v.path.removeprefix(f"{model.name}/")  # Sequential's paths start with its name
                groups.append(path.replace("/", "."))
        self.group_of = groups
        self.groups = list(dict.fromkeys(groups))

        def forward(params, ntv, x, y):
            deltas, tv = params
            with capturing(layers, deltas) as captured:
                pred, _ = model.stateless_call(tv, ntv, x, **self._not_training)
            total = ops.sum(loss(y, pred))
            inputs = [ops.convert_to_tensor(c[0]) for c in captured]
            masks = [ops.ones(c[0].shape[:2]) if c[1] is None else ops.cast(c[1], "float32") for c in captured]
            return total, (inputs, masks)

        value_and_grad = backend.value_and_grad(forward)

        def gradients(tv, ntv, x, y):
            deltas = [ops.zeros(shape) for shape in self.input_shapes]
            (total, (inputs, masks)), (d_inputs, d_tv) = value_and_grad((deltas, tv), ntv, x, y)
            d_tv = [_dense(g, v) for g, v in zip(d_tv, tv)]
            return total, inputs, masks, list(d_inputs), d_tv

        self.gradients = backend.compile_fn(gradients)
        self.chains, self.spectra, self.gates = [], [], []
        for rec, masked in zip(layers, self.masked):
            sizes, step = probes.cell_step(rec.cell, masked=masked)
            self.chains.append(backend.compile_fn(probes.state_jacobian_fn(sizes, step)))
            # Outside XLA on TensorFlow, as the zoo's own probes (its XLA SVD is slow on a CPU).
            stats = SPECTRUM.spectrum_fn(sizes, step, backend.batch_jacobian, backend.scan)
            self.spectra.append(backend.compile_fn(stats, xla=compiled_with_xla(SPECTRUM)))
            gates = gate_function(rec.cell)
            self.gates.append(
                backend.compile_fn(GATES.gate_means_fn(rec.cell, gates, rec.cell.trainable_variables, backend.scan))
                if gates is not None else None)

    def cell_values(self, rec: Recurrent, tv) -> list:
        index = [self.paths.index(v.path) for v in rec.cell.trainable_variables]
        return [tv[i] for i in index]

    def measure(self, x, y, tv=None, ntv=None, spectrum: bool = True) -> dict:
        """Every layer's probes at the weights ``tv``, ``ntv`` (default: the model's own).

        ``spectrum=False`` leaves out the one-step Jacobian's spectrum (its columns NaN; the
        top exponent, from the lag chain, stays): its SVDs and QR steps are most of the cost."""
        model = self.model
        tv = [v.value for v in model.trainable_variables] if tv is None else tv
        ntv = [v.value for v in model.non_trainable_variables] if ntv is None else ntv
        x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        total, inputs, masks, d_inputs, d_tv = self.gradients(tv, ntv, x, y)
        batch = int(x.shape[0])
        layer_rows, probe_rows, gate_rows = [], [], []
        for k, rec in enumerate(self.layers):
            mask = np.asarray(ops.convert_to_numpy(masks[k]), np.float64) > 0
            grads = np.asarray(ops.convert_to_numpy(d_inputs[k]), np.float64)
            if rec.go_backwards:
                mask, grads = mask[:, ::-1], grads[:, ::-1]
            xs = self._ordered(rec, inputs[k], masks[k] if self.masked[k] else None)
            cell_vars = self.cell_values(rec, tv)
            plain, scaled, exponents, chain, chain_exponent = self.chains[k](cell_vars, xs)
            real = mask.sum(axis=1).astype(int)
            if self.masked[k]:
                dh = _real_lag_norms(plain, scaled, exponents, mask)
            else:
                dh = probes.mean_norms(plain, scaled, exponents)
            steps = int(max(real.max(), 1))
            with _one_blas_thread():
                top = probes.top_exponent(chain, chain_exponent, steps)
            sequences = probes.spectrum_batch(int(xs.shape[1]))
            if self.spectrum_sequences is not None:
                sequences = min(sequences, self.spectrum_sequences)
            stats = {key: float(v) for key, v in self.spectra[k](cell_vars, xs[:sequences]).items()} if spectrum \
                else {key: math.nan for key in probes.SPECTRUM_COLUMNS}
            stats["lyapunov_top"] = top
            dl_dx = _real_lag_rms(np.sum(grads**2, axis=2), mask)
            for lag in range(len(dh)):
                probe_rows.append({
                    "layer": rec.name, "lag": lag,
                    "dL_dx": float(dl_dx[lag]) if lag < len(dl_dx) else None,
                    "dhT_dht": float(dh[lag]),
                    **{c: stats.get(c) for c in probes.SPECTRUM_COLUMNS},
                })
            if self.gates[k] is not None:
                seq = ops.flip(inputs[k], 1) if rec.go_backwards else inputs[k]
                for name, value in sorted(self.gates[k](cell_vars, seq).items()):
                    gate_rows.append({"layer": rec.name, "gate": name, "mean": float(value)})
            layer_rows.append({
                "layer": rec.name, "kind": rec.kind, "cell": type(rec.cell).__name__, "units": rec.units,
                "state_size": int(sum(probes.state_sizes(rec.cell))), "steps": int(mask.shape[1]),
                "masked": self.masked[k], "go_backwards": rec.go_backwards,
            })
        grad_rows, histograms = [], {}
        values = [np.asarray(ops.convert_to_numpy(g), np.float64) / batch for g in d_tv]  # of the mean loss
        for group in self.groups:
            flat = np.concatenate([v.ravel() for v, g in zip(values, self.group_of) if g == group])
            grad_rows.append({"group": group, "norm": float(np.sqrt(np.sum(flat**2))),
                              "max_abs": float(np.max(np.abs(flat))), "size": int(flat.size)})
            histograms[group] = flat
        return {
            "loss": float(ops.convert_to_numpy(total)) / batch,
            "layers": layer_rows, "probes": probe_rows, "gradients": grad_rows, "gates": gate_rows,
            "histograms": histograms,
        }


    # -- the registered probes (zoo.probes: the gradient's time profile), compiled at the first call
    def _not_applicable(self, k: int, rec: Recurrent) -> str | None:
        """Why the registered probes cannot run on this layer's cell path, or None."""
        if self.masked[k]:
            return "it reads a mask, and a registered probe steps the cell over every step"
        if rec.go_backwards:
            return "it reads its sequence backwards (go_backwards, or a Bidirectional's backward direction)"
        if getattr(rec.layer, "return_state", False):
            return "it returns its states too (return_state=True)"
        return None

    def _compile_registered(self) -> tuple[list, list[str]]:
        programs, notes = [], []
        for name in probe_folders.list_probes():
            spec = probe_folders.get_probe(name)
            if spec.during == "step" or name in ("input_gradient", "state_jacobian"):
                continue  # a statistic of a training step; ``measure`` gives the probe batch's gradients
            module = probe_folders.measure_module(spec)
            for k, rec in enumerate(self.layers):
                reason = self._not_applicable(k, rec)
                ctx = None if reason else LayerContext(self, rec, self.input_shapes[k])
                fn = None if reason else module.measure(ctx)
                if reason is None and fn is None:
                    # The probe's own documented rule (an ungated cell has no gates): its table simply has
                    # no rows for the layer. Notes are for what the diagnoser itself cannot cut.
                    continue
                if reason:
                    notes.append(f"{name} does not apply to layer {rec.name!r}: {reason}")
                    continue
                split = ctx.input_split()
                if len(split.recurrent) == len(split.cell_paths) and name == "grad_time_profile":
                    notes.append(f"{name} on layer {rec.name!r}: its cell has no recurrent weight of its own, so the "
                                 "profile is that of all its weights (the probe's rule)")
                programs.append((spec, rec.name, backend.compile_fn(fn, xla=compiled_with_xla(module))))
        return programs, notes

    def registered(self, x, y, tv=None, ntv=None) -> tuple[dict[str, list[dict]], list[str]]:
        """Every registered probe (``zoo.probes``) on every layer it applies to, run by the probe's own
        ``measure``: rows by probe name (a ``layer`` column, then the probe's unit and columns), and
        a line for each probe and layer it does not apply to, saying why."""
        if self._registered is None:
            self._registered = self._compile_registered()
        programs, notes = self._registered
        tv = [v.value for v in self.model.trainable_variables] if tv is None else tv
        ntv = [v.value for v in self.model.non_trainable_variables] if ntv is None else ntv
        x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        tables: dict[str, list[dict]] = {}
        for spec, layer, fn in programs:
            rows = rows_of(spec, 0, check_output(spec, fn(tv, ntv, x, y)))
            tables.setdefault(spec.name, []).extend(
                {"layer": layer, **{k: v for k, v in row.items() if k != "epoch"}} for row in rows)
        return tables, list(notes)


@contextmanager
def _one_blas_thread():
    """numpy's LAPACK on one thread for the small SVDs here: beside XLA's or TensorFlow's busy
    thread pools, a multi-threaded OpenBLAS spun 100x longer (2.7 s instead of 0.03 s for eight
    128 x 128 matrices), most of a callback's per-epoch cost."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def _real_lag_norms(plain, scaled, exponents, mask: np.ndarray) -> np.ndarray:
    """Mean ‖dh_T/dh_t‖ by lag counted in real (unmasked) steps.

    A masked step keeps the state, so its Jacobian is the identity and the norm
    at a raw lag equals the norm at the real lags it spans: each sample's norm
    at real lag l is its norm at the first raw lag covering l real steps; the
    mean is over the samples that have l real steps. Lag 0 is the identity's norm.
    """
    norms = np.asarray(scaled, np.float64) * np.exp2(-np.asarray(exponents, np.float64))  # (T, batch), raw lag 1..T
    counted = np.cumsum(mask[:, ::-1], axis=1)  # (batch, T): real steps within raw lags 1..T
    real = mask.sum(axis=1).astype(int)
    out = [float(np.asarray(plain)[0])]
    for lag in range(1, int(real.max()) + 1):
        have = np.flatnonzero(real >= lag)
        raw = np.argmax(counted[have] >= lag, axis=1)  # the first raw lag (minus one) spanning `lag` real steps
        out.append(float(np.mean(norms[raw, have])))
    return np.asarray(out)


def _real_lag_rms(squares: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RMS over the batch of each lag's gradient norm, lag 0 the last real step (processing order)."""
    batch = len(squares)
    real = mask.sum(axis=1).astype(int)
    if np.all(mask):
        return np.sqrt(np.mean(squares, axis=0))[::-1]
    by_lag = [[] for _ in range(int(real.max()))]
    for b in range(batch):
        positions = np.flatnonzero(mask[b])[::-1]  # last real step first
        for lag, t in enumerate(positions):
            by_lag[lag].append(squares[b, t])
    return np.sqrt(np.asarray([np.mean(v) for v in by_lag]))


def histogram(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    """A histogram of ``values`` as TensorBoard's HistogramProto fields."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        finite = np.zeros(1)
    counts, edges = np.histogram(finite, bins=bins)
    return {
        "min": float(finite.min()), "max": float(finite.max()), "num": float(len(finite)),
        "sum": float(finite.sum()), "sum_squares": float(np.sum(finite**2)),
        "bucket_limit": [float(e) for e in edges[1:]], "bucket": [float(c) for c in counts],
    }


def is_finite(number) -> bool:
    return number is not None and math.isfinite(number)
