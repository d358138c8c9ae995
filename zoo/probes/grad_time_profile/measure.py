"""The recurrent gradient's time profile, measured: one exact term per time step.

The recurrent weights W are used at every step, so their gradient is a sum
of one term per step (Pascanu, Mikolov and Bengio 2013, eq. 4):
dL/dW = sum_t dL/dW|_t. Each term is measured exactly by giving step t its own
copy W + δ_t, with every δ_t = 0: dL/dδ_t is step t's term, and at δ = 0 the
forward pass is the model's own. This runs on the layer that reads the input,
from the model's real front and rest (``ProbeContext.input_split``), so it
works for any cell and mode; ``W`` is the cell's recurrent kernel(s).

Outputs, by lag k = steps back from the last step (the term of step T-1-k):
``term_norm`` ‖dL/dW|_{T-1-k}‖; ``share_from`` the share of Σ_t ‖dL/dW|_t‖
from terms k or more steps back (1 at lag 0); ``tail_ratio``
‖Σ_{lag ≥ k} dL/dW|_t‖ / ‖dL/dW‖, the part of the gradient itself that those
terms make up (1 at lag 0; terms that cancel can push it above 1).
"""

from __future__ import annotations

import math

from keras import ops

# The terms are held at once: steps x recurrent weights floats. Above this
# (a 1000-step task with a 128-unit LSTM: 65M) the probe does not apply.
MAX_TERM_FLOATS = 2**24


def step_terms(ctx, split=None):
    """``fn(tv, ntv, x, y) -> [terms]``: for each recurrent weight, its per-step terms (steps, *shape)."""
    split = split or ctx.input_split()
    rec = split.recurrent

    def terms(tv, ntv, x, y):
        seq = split.front(tv, ntv, x)
        cell_vars = [tv[i] for i in split.cell_index]
        steps = seq.shape[1]

        def loss_of(deltas):
            def forward(state, inputs):
                x_t, d_t = inputs
                weights = list(cell_vars)
                for j, i in enumerate(rec):
                    weights[i] = weights[i] + d_t[j]
                out, state = split.step(weights, x_t, state)
                return state, out

            start = ops.zeros((seq.shape[0], split.state_size), seq.dtype)
            _, outs = ctx.scan(forward, start, (ops.moveaxis(seq, 1, 0), deltas))
            outs = ops.moveaxis(outs, 0, 1)
            return ctx.loss(split.rest(tv, ntv, outs if split.return_sequences else outs[:, -1]), y)

        return ctx.grad(loss_of)([ops.zeros((steps, *cell_vars[i].shape)) for i in rec])

    return terms


def measure(ctx):
    split = ctx.input_split()
    steps = ctx.input_layer().input.shape[1]
    size = sum(math.prod(ctx.model.trainable_variables[split.cell_index[j]].shape) for j in split.recurrent)
    # One step (a one-step mode) has no time to profile: its recurrent term is
    # that of the zero initial state, exactly 0. A cell with no weight at all has no gradient to profile.
    if not split.recurrent or steps is None or steps < 2 or steps * size > MAX_TERM_FLOATS:
        return None
    terms_fn = step_terms(ctx, split)

    def share(part, whole):  # a gradient exactly 0 (no signal at all) has no profile: 0, not NaN (= diverged)
        return ops.where(whole > 0, part / ops.where(whole > 0, whole, 1.0), 0.0)

    def profile(tv, ntv, x, y):
        terms = terms_fn(tv, ntv, x, y)  # by step t = 0 .. T-1
        steps = terms[0].shape[0]
        flat = ops.concatenate([ops.reshape(t, (steps, -1)) for t in terms], axis=1)
        by_lag = ops.flip(flat, 0)  # row k: the term of lag k
        norms = ops.sqrt(ops.sum(ops.square(by_lag), axis=1))
        from_far = ops.flip(ops.cumsum(ops.flip(norms, 0)), 0)  # Σ_{lag ≥ k} ‖term‖
        tails = ops.flip(ops.cumsum(ops.flip(by_lag, 0), axis=0), 0)  # Σ_{lag ≥ k} term
        tail_norms = ops.sqrt(ops.sum(ops.square(tails), axis=1))
        return {"term_norm": norms, "share_from": share(from_far, from_far[0]),
                "tail_ratio": share(tail_norms, tail_norms[0])}

    return profile
