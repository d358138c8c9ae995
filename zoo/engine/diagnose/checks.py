"""Checking what ``zoo.diagnose`` is given, before any work: the model, the data and the loss.

Each check raises ``DiagnoseError``, one line naming the bad value and what
was expected; the model is never touched.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
from keras import ops

from zoo.core.config import ConfigError, show
from zoo.core.names import closest


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



def shape_text(shape) -> str:
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
            raise DiagnoseError(f"x of shape {x.shape} does not fit the model's input {shape_text(expected)}")
    return x, y

