"""‖dh_T/dh_t‖ by lag and the finite-time top Lyapunov exponent, from one chained Jacobian.

Along the probe sequences the layer that reads the input steps from a zero
state; its state Jacobian (over its whole carried state: h, and c for an
LSTM) is chained one step at a time back from the last step
(``zoo.engine.probes.state_jacobian_fn``), rescaled by exact powers of two so
hundreds of steps stay in float32's range. ``finish`` undoes the scaling in
float64 (``mean_norms``) and takes the SVD of the whole chain dh_T/dh_0 in
NumPy (``top_exponent``), outside the compiled program. It applies to the
zoo's many-step layouts: a one-step layout carries no state through time
from the input.
"""

from __future__ import annotations

import numpy as np

from zoo.engine.probes import cell_step, mean_norms, state_jacobian_fn, top_exponent


def measure(ctx):
    if ctx.layout != "many":
        return None
    split = ctx.input_split()
    norms = state_jacobian_fn(*cell_step(ctx.input_layer().cell))

    def chain(tv, ntv, x, y):
        plain, scaled, exponents, whole, whole_exponent = norms([tv[i] for i in split.cell_index],
                                                                split.front(tv, ntv, x))
        return {"plain": plain, "scaled": scaled, "exponents": exponents, "chain": whole,
                "chain_exponent": whole_exponent}

    return chain


def finish(outputs) -> dict:
    """The mean norm by lag 0..T and the top exponent over the T steps, the same on every lag's row."""
    dh = mean_norms(outputs["plain"], outputs["scaled"], outputs["exponents"])
    top = top_exponent(outputs["chain"], outputs["chain_exponent"], len(dh) - 1)
    return {"dhT_dht": dh, "lyapunov_top": np.full(len(dh), top)}
