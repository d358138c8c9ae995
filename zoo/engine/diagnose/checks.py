"""Checking what ``zoo.diagnose`` is given, before any work: the model, the data and the loss.

Each check raises ``DiagnoseError``, one line naming the bad value and what
was expected; the model is never touched.
"""

from __future__ import annotations

import difflib
import functools
from typing import Callable

import keras
import numpy as np
from keras import ops

from zoo.core.config import ConfigError, show


class DiagnoseError(ConfigError):
    """A model, data or loss that ``zoo.diagnose`` cannot measure; one line, the model untouched."""


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
            raise DiagnoseError(unknown_loss_message(given if given is not None else loss)) from None
    if not callable(loss):
        raise DiagnoseError(f"loss = {show(loss)}: expected a Keras loss (a name, a Loss or a function)")
    call = loss.call if isinstance(loss, keras.losses.Loss) else loss

    def fn(y, pred):
        values = call(y, pred)
        if len(values.shape) > 1:  # a loss per step or per output: each sample's mean
            values = ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=1)
        return values

    return fn


# Short names Keras accepts beside its functions' and classes' names (keras.losses.get("mse")),
# for a Keras whose table of them (``keras.src.losses.ALL_OBJECTS_DICT``) cannot be read.
LOSS_ALIASES = ("bce", "kld", "mae", "mape", "mse", "msle", "BCE", "KLD", "MAE", "MAPE", "MSE", "MSLE")


@functools.cache
def loss_names() -> tuple[str, ...]:
    """Every name ``keras.losses.get`` accepts: its functions, its classes and their short aliases
    (``mse``, ``mae``, ...), each tried, so none is listed that Keras would refuse."""
    try:
        from keras.src.losses import ALL_OBJECTS_DICT  # the table keras.losses.get looks names up in

        table = list(ALL_OBJECTS_DICT)
    except ImportError:
        table = []
    found = []
    for name in sorted({*table, *dir(keras.losses), *LOSS_ALIASES}):
        if name.startswith("_") or name in ("Loss", "LossFunctionWrapper"):  # bases, not losses
            continue
        try:
            if callable(keras.losses.get(name)):
                found.append(name)
        except Exception:  # not a loss (get, serialize), or a class that needs arguments
            continue
    return tuple(found)


def nearest_loss(name: str, choices) -> str | None:
    """The loss name in ``choices`` nearest ``name``, or None when none is near: difflib's
    similarity, case aside, with a swap of letters (``mes`` for ``mse``) counted nearer than
    a change of one (``mae``), and, of equals, the name written in the same case as ``name``."""
    given = str(name)
    lowered = given.lower()

    ranked = []
    for choice in choices:
        ratio = difflib.SequenceMatcher(None, lowered, choice.lower()).ratio()
        if ratio >= 0.4:  # as zoo.core.names.closest: below it, nothing is near
            swapped = sorted(lowered) == sorted(choice.lower())  # the same letters: a transposition
            ranked.append((ratio + 0.25 * swapped, choice.islower() == given.islower(), -len(choice), choice))
    return max(ranked)[-1] if ranked else None


def unknown_loss_message(name) -> str:
    """One line for a loss name Keras does not know: its valid names (the class names said by
    one example) and the nearest of all of them."""
    names = loss_names()
    functions = [n for n in names if n.islower()]
    near = nearest_loss(str(name), names)
    return (f"loss = {show(name)}: not a Keras loss; valid names: {', '.join(functions)}, "
            "or a class's name (e.g. MeanSquaredError), a keras.losses.Loss or a function"
            + (f" (nearest: {near!r})" if near is not None else ""))


def shape_text(shape) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ")"


def check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise DiagnoseError(f"model = {show(model)}: expected a Keras 3 model (keras.Model, Sequential or a subclass)")
    if not model.built:
        raise DiagnoseError(
            f"model {model.name!r} is not built: call it on a batch or build it first "
            "(e.g. model(x[:1]), or give Sequential an keras.Input(shape=...))")


def check_finite_weights(model: keras.Model) -> None:
    """Refuse a model whose weights hold NaN or inf before measuring it: else the loss is NaN and the
    first check that reads it blames the data. (Not inside a fit: a run that diverges there is recorded.)"""
    bad = [v.path for v in model.weights if not np.isfinite(keras.ops.convert_to_numpy(v)).all()]
    if bad:
        raise DiagnoseError(f"model {model.name!r}: {len(bad)} of its weights hold NaN or inf (first: {bad[0]}), "
                            "as after a fit that diverged; rebuild the model or load finite weights")


def check_data(model: keras.Model, x, y) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` as arrays whose shapes fit the model, and finite, checked before any work."""
    inputs = _single_shape(model, "inputs")
    x = _as_array("x", x)
    if x.ndim == 0:
        wanted = f" for the model's input {shape_text(inputs)}" if inputs is not None else ""
        raise DiagnoseError(f"x = {show(x.item())}: expected an array of "
                            f"sequences, (batch, steps[, features]){wanted}")
    if x.ndim < 2 or x.dtype == object:
        raise DiagnoseError(f"x of shape {x.shape}: expected a batch of sequences, (batch, steps[, features])")
    y = None if y is None else _as_array("y", y)
    if y is None or y.ndim == 0:
        raise DiagnoseError(f"y = {show(None if y is None else y.item())}: expected an array of {len(x)} "
                            f"targets, one per sequence of x, {_target_shapes(model, len(x))}")
    if len(y) != len(x):
        raise DiagnoseError(f"x has {len(x)} samples and y {len(y)}: they must have the same first dimension")
    if len(x) == 0:
        raise DiagnoseError("x is empty: give at least one sequence")
    if inputs is not None:
        fits = len(inputs) == x.ndim and all(e is None or e == s for e, s in zip(inputs[1:], x.shape[1:]))
        if not fits:
            raise DiagnoseError(f"x of shape {x.shape} does not fit the model's input {shape_text(inputs)}")
    check_finite("x", x)
    check_finite("y", y)
    return x, y


def check_finite(name: str, values: np.ndarray) -> None:
    """NaN or inf in the data, named where it is: else the loss turns NaN and the error would
    blame whatever it checks next."""
    if values.dtype.kind in "OSUV":  # objects, text, bytes: not numbers, the loss says what fits
        return
    try:
        bad = ~np.isfinite(values)
    except TypeError:
        return
    count = int(np.count_nonzero(bad))
    if count:
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
        rows = int(np.count_nonzero(bad.reshape(len(values), -1).any(axis=1)))
        where = f"{name}[{', '.join(map(str, first))}] = {values[first]}"
        raise DiagnoseError(f"{name} holds {count} non-finite value{'s' * (count != 1)} (NaN or inf) in "
                            f"{rows} of its {len(values)} samples, first {where}: expected finite values; "
                            "drop or fill those samples")


def _as_array(name: str, value) -> np.ndarray:
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DiagnoseError(f"{name}: expected an array ({first[:200]})") from None


def _single_shape(model: keras.Model, which: str) -> tuple | None:
    """The shape of a model's one input or output (``which``), or None when it has several or
    none known (a subclassed model's)."""
    try:
        tensors = getattr(model, which, None)
        return tuple(tensors[0].shape) if tensors and len(tensors) == 1 else None
    except (AttributeError, TypeError, ValueError):
        return None


def _target_shapes(model: keras.Model, n: int) -> str:
    """What ``y`` should look like for ``n`` samples: the model's output shape, or class ids."""
    output = _single_shape(model, "outputs")
    if output is None or len(output) < 2:
        return "shaped like the model's output for them (or class ids, for a sparse loss)"
    shape = (n, *output[1:])
    ids_shape = f"({n},)" if len(shape) == 2 else shape_text(shape[:-1])
    ids = f" (or class ids of shape {ids_shape}, for a sparse loss)" if output[-1] != 1 else ""
    return f"shaped like the model's output {shape_text(output)}: {shape_text(shape)}{ids}"
