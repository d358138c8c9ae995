"""Spectra of a recurrent cell's one-step state Jacobians, in ``keras.ops`` only.

Input everywhere: ``jacobians`` of shape (steps, batch, n, n), where
``jacobians[t, b] = dh_{t+1}/dh_t`` for sample ``b`` (computed elsewhere, e.g.
with ``zoo.gradients.batch_jacobian``). Nothing here differentiates, so every
function runs eagerly or inside ``jax.jit`` / ``tf.function`` on both backends.

What the numbers mean for an RNN:

* Singular values of one Jacobian bound how much a single step can stretch
  (``sigma_max``) or shrink (``sigma_min``) a state perturbation, and equally
  the gradient passing back through that step. ``sigma_max < 1`` on every step
  guarantees vanishing gradients; ``sigma_max > 1`` does *not* imply exploding
  ones, because stretching in one step may be undone by the next.
* Lyapunov exponents are the average log growth rate per step of perturbations
  under the *product* of Jacobians, i.e. over the whole trajectory. The top
  exponent < 0 means perturbations (and back-propagated gradients) shrink by a
  factor of about ``exp(top)`` per step on average; > 0 means they grow;
  ~ 0 means long memory. Over a finite window of T steps the zoo's top exponent
  is the finite-time exponent of the most expanding direction,
  (1/T) log σ1(J_T ⋯ J_1), taken from the lag probe's chained Jacobian
  (``zoo.engine.probes.top_exponent``). This module's QR spectrum measures
  the growth of volumes spanned by a starting basis: its top column is a
  different number over a short window (``qr_lyapunov_max``, a transient
  discarded), its sum is exact (``lyapunov_sum``: the mean log volume change
  per step, ``mean log|det J|``). For a non-normal Jacobian, ``sigma_max`` can
  be far above 1 while every exponent is negative: transient growth, long-run decay.
"""

from __future__ import annotations

from keras import ops

from zoo.core.analysis import FLOAT32_RESOLUTION

# |R_ii| is clamped here before the log: a direction the Jacobian collapses to
# exactly zero (e.g. a saturated or dead unit) then contributes log(1e-30) ~ -69
# to that step instead of -inf, so the averages stay finite. Representable in
# float32 (hence the float32 floor for half-precision inputs).
LOG_FLOOR = 1e-30


def _as_float(jacobians):
    """Tensor of (steps, batch, n, n), in float32 unless already float64."""
    jac = ops.convert_to_tensor(jacobians)
    if jac.dtype != "float64":
        jac = ops.cast(jac, "float32")
    if len(jac.shape) == 3:  # (steps, n, n): one sample
        jac = ops.expand_dims(jac, 1)
    if len(jac.shape) != 4 or jac.shape[-1] != jac.shape[-2]:
        raise ValueError(f"jacobians must be (steps, batch, n, n), got {tuple(jac.shape)}")
    return jac


def jacobian_singular_values(jacobians):
    """Singular values of every one-step Jacobian, summarised.

    Returns a dict of scalar tensors: ``sigma_max`` and ``sigma_min``, the
    largest and smallest singular value over all steps and samples, and
    ``sigma_median``, the median of all singular values of all Jacobians pooled
    together (steps x batch x n values; for an even count, the mean of the
    middle two, as numpy does).
    """
    jac = _as_float(jacobians)
    s = ops.svd(jac, compute_uv=False)  # (steps, batch, n)
    s = ops.reshape(s, (-1,))
    return {"sigma_max": ops.max(s), "sigma_min": ops.min(s), "sigma_median": ops.median(s)}


def _qr_growth(jac, k: int, transient: int):
    """The QR (Benettin) method over ``jac``: each sample's summed log|R_ii| over
    all steps, over the steps from ``transient`` on, and the part of the all-steps
    sum from directions below float32 resolution (|R_ii| < FLOAT32_RESOLUTION x
    ‖J_t Q‖_F: unresolved round-off, or clamped at ``LOG_FLOOR``). Each (batch, k)."""
    steps, batch, n = jac.shape[0], jac.shape[1], jac.shape[-1]
    q0 = ops.broadcast_to(ops.eye(n, k, dtype=jac.dtype), (batch, n, k))
    zero = ops.zeros((batch, k), dtype=jac.dtype)

    def step(t, carry):
        q, total, late, unresolved = carry
        z = ops.matmul(ops.take(jac, t, axis=0), q)
        q, r = ops.qr(z, mode="reduced")
        diag = ops.abs(ops.diagonal(r, axis1=-2, axis2=-1))
        logs = ops.log(ops.maximum(diag, LOG_FLOOR))
        scale = ops.sqrt(ops.sum(ops.square(z), axis=(1, 2)))[:, None]
        below = ops.cast(diag < FLOAT32_RESOLUTION * scale, jac.dtype)
        counted = ops.cast(t >= transient, jac.dtype)
        return q, total + logs, late + counted * logs, unresolved + below * logs

    _, total, late, unresolved = ops.fori_loop(0, steps, step, (q0, zero, zero, zero))
    return total, late, unresolved


def qr_transient(steps: int) -> int:
    """Steps the QR estimate of the top exponent discards: the first fifth (none below 5 steps)."""
    return steps // 5


def lyapunov_exponents(jacobians, k=None, transient: int = 0):
    """The top ``k`` Lyapunov exponents by the QR (Benettin) method (natural log,
    per step), sorted descending.

    As in Vogt et al. 2022 and Engelken et al. 2023: start from ``Q = I[:, :k]``;
    each step ``Z = J_t @ Q``, ``Q, R = qr(Z)``, add ``log|diag R|`` (clamped at
    ``LOG_FLOOR``). The sum over the steps after the first ``transient`` (which
    only align Q with the growing directions), divided by their number, is each
    sample's spectrum; it is averaged over the batch column by column, then
    sorted. ``k`` defaults to ``n``. Returns (k,).

    Over a short window this is *not* the growth of the most expanding
    direction (see ``zoo.engine.probes.top_exponent`` for that): column i
    measures the growth of the i-dimensional volume spanned by the starting
    basis, which carries an O(1/steps) bias; ``sum`` of all ``n`` exponents with
    ``transient = 0`` is exact: ``mean over t of log|det J_t|``.
    """
    jac = _as_float(jacobians)
    steps, n = jac.shape[0], jac.shape[-1]
    k = n if k is None else int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    if not 0 <= transient < steps:
        raise ValueError(f"transient must be in 0..{steps - 1}, got {transient}")
    _, late, _ = _qr_growth(jac, k, transient)
    exponents = ops.mean(late, axis=0) / (steps - transient)
    return ops.flip(ops.sort(exponents))


def lyapunov_summary(jacobians):
    """The QR spectrum's summary, in one pass.

    ``qr_lyapunov_max``: the top QR exponent with the first ``qr_transient(steps)``
    steps discarded; ``lyapunov_sum``: the sum of the full spectrum over all
    steps (exact: mean log|det J_t|); ``lyapunov_sum_unresolved``: the part of
    that sum from directions below float32 resolution (round-off or the
    ``LOG_FLOOR`` clamp), which the true sum holds a different, unknown value for.
    """
    jac = _as_float(jacobians)
    steps = jac.shape[0]
    transient = qr_transient(steps)
    total, late, unresolved = _qr_growth(jac, jac.shape[-1], transient)
    top = ops.max(ops.mean(late, axis=0)) / (steps - transient)
    return {
        "qr_lyapunov_max": top,
        "lyapunov_sum": ops.sum(ops.mean(total, axis=0)) / steps,
        "lyapunov_sum_unresolved": ops.sum(ops.mean(unresolved, axis=0)) / steps,
    }
