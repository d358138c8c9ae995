"""The through-time probes' shared parts: a cell's step on its flat state, the chained state Jacobian.

- ``state_jacobian_fn``: ‖dh_T/dh_t‖ by lag, the mean Frobenius norm of the
  state Jacobian of a layer over its whole carried state (h, and c for an
  LSTM), since gradients through time flow through all of it; ``mean_norms``
  and ``top_exponent`` finish it in NumPy (float64);
- ``cell_step``: a built cell's one step as a function of its flat state.

The registered probes use them (``zoo/probes/state_jacobian``; dL/dx by lag is
``zoo/probes/input_gradient``, the spectrum ``zoo/probes/spectrum``, the gates
``zoo/probes/gates``), and so does ``zoo.diagnose`` on a user's layers.
``PROBE_COLUMNS`` is the schema of a run folder's probes.csv, which the
runner builds from those probes' tables (``zoo.engine.run.probes_csv``).

They work for any registered cell and task, with no per-cell code: the
Jacobians come from the cell's own ``call`` through the backend's autodiff.
Time is a compiled scan, not an unrolled loop, so sequences of hundreds of
steps compile in a second; the Jacobian chain is exact, its cost grows with
steps x batch x state size squared, so long tasks probe a smaller batch
(``train.probe_batch``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from keras import ops

from zoo.engine import backend, spectrum

RESCALE = 32  # bits: a Jacobian chain is rescaled by 2^32 once its norm passes 2^-32 (or 2^32),
# far from where float32 squares underflow (XLA flushes subnormals to zero)


# Columns of probes.csv. The spectrum columns hold one value per probed epoch,
# repeated on its lag rows; empty (NaN) where the model has no state through time.
# dL_dx is the input_gradient probe's, dhT_dht and lyapunov_top the state_jacobian
# probe's, the rest the spectrum probe's (zoo/probes/<name>), put side by side by
# ``zoo.engine.run.probes_csv`` for the readers of probes.csv.
# lyapunov_top is the finite-time exponent of the most expanding direction over
# the whole sequence (``top_exponent``); qr_lyapunov_max the QR method's top
# column, a transient discarded; lyapunov_sum_unresolved the part of
# lyapunov_sum below float32 resolution (``zoo.engine.spectrum``).
SPECTRUM_COLUMNS = (
    "jac_sigma_max", "jac_sigma_min", "jac_sigma_median", "lyapunov_top", "qr_lyapunov_max", "lyapunov_sum",
    "lyapunov_sum_unresolved", "tanh_slope_mean", "tanh_slope_over_0_9",
)
PROBE_COLUMNS = ("epoch", "lag", "dL_dx", "dhT_dht", *SPECTRUM_COLUMNS)
# The spectrum (zoo/probes/spectrum) keeps every one-step Jacobian of the sequences it is taken over
# (steps x batch x n x n floats: 200 MB at 200 steps of an LSTM's 128-wide
# state), so it is taken over the first sequences of the probe batch only:
# 16, and fewer for long sequences, at most 800 steps x sequences (its cost,
# an SVD and a QR step per step and sequence, grows with that product; at 200
# steps 16 sequences made the probes a quarter of a 3,000-step run).
SPECTRUM_BATCH = 16
SPECTRUM_STEP_SEQUENCES = 800


def spectrum_batch(steps: int) -> int:
    """How many of the probe sequences the spectrum is taken over, for sequences of ``steps``."""
    return max(1, min(SPECTRUM_BATCH, SPECTRUM_STEP_SEQUENCES // max(steps, 1)))


def mean_norms(plain, scaled, exponents) -> np.ndarray:
    """Mean ‖dh_T/dh_t‖ over the batch by lag, from ``state_jacobian_norms``.

    Where no chain was rescaled this is the float32 mean computed in the
    graph; elsewhere the mean of ``scaled * 2^-exponent`` in float64, whose
    range holds norms far below float32's smallest (1e-38).
    """
    plain = np.asarray(plain, np.float64)
    scaled, exponents = np.asarray(scaled, np.float64), np.asarray(exponents)
    out = plain.copy()
    rescaled = np.any(exponents != 0, axis=1)  # by lag >= 1
    out[1:][rescaled] = np.mean(scaled[rescaled] * np.exp2(-exponents[rescaled].astype(np.float64)), axis=1)
    return out


def top_exponent(chains, exponents, steps: int) -> float:
    """The finite-time top Lyapunov exponent, (1/T) log σ1(J_T ⋯ J_1), averaged over the batch.

    ``chains`` (batch, n, n) are the lag probe's whole-sequence Jacobians
    dh_T/dh_0 = J_T ⋯ J_1, each scaled by 2^``exponents`` (``RESCALE``), and T =
    ``steps``. σ1, the growth of the most expanding direction, is taken in
    float64 and the scaling undone in the log, so no chain over- or underflows.
    A chain that collapsed to exactly zero counts as log ``LOG_FLOOR`` per step;
    a non-finite chain gives NaN.
    """
    chains = np.asarray(chains, np.float64)
    if not np.all(np.isfinite(chains)):
        return float("nan")  # weights gone non-finite: the run is recorded as diverged
    sigma1 = np.linalg.norm(chains, ord=2, axis=(1, 2))
    with np.errstate(divide="ignore"):
        log_growth = np.log(sigma1) - np.asarray(exponents, np.float64) * np.log(2.0)
    floor = steps * np.log(spectrum.LOG_FLOOR)
    return float(np.mean(np.where(sigma1 > 0, np.maximum(log_growth, floor), floor)) / steps)


def _state_sizes(cell) -> list[int]:
    return list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]


def _not_training(cell) -> dict:
    """``training=False`` for a cell whose ``call`` takes it (a user's cell may not, as Keras's RNN allows)."""
    return {"training": False} if getattr(cell, "_call_has_training_arg", True) else {}


def state_sizes(cell) -> list[int]:
    """The cell's state sizes as a list of ints (one per state tensor)."""
    return _state_sizes(cell)


def cell_step(cell, masked: bool = False, output: bool = False) -> tuple[list[int], Callable]:
    """A built cell's one step as a function of its flat state: ``(sizes, step)``,
    ``step(cell_vars, x_t, flat) -> flat`` with ``cell_vars`` the values of
    ``cell.trainable_variables``.

    ``masked=True``: the last feature of ``x_t`` is a 0/1 mask, and a masked step
    keeps the state (as Keras's RNN layers do), so its Jacobian is the identity.
    ``output=True``: ``step(cell_vars, x_t, flat, last_output) -> (flat, output)``, the
    cell's output beside its state (a masked step keeps the last output, as Keras does).
    """
    sizes = _state_sizes(cell)
    splits = list(np.cumsum(sizes)[:-1])
    # Dropout seed state and the like: constant while probing.
    cell_constants = [v.value for v in cell.non_trainable_variables]
    kwargs = _not_training(cell)

    def step_with_output(cell_vars, x_t, flat, last_output):
        if masked:
            x_t, keep = x_t[:, :-1], x_t[:, -1:]
        states = ops.split(flat, splits, axis=-1) if splits else [flat]
        (out, new_states), _ = cell.stateless_call(cell_vars, cell_constants, x_t, list(states), **kwargs)
        new_states = new_states if isinstance(new_states, (list, tuple)) else [new_states]
        new = ops.concatenate(list(new_states), axis=-1)
        if masked:
            return ops.where(keep > 0, new, flat), ops.where(keep > 0, out, last_output)
        return new, out

    def step(cell_vars, x_t, flat):
        if masked:
            x_t, keep = x_t[:, :-1], x_t[:, -1:]
        states = ops.split(flat, splits, axis=-1) if splits else [flat]
        (_, new_states), _ = cell.stateless_call(cell_vars, cell_constants, x_t, list(states), **kwargs)
        new_states = new_states if isinstance(new_states, (list, tuple)) else [new_states]
        new = ops.concatenate(list(new_states), axis=-1)
        return ops.where(keep > 0, new, flat) if masked else new

    return sizes, (step_with_output if output else step)


def state_jacobian_fn(sizes: list[int], step: Callable) -> Callable:
    """``norms(cell_vars, x)``: the Frobenius norm of dh_T/dh_t by lag T - t over the
    sequences ``x``, from a zero start (``sizes``, ``step``: from ``cell_step``).

    The Jacobian is chained one step at a time: dh_T/dh_t = dh_T/dh_{t+1} dh_{t+1}/dh_t.
    Returns ``(plain, scaled, exponents, chain, chain_exponent)``: the batch mean
    by lag 0..T (float32), each sample's norm by lag 1..T scaled by 2^exponent
    (``RESCALE``), and the whole chain dh_T/dh_0 with its exponent.
    """

    def frobenius(m):  # per sample
        return ops.sqrt(ops.sum(ops.square(m), axis=(1, 2)))

    def norms(cell_vars, x):
        batch, size = x.shape[0], sum(sizes)
        xs = ops.moveaxis(x, 1, 0)  # (steps, batch, features)

        def forward(h, x_t):  # emits h_t, the state each step starts from
            return step(cell_vars, x_t, h), h

        _, hidden = backend.scan(forward, ops.zeros((batch, size)), xs)

        def backward(carry, inputs):  # dh_T/dh_t = dh_T/dh_{t+1} dh_{t+1}/dh_t, from t = T-1 down
            chained, exponent = carry
            x_t, h_t = inputs
            one_step = backend.batch_jacobian(lambda s: step(cell_vars, x_t, s), h_t)
            chained = ops.matmul(chained, one_step)
            # Over hundreds of steps the chain leaves float32's range: rescale
            # a sample's chain by an exact power of two when it nears either
            # end. Short chains are never rescaled, and a rescaled one is the
            # same matrix times 2^k, bit for bit.
            norm = frobenius(chained)
            shift = ops.where(norm < 2.0**-RESCALE, RESCALE, ops.where(norm > 2.0**RESCALE, -RESCALE, 0))
            chained = chained * ops.reshape(ops.power(2.0, ops.cast(shift, chained.dtype)), (-1, 1, 1))
            exponent = exponent + shift
            norm = frobenius(chained)
            plain = ops.mean(norm * ops.power(2.0, -ops.cast(exponent, norm.dtype)))
            return (chained, exponent), (plain, norm, exponent)

        eye = ops.broadcast_to(ops.eye(size), (batch, size, size))
        start = (eye, ops.zeros((batch,), "int32"))
        (chain, chain_exponent), (plain, scaled, exponents) = backend.scan(
            backward, start, (ops.flip(xs, 0), ops.flip(hidden, 0)))
        lag0 = ops.reshape(ops.mean(frobenius(eye)), (1,))
        # The whole chain dh_T/dh_0 too, for the top exponent (its SVD runs in numpy, outside XLA).
        return ops.concatenate([lag0, plain]), scaled, exponents, chain, chain_exponent

    return norms
