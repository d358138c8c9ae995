"""‖dh_T/dh_t‖ by lag and the finite-time top Lyapunov exponent, from one chained Jacobian.

Along the probe sequences the layer that reads the input steps from a zero
state; its state Jacobian (over its whole carried state: h, and c for an
LSTM) is chained one step at a time back from the last step
(``zoo.engine.probes.state_jacobian_fn``), rescaled by exact powers of two so
hundreds of steps stay in float32's range. ``finish`` undoes the scaling in
float64 (``mean_norms``) and takes the SVD of the whole chain dh_T/dh_0 in
NumPy (``top_exponent``), outside the compiled program. It applies to the
zoo's many-step layouts: a one-step layout carries no state through time
from the input. ``zoo.diagnose`` runs ``chain_fn`` and ``finish`` on each
layer of a user's model, with its mask where it has one (lags then count
real steps).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from zoo.engine.probes import cell_step, mean_norms, state_jacobian_fn, top_exponent


def chain_fn(sizes: list[int], step) -> Callable:
    """``chain(cell_vars, xs) -> outputs``: the chained state Jacobian of a cell path (``cell_step``)
    along the sequences ``xs``, as ``finish`` reads it. ``zoo.diagnose`` compiles it for each layer
    of a user's model, with the cell stepped under its mask."""
    norms = state_jacobian_fn(sizes, step)

    def chain(cell_vars, xs):
        plain, scaled, exponents, whole, whole_exponent = norms(cell_vars, xs)
        return {"plain": plain, "scaled": scaled, "exponents": exponents, "chain": whole,
                "chain_exponent": whole_exponent}

    return chain


def measure(ctx):
    if ctx.layout != "many":
        return None
    split = ctx.input_split()
    chain = chain_fn(*cell_step(ctx.input_layer().cell))
    return lambda tv, ntv, x, y: chain([tv[i] for i in split.cell_index], split.front(tv, ntv, x))


def finish(outputs) -> dict:
    """The mean norm by lag 0..T and the top exponent over the T steps, the same on every lag's row.

    With a ``mask`` (batch, steps) in ``outputs`` (``zoo.diagnose`` on a user's
    padded sequences, in the order the layer reads them), lags and T count
    real steps (``real_lag_norms``). The zoo's own runs have no mask.
    """
    mask = outputs.get("mask")
    if mask is None:
        dh = mean_norms(outputs["plain"], outputs["scaled"], outputs["exponents"])
    else:
        dh = real_lag_norms(outputs["plain"], outputs["scaled"], outputs["exponents"], mask)
    top = top_exponent(outputs["chain"], outputs["chain_exponent"], max(len(dh) - 1, 1))
    return {"dhT_dht": dh, "lyapunov_top": np.full(len(dh), top)}


def real_lag_norms(plain, scaled, exponents, mask) -> np.ndarray:
    """Mean ‖dh_T/dh_t‖ by lag counted in real (unmasked) steps.

    A masked step keeps the state (the cell path steps with the mask:
    ``cell_step(masked=True)``), so its Jacobian is the identity and the norm
    at a raw lag equals the norm at the real lags it spans: each sample's norm
    at real lag l is its norm at the first raw lag covering l real steps; the
    mean is over the samples that have l real steps. Lag 0 is the identity's norm.
    """
    mask = np.asarray(mask, bool)
    norms = np.asarray(scaled, np.float64) * np.exp2(-np.asarray(exponents, np.float64))  # (T, batch), raw lag 1..T
    counted = np.cumsum(mask[:, ::-1], axis=1)  # (batch, T): real steps within raw lags 1..T
    real = mask.sum(axis=1).astype(int)
    out = [float(np.asarray(plain)[0])]
    for lag in range(1, int(real.max()) + 1):
        have = np.flatnonzero(real >= lag)
        raw = np.argmax(counted[have] >= lag, axis=1)  # the first raw lag (minus one) spanning `lag` real steps
        out.append(float(np.mean(norms[raw, have])))
    return np.asarray(out)
