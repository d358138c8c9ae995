"""The engine's spectrum probe on cells whose one-step Jacobian is known, and the
decay statistics of zoo.core.analysis with exact numbers."""

import math

import numpy as np
import pytest

from zoo.core import analysis
from zoo.core.config import RunConfig, TaskConfig, TrainConfig

WINDOW = 6
RNG = np.random.default_rng(3)


def _probe(isolated_registry, name, builder, kernel):
    """Register ``builder`` as a cell, put ``kernel`` in its recurrent weight and run the probes."""
    from zoo.engine import run as training

    isolated_registry.register_cell(name, param_count=lambda i, u: 0)(builder)
    run = RunConfig(name, "many_to_one", 0, units=len(kernel), task=TaskConfig(window=WINDOW),
                    train=TrainConfig(loss="mse"))
    eng = training.engine(run)
    model = eng.template
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    # The cell's own name gets a suffix when Keras has built others in this process.
    paths = [v.path for v in model.trainable_variables]
    i = next(j for j, p in enumerate(paths) if p.startswith("rnn/") and p.endswith("/recurrent_kernel"))
    tv[i] = kernel.astype(np.float32)
    x = RNG.normal(size=(4, WINDOW, 1)).astype(np.float32)
    y = RNG.normal(size=(4, 1)).astype(np.float32)
    rows = eng.probes.probe_rows(1, tv, ntv, x, y)
    return rows


def test_linear_rnn_probe_is_the_spectrum_of_its_recurrent_kernel(isolated_registry):
    import keras

    def linear_rnn(units=4):
        "h' = x K + h R + b: dh'/dh = R^T at every step and sample."
        return keras.layers.SimpleRNNCell(units, activation="linear")

    # R = Q diag(lam) Q^T: singular values |lam|, a symmetric (normal) matrix.
    lam = np.array([1.3, -0.8, 0.5, 0.2])
    q = np.linalg.qr(RNG.normal(size=(4, 4)))[0]
    r = q @ np.diag(lam) @ q.T
    rows = _probe(isolated_registry, "linear_rnn", linear_rnn, r)
    first = rows[0]
    assert first["jac_sigma_max"] == pytest.approx(1.3, rel=1e-5)
    assert first["jac_sigma_min"] == pytest.approx(0.2, rel=1e-5)
    assert first["jac_sigma_median"] == pytest.approx(0.65, rel=1e-5)  # mean of 0.8 and 0.5
    # The sum of the exponents is exact at any length: log|det R| per step.
    assert first["lyapunov_sum"] == pytest.approx(np.log(np.prod(np.abs(lam))), rel=1e-4)
    # The top exponent: log 1.3 plus the start-up term of the QR method over WINDOW
    # steps, (1/T) log|q_11| (see tests/test_spectrum.py), whose remainder is
    # O((0.8/1.3)^(2T)) ~ 3e-3 here: within 0.01 of the closed form.
    top = np.log(1.3) + np.log(abs(q[0, 0])) / WINDOW
    assert first["lyapunov_max"] == pytest.approx(top, abs=0.01)
    # ‖dh_T/dh_t‖ by lag is ‖(R^T)^lag‖_F, the same for every sample.
    for row in rows:
        expected = np.sqrt(np.sum(lam ** (2 * row["lag"])))
        assert row["dhT_dht"] == pytest.approx(expected, rel=1e-5)
        assert row["jac_sigma_max"] == first["jac_sigma_max"]  # one value per epoch, on every lag row


def test_diagonal_cell_exponents_are_its_log_gains(isolated_registry):
    from zoo.models.cells.indrnn import IndRNNCell

    def diagonal_rnn(units=5):
        "h' = W x + u * h + b (IndRNN without its relu): dh'/dh = diag(u)."
        return IndRNNCell(units, activation="linear")

    u = np.array([1.2, -0.9, 0.5, 0.25, 0.1])
    rows = _probe(isolated_registry, "diagonal_rnn", diagonal_rnn, u)
    first = rows[0]
    # A diagonal Jacobian keeps the QR basis at I: the exponents are exactly log|u_k|.
    assert first["lyapunov_max"] == pytest.approx(np.log(1.2), rel=1e-5)
    assert first["lyapunov_sum"] == pytest.approx(np.sum(np.log(np.abs(u))), rel=1e-5)
    assert (first["jac_sigma_max"], first["jac_sigma_min"]) == pytest.approx((1.2, 0.1), rel=1e-6)
    assert first["jac_sigma_median"] == pytest.approx(0.5, rel=1e-6)


def test_decay_factor_is_the_geometric_mean_over_lags_1_to_5():
    lags = np.arange(0, 8)
    norms = np.array([8.0, 4.0, 3.0, 2.0, 1.0, 0.25, 0.2, 0.1])
    # Per-step factors 1/2, 3/4, 2/3, 1/2, 1/4: their geometric mean is (0.25/8)^(1/5) = 0.5.
    assert analysis.decay_factor(lags, norms) == pytest.approx(0.5)
    assert analysis.decay_factor(lags[:4], norms[:4]) == pytest.approx((2.0 / 8.0) ** (1 / 3))  # window 3
    assert analysis.decay_factor(lags, np.r_[8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 1.0, 1.0]) == 1.0
    assert math.isnan(analysis.decay_factor(lags, np.r_[np.nan, norms[1:]]))
    assert analysis.decay_factor(lags, np.r_[norms[:5], 0.0, 0.0, 0.0]) == 0.0


def test_late_decay_factor_needs_a_long_window():
    lags = np.arange(0, 101)
    norms = 10.0 * 0.8 ** np.minimum(lags, 80) * 0.95 ** np.maximum(lags - 80, 0)
    assert analysis.decay_factor(lags, norms) == pytest.approx(0.8)
    assert analysis.late_decay_factor(lags, norms) == pytest.approx(0.95)  # lags 80-100
    assert math.isnan(analysis.late_decay_factor(lags[:6], norms[:6]))  # window 5
    assert analysis.late_decay_factor(lags[:21], 2.0 ** -lags[:21]) == pytest.approx(0.5)  # window 20: lags 16-20


def test_vanish_lag_is_measured_or_nan():
    lags = np.arange(0, 6)
    assert analysis.vanish_lag(lags, 8.0 * 10.0 ** -lags.astype(float), 1e-3) == 4.0  # 8e-4 < 8e-3 first at 4
    assert math.isnan(analysis.vanish_lag(lags, 8.0 * np.exp(-0.5 * lags), 1e-3))  # not reached by lag 5
