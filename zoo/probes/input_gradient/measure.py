"""dL/dx by lag: how strongly the loss reacts to each input step, by steps back from the last.

The gradient of the summed per-sample losses with respect to the model's
input gives each sequence its own gradient; ``finish`` takes, per step, the
norm over its features and the RMS over the probe batch, in NumPy (counting
only real steps where it is given a mask: ``zoo.diagnose`` applies it to each
layer of a user's model). In a
one-step layout (a window of w values read at once) each value is a lag.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from zoo.engine.losses import per_sample_loss


def measure(ctx):
    def input_loss(x, tv, ntv, y):
        # A sum of per-sample losses, so each row of the gradient is that sample's own.
        return ops.sum(per_sample_loss(ctx.loss_kind, ctx.predict(tv, ntv, x), y))

    grad = ctx.grad(input_loss)
    one_step = ctx.layout == "one"

    def grads(tv, ntv, x, y):
        g = grad(x, tv, ntv, y)  # (batch, steps, features)
        # One step of w values: each value is a lag, a step of one feature (an exact reshape).
        return {"grads": ops.reshape(g, (g.shape[0], -1, 1)) if one_step else g}

    return grads


def finish(outputs) -> dict:
    """RMS over the batch of each step's gradient norm, lag 0 (the last step) first.

    With a ``mask`` (batch, steps) in ``outputs`` (``zoo.diagnose`` on a user's
    padded sequences, in the order the layer reads them), lags count real
    steps: lag l is each sequence's l-th real step back from its last, and its
    RMS is over the sequences that have one. The zoo's own runs have no mask.
    """
    grads, mask = np.asarray(outputs["grads"]), outputs.get("mask")
    squares = np.sum(grads**2, axis=2)  # (batch, steps)
    if mask is None or np.all(mask):
        return {"dL_dx": np.sqrt(np.mean(squares, axis=0))[::-1]}
    by_lag = [[] for _ in range(int(np.sum(mask, axis=1).max()))]
    for row, real in zip(squares, np.asarray(mask, bool)):
        for lag, t in enumerate(np.flatnonzero(real)[::-1]):  # the last real step first
            by_lag[lag].append(row[t])
    return {"dL_dx": np.sqrt(np.asarray([np.mean(v) for v in by_lag]))}
