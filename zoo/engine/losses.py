"""Per-sample losses, written with ``keras.ops`` for every backend."""

from __future__ import annotations

from keras import ops


def per_sample_loss(kind: str, pred, y):
    """Each sample's mean absolute (``mae``) or squared (``mse``) error."""
    err = ops.abs(pred - y) if kind == "mae" else ops.square(pred - y)
    return ops.mean(ops.reshape(err, (ops.shape(err)[0], -1)), axis=1)
