"""zoo.engine.spectrum against closed forms of linear and diagonal recurrences."""

import jax
import numpy as np
import pytest
from keras import ops

from zoo.engine import spectrum

RNG = np.random.default_rng(0)


def _orthogonal(n):
    return np.linalg.qr(RNG.normal(size=(n, n)))[0]


def _repeat(w, steps, batch=1):
    """The Jacobians of h_{t+1} = W h_t: W at every step and sample."""
    return ops.convert_to_tensor(np.broadcast_to(w, (steps, batch) + w.shape).astype(np.float32))


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_singular_values_of_a_linear_rnn():
    s = np.array([2.5, 1.2, 0.7, 0.5, 0.3])
    # A different U diag(s) V^T at every (step, sample), all with singular values s.
    jac = np.stack([[_orthogonal(5) @ np.diag(s) @ _orthogonal(5).T for _ in range(3)] for _ in range(3)])
    out = spectrum.jacobian_singular_values(ops.convert_to_tensor(jac.astype(np.float32)))
    np.testing.assert_allclose(_np(out["sigma_max"]), 2.5, rtol=1e-5)
    np.testing.assert_allclose(_np(out["sigma_min"]), 0.3, rtol=1e-5)
    np.testing.assert_allclose(_np(out["sigma_median"]), 0.7, rtol=1e-5)  # 45 values, 9 of each


def test_lyapunov_exponents_of_a_symmetric_linear_rnn():
    lam = np.array([1.5, -0.9, 0.6, 0.2])  # sorted by |lambda|
    q = _orthogonal(4)
    w = q @ np.diag(lam) @ q.T
    # Started from I, column i of the QR method measures log|lambda_i| plus a
    # 1/T bias from the start: (1/T) log|m_i / m_{i-1}|, m_i the leading i x i
    # minor of the eigenvector matrix (Cauchy-Binet; the remainder is
    # O((lambda_{i+1}/lambda_i)^{2T}), below float precision here).
    minors = np.array([1.0] + [abs(np.linalg.det(q[:i, :i])) for i in range(1, 5)])
    for steps in (50, 200):
        exps = _np(spectrum.lyapunov_exponents(_repeat(w, steps, batch=2)))
        exact = np.log(np.abs(lam)) + np.log(minors[1:] / minors[:-1]) / steps
        np.testing.assert_allclose(exps, exact, rtol=1e-4)
        np.testing.assert_allclose(exps.sum(), np.log(abs(np.linalg.det(w))), rtol=1e-4)  # exact at any T
    np.testing.assert_allclose(exps, np.log(np.abs(lam)), atol=0.02)  # -> log|lambda| as T grows
    exps_50 = _np(spectrum.lyapunov_exponents(_repeat(w, 50)))
    # The first k columns do not depend on the others.
    np.testing.assert_allclose(_np(spectrum.lyapunov_exponents(_repeat(w, 50), k=2)), exps_50[:2], rtol=1e-5)
    summary = spectrum.lyapunov_summary(_repeat(w, 50))
    # The summary's top exponent discards the first fifth of the steps: the start-up term
    # becomes (1/(T - t0)) log|m_1 after t0 steps|, by the same closed form.
    t0 = spectrum.qr_transient(50)
    assert t0 == 10
    top = (np.log(np.linalg.norm(np.linalg.matrix_power(w, 50)[:, 0]))
           - np.log(np.linalg.norm(np.linalg.matrix_power(w, t0)[:, 0]))) / (50 - t0)
    np.testing.assert_allclose(_np(summary["qr_lyapunov_max"]), top, rtol=1e-4)
    np.testing.assert_allclose(_np(spectrum.lyapunov_exponents(_repeat(w, 50), transient=t0))[0], top, rtol=1e-4)
    np.testing.assert_allclose(_np(summary["lyapunov_sum"]), exps_50.sum(), rtol=1e-5)
    assert _np(summary["lyapunov_sum_unresolved"]) == 0.0


def test_lyapunov_exponents_of_a_diagonal_cell_with_time_varying_gains():
    steps, batch, n = 30, 4, 3
    gains = RNG.uniform(0.2, 1.5, size=(steps, batch, n)) * RNG.choice([-1.0, 1.0], size=(steps, batch, n))
    jac = np.einsum("tbi,ij->tbij", gains, np.eye(n)).astype(np.float32)
    exps = _np(spectrum.lyapunov_exponents(ops.convert_to_tensor(jac)))
    expected = np.sort(np.log(np.abs(gains)).mean(axis=(0, 1)))[::-1]  # per unit, over t and batch
    np.testing.assert_allclose(exps, expected, rtol=1e-4)


def test_non_normal_jacobian_big_sigma_max_yet_decaying():
    a = np.array([[0.5, 10.0], [0.0, 0.5]])
    steps = 200
    sv = spectrum.jacobian_singular_values(_repeat(a, steps))
    assert _np(sv["sigma_max"]) > 10  # one step stretches some direction 20-fold...
    exps = _np(spectrum.lyapunov_exponents(_repeat(a, steps)))
    np.testing.assert_allclose(exps[0], np.log(0.5), rtol=0.05)  # ...yet perturbations decay as 0.5^t
    # Rotated so that the start e1 is not the eigenvector: the top column is exactly
    # (1/T) log ||M^T e1||, about log 0.5 + log(20 T)/T, still converging to log 0.5.
    p = _orthogonal(2)
    m = p @ a @ p.T
    exps = _np(spectrum.lyapunov_exponents(_repeat(m, steps)))
    exact = np.log(np.linalg.norm(np.linalg.matrix_power(m, steps)[:, 0])) / steps
    np.testing.assert_allclose(exps[0], exact, rtol=1e-4)
    np.testing.assert_allclose(exps[0], np.log(0.5), rtol=0.1)
    np.testing.assert_allclose(exps.sum(), 2 * np.log(0.5), rtol=1e-4)


def test_collapsed_direction_is_finite():
    exps = _np(spectrum.lyapunov_exponents(_repeat(np.diag([0.5, 0.0]), 10)))
    np.testing.assert_allclose(exps, [np.log(0.5), np.log(spectrum.LOG_FLOOR)], rtol=1e-5)


def test_the_part_of_the_sum_below_float32_resolution_is_reported():
    # One direction collapses (clamped at LOG_FLOOR), one shrinks by 1e-9 (below float32's
    # 1.2e-7 of the step's norm: round-off in a float32 Jacobian), one by 1e-3 (resolved).
    summary = spectrum.lyapunov_summary(_repeat(np.diag([0.5, 0.0, 1e-9, 1e-3]), 10))
    logs = np.log([0.5, spectrum.LOG_FLOOR, 1e-9, 1e-3])
    np.testing.assert_allclose(_np(summary["lyapunov_sum"]), logs.sum(), rtol=1e-5)
    np.testing.assert_allclose(_np(summary["lyapunov_sum_unresolved"]), logs[1] + logs[2], rtol=1e-5)
    assert spectrum.FLOAT32_RESOLUTION == 2.0**-23
    with pytest.raises(ValueError, match="transient"):
        spectrum.lyapunov_exponents(_repeat(np.eye(2), 3), transient=3)


def test_compiles_under_jax_jit():
    w = _orthogonal(3) @ np.diag([1.2, 0.8, 0.1]) @ _orthogonal(3).T
    jac = _repeat(w, 20, batch=2)

    @jax.jit
    def both(j):
        return spectrum.jacobian_singular_values(j), spectrum.lyapunov_summary(j), spectrum.lyapunov_exponents(j, k=2)

    sv, summary, top2 = both(jac)
    for got, want in ((sv, spectrum.jacobian_singular_values(jac)), (summary, spectrum.lyapunov_summary(jac))):
        for key in want:
            np.testing.assert_allclose(_np(got[key]), _np(want[key]), rtol=1e-5)
    np.testing.assert_allclose(_np(top2), _np(spectrum.lyapunov_exponents(jac))[:2], rtol=1e-5)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        spectrum.lyapunov_exponents(np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError):
        spectrum.lyapunov_exponents(_repeat(np.eye(2), 3), k=3)
