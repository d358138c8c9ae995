"""dL/dx by lag: how strongly the loss reacts to each input step, by steps back from the last.

The gradient of the summed per-sample losses with respect to the model's
input gives each sequence its own gradient; ``finish`` takes, per step, the
norm over its features and the RMS over the probe batch, in NumPy. In a
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
    """RMS over the batch of each step's gradient norm, lag 0 (the last step) first."""
    grads = np.asarray(outputs["grads"])
    per_lag = np.mean(np.sum(grads**2, axis=2), axis=0)
    return {"dL_dx": np.sqrt(per_lag)[::-1]}
