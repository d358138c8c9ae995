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
  factor of about ``exp(lyapunov_max)`` per step on average; > 0 means they grow;
  ~ 0 means long memory. ``lyapunov_sum`` is the mean log volume change per step
  (``mean log|det J|``). For a non-normal Jacobian, ``sigma_max`` can be far above
  1 while every exponent is negative: transient growth, long-run decay.
"""

from __future__ import annotations

from keras import ops

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


def lyapunov_exponents(jacobians, k=None):
    """The top ``k`` Lyapunov exponents (natural log, per step), sorted descending.

    The standard QR (Benettin) method, as in Vogt et al. 2022 and Engelken et
    al. 2023: start from ``Q = I[:, :k]``; each step ``Z = J_t @ Q``,
    ``Q, R = qr(Z)``, add ``log|diag R|`` (clamped at ``LOG_FLOOR``). The sum over
    steps divided by ``steps`` is each sample's spectrum; it is averaged over the
    batch column by column, then sorted. ``k`` defaults to ``n``. Returns (k,).

    The estimate has an O(1/steps) bias from the arbitrary starting basis (no
    transient is discarded here); ``sum`` of all ``n`` exponents is exact:
    ``mean over t of log|det J_t|``.
    """
    jac = _as_float(jacobians)
    steps, batch, n = jac.shape[0], jac.shape[1], jac.shape[-1]
    k = n if k is None else int(k)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in 1..{n}, got {k}")
    q0 = ops.broadcast_to(ops.eye(n, k, dtype=jac.dtype), (batch, n, k))
    total0 = ops.zeros((batch, k), dtype=jac.dtype)

    def step(t, carry):
        q, total = carry
        z = ops.matmul(ops.take(jac, t, axis=0), q)
        q, r = ops.qr(z, mode="reduced")
        diag = ops.abs(ops.diagonal(r, axis1=-2, axis2=-1))
        return q, total + ops.log(ops.maximum(diag, LOG_FLOOR))

    _, total = ops.fori_loop(0, steps, step, (q0, total0))
    exponents = ops.mean(total, axis=0) / steps
    return ops.flip(ops.sort(exponents))


def lyapunov_summary(jacobians):
    """``{"lyapunov_max": top exponent, "lyapunov_sum": sum of the full spectrum}``."""
    exps = lyapunov_exponents(jacobians)
    return {"lyapunov_max": exps[0], "lyapunov_sum": ops.sum(exps)}
