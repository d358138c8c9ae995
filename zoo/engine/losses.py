"""Per-sample losses, written with ``keras.ops`` for every backend."""

from __future__ import annotations

from keras import ops


def per_sample_loss(kind: str, pred, y):
    """Each sample's mean loss over its outputs.

    ``mae`` and ``mse``: absolute or squared error of a regression.
    ``cross_entropy``: ``pred`` holds log-probabilities over k classes at each
    step, (n, steps, k) (the classification head's ``log_softmax``), and ``y``
    the class ids, (n, steps); the mean over steps of -log p(true class).
    """
    if kind == "cross_entropy":
        picked = ops.sum(pred * ops.one_hot(ops.cast(y, "int32"), ops.shape(pred)[-1], dtype=pred.dtype), axis=-1)
        return -ops.mean(ops.reshape(picked, (ops.shape(picked)[0], -1)), axis=1)
    err = ops.abs(pred - y) if kind == "mae" else ops.square(pred - y)
    return ops.mean(ops.reshape(err, (ops.shape(err)[0], -1)), axis=1)
