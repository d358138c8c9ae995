"""The gradient norm per weight group, at every training step.

A weight group is a layer's input kernel, recurrent kernel, bias (and so on),
or the head (``StepContext.weight_groups``). Each group's norm is the root of
the sum of its weights' squared gradient norms, so the groups' squared norms
add up to the squared global norm that clipping and the history use. A
statistic of the training step (``during="step"``): it sees the raw gradient,
before clipping.
"""

from __future__ import annotations

import numpy as np
from keras import ops


def measure(ctx):
    groups = ctx.weight_groups()
    size = sum(len(index) for index in groups.values())
    membership = np.zeros((len(groups), size), np.float32)  # group x weight, 1 where the weight is in the group
    for g, index in enumerate(groups.values()):
        membership[g, index] = 1.0

    def norms(grads, tv):
        # Each weight's norm first, as the clipping computes it: XLA computes it once for both.
        squares = ops.square(ops.stack([ops.sqrt(ops.sum(ops.square(g))) for g in grads]))
        by_group = ops.sqrt(ops.matmul(membership, squares))
        return {"norm": {name: by_group[g] for g, name in enumerate(groups)}}

    return norms
