"""The recurrent layers of a user's model as the probes see them: found, captured, checked.

Every recurrent layer (``SimpleRNN``, ``GRU``, ``LSTM``, ``RNN(cell)`` with
any cell, both directions of a ``Bidirectional``, at any depth of a
functional, ``Sequential`` or subclassed model) is found, and its per-step
cell path is rebuilt from its own cell, sharing the layer's weights. Keras's
fused paths (cuDNN LSTM, GRU's precomputed scan) hide the per-step states;
the cell path shows them, and ``first_look`` checks it against the layer's
own output before anything is measured.

Each layer's input sequence (and mask) is captured while the model itself
runs: the layer's ``call`` is wrapped for the length of one traced call and
restored after it, so the model is never changed.
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
from keras import ops

from zoo.core import catalog
from zoo.core.config import show
from zoo.engine import backend, probes
from zoo.engine.diagnose.checks import DiagnoseError, shape_text

# The cells whose gates the zoo knows.
KNOWN_GATES = {keras.layers.LSTMCell: "lstm", keras.layers.GRUCell: "gru"}
# Cell path vs the layer's own output: float32 over a few hundred steps.
PARITY_ATOL, PARITY_RTOL = 2e-4, 2e-3


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


def ordered(rec: Recurrent, sequences, mask):
    """The layer's inputs in the order it processes them, with the mask as a last feature."""
    xs = ops.convert_to_tensor(sequences)
    if mask is not None:
        xs = ops.concatenate([xs, ops.cast(ops.expand_dims(mask, -1), xs.dtype)], axis=-1)
    return ops.flip(xs, 1) if rec.go_backwards else xs


def first_look(model: keras.Model, layers: list[Recurrent], loss: Callable, x, y,
               not_training: dict) -> tuple[list[tuple], list[bool]]:
    """One eager call of the model on ``x``: whether ``y`` and the loss fit its output, what each
    layer receives (its input shape, and whether it reads a mask), and whether its cell path
    reproduces its output (``check_parity``)."""
    try:
        with capturing(layers) as captured:
            pred = model(x, **not_training)
    except Exception as exc:  # the model's own error, on one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DiagnoseError(f"x of shape {x.shape} does not fit model {model.name!r}: {first[:300]}") from None
    pred_shape = tuple(getattr(pred, "shape", ()))
    fits = (y.shape == pred_shape or y.shape == pred_shape[:-1]  # values, or class ids
            or (y.shape[:-1] == pred_shape[:-1] and y.shape[-1:] == (1,)))
    if not fits:
        raise DiagnoseError(f"y of shape {y.shape} does not fit the model's output {shape_text(pred_shape)}: "
                            "expected the same shape (or class ids without the last axis)")
    try:
        values = ops.convert_to_numpy(loss(ops.convert_to_tensor(y), pred))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pred_shape = shape_text(getattr(pred, "shape", ()))
        raise DiagnoseError(f"y of shape {y.shape} does not fit the model's output {pred_shape} "
                            f"under the loss: {first[:300]}") from None
    if values.shape != (len(x),) or not np.all(np.isfinite(values)):
        raise DiagnoseError(f"y of shape {y.shape}: the loss gave {values.shape} values, expected one "
                            f"finite value per sample ({len(x)})")
    input_shapes, masked = [], []
    for rec, seen in zip(layers, captured):
        if seen is None:
            raise DiagnoseError(f"layer {rec.name!r} ({rec.kind}) is not called when the model runs on x")
        sequences, mask, initial_state, out = seen
        if initial_state is not None:
            raise DiagnoseError(
                f"layer {rec.name!r} ({rec.kind}) starts from a given initial_state (an encoder's, say); "
                "the zoo's probes start each sequence from zeros, so it cannot unroll this layer")
        if len(sequences.shape) != 3:
            raise DiagnoseError(f"layer {rec.name!r} ({rec.kind}) reads inputs of shape "
                                f"{shape_text(sequences.shape)}; the zoo unrolls (batch, steps, features)")
        input_shapes.append(tuple(sequences.shape))
        masked.append(mask is not None)
        check_parity(rec, sequences, mask, out)
    return input_shapes, masked


def check_parity(rec: Recurrent, sequences, mask, out) -> None:
    """The cell path (the zoo's step) must give the layer's own last output: else the layer
    computes something its cell does not show, and nothing measured would be about it."""
    sizes, step = probes.cell_step(rec.cell, masked=mask is not None, output=True)
    xs = ordered(rec, sequences, mask)
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
