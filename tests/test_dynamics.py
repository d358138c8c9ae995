"""The engine's spectrum probe on cells whose one-step Jacobian is known, and the
decay statistics of zoo.core.analysis with exact numbers."""

import math

import numpy as np
import pytest

from zoo.core import analysis
from zoo.core.config import RunConfig, TaskConfig, TrainConfig

WINDOW = 6
RNG = np.random.default_rng(3)


def _probe(isolated_registry, name, builder, kernel, window=WINDOW):
    """Register ``builder`` as a cell, put ``kernel`` in its recurrent weight and run the probes."""
    from zoo.engine import run as training

    isolated_registry.register_cell(name, param_count=lambda i, u: 0)(builder)
    run = RunConfig(name, "many_to_one", 0, units=len(kernel), task=TaskConfig(window=window),
                    train=TrainConfig(loss="mse"))
    eng = training.engine(run)
    model = eng.template
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    # The cell's own name gets a suffix when Keras has built others in this process.
    paths = [v.path for v in model.trainable_variables]
    i = next(j for j, p in enumerate(paths) if p.startswith("rnn/") and p.endswith("/recurrent_kernel"))
    tv[i] = kernel.astype(np.float32)
    x = RNG.normal(size=(4, window, 1)).astype(np.float32)
    y = RNG.normal(size=(4, 1)).astype(np.float32)
    return probes_csv_rows(eng, tv, ntv, x, y)


def probes_csv_rows(eng, tv, ntv, x, y) -> list[dict]:
    """The registered probes' rows at the weights ``tv``, ``ntv``, put side by side as a run's probes.csv
    has them (``zoo.engine.run.probes_csv``): a row per lag, the spectrum's numbers on each."""
    import pandas as pd

    from zoo.engine.probe_program import PROGRAMS
    from zoo.engine.run import probes_csv

    program = PROGRAMS.get(eng)
    tables = {name: pd.DataFrame(rows, columns=list(program.specs[name].table_columns))
              for name, rows in program.rows(1, tv, ntv, x, y).items()}
    return probes_csv(tables, program.specs).to_dict("records")


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
    # The top exponent: σ1 of the chain (R^T)^T over T, exactly log 1.3 for a symmetric R.
    assert first["lyapunov_top"] == pytest.approx(np.log(1.3), rel=1e-5)
    # The QR column grows as ‖R^t e1‖; with the first T // 5 steps discarded it measures
    # (log‖R^T e1‖ - log‖R^t0 e1‖) / (T - t0), still not log 1.3 over a short window.
    t0 = WINDOW // 5
    qr = (np.log(np.linalg.norm(np.linalg.matrix_power(r, WINDOW)[:, 0]))
          - np.log(np.linalg.norm(np.linalg.matrix_power(r, t0)[:, 0]))) / (WINDOW - t0)
    assert first["qr_lyapunov_max"] == pytest.approx(qr, rel=1e-4)
    assert first["lyapunov_sum_unresolved"] == 0.0
    # ‖dh_T/dh_t‖ by lag is ‖(R^T)^lag‖_F, the same for every sample.
    for row in rows:
        expected = np.sqrt(np.sum(lam ** (2 * row["lag"])))
        assert row["dhT_dht"] == pytest.approx(expected, rel=1e-5)
        assert row["jac_sigma_max"] == first["jac_sigma_max"]  # one value per epoch, on every lag row


def diagonal_rnn(units=5):
    "h' = W x + u * h + b (IndRNN without its relu): dh'/dh = diag(u)."
    from zoo.models.cells.indrnn import IndRNNCell

    return IndRNNCell(units, activation="linear")


def test_diagonal_cell_exponents_are_its_log_gains(isolated_registry):
    u = np.array([1.2, -0.9, 0.5, 0.25, 0.1])
    rows = _probe(isolated_registry, "diagonal_rnn", diagonal_rnn, u)
    first = rows[0]
    # A diagonal Jacobian keeps the QR basis at I: the exponents are exactly log|u_k|.
    assert first["lyapunov_top"] == pytest.approx(np.log(1.2), rel=1e-5)
    assert first["qr_lyapunov_max"] == pytest.approx(np.log(1.2), rel=1e-5)
    assert first["lyapunov_sum"] == pytest.approx(np.sum(np.log(np.abs(u))), rel=1e-5)
    assert (first["jac_sigma_max"], first["jac_sigma_min"]) == pytest.approx((1.2, 0.1), rel=1e-6)
    assert first["jac_sigma_median"] == pytest.approx(0.5, rel=1e-6)


def test_the_state_jacobian_finish_undoes_the_chain_rescaling_exactly(isolated_registry):
    """40 steps of a diagonal linear cell: the squares in ‖dh_T/dh_t‖ leave float32's range (below
    1e-38, where XLA flushes to zero), so the compiled chain is rescaled by powers of two; the
    state_jacobian probe's NumPy finish still gives the closed form ‖diag(u)^lag‖_F =
    (Σ u_k^(2 lag))^(1/2) at every lag, and the top exponent log max|u| on every lag row."""
    u = np.array([0.3, -0.2, 0.1, 0.05]).astype(np.float32).astype(np.float64)  # the weights as stored
    rows = _probe(isolated_registry, "diagonal_rnn_long", diagonal_rnn, u, window=40)
    assert [row["lag"] for row in rows] == list(range(41)) and rows[-1]["dhT_dht"] ** 2 < 1e-38
    for row in rows:
        assert row["dhT_dht"] == pytest.approx(np.sqrt(np.sum(u ** (2 * row["lag"]))), rel=1e-5)
        assert row["lyapunov_top"] == pytest.approx(np.log(0.3), rel=1e-5)


class RotateScale:
    """h' = diag(a, b) R(x_t) h, R a rotation by the input: non-commuting Jacobians that vary with x."""

    A, B = 1.5, 0.4

    @classmethod
    def jacobian(cls, theta):
        c, s = np.cos(theta), np.sin(theta)
        return np.diag([cls.A, cls.B]) @ np.array([[c, -s], [s, c]])

    @classmethod
    def builder(cls):
        import keras
        from keras import ops

        class Cell(keras.layers.Layer):
            state_size = 2
            output_size = 2

            def call(self, inputs, states, training=False):
                h, theta = states[0], inputs[:, 0]
                c, s = ops.cos(theta), ops.sin(theta)
                new = ops.stack([cls.A * (c * h[:, 0] - s * h[:, 1]), cls.B * (s * h[:, 0] + c * h[:, 1])], axis=1)
                return new, [new]

        def rotate_scale(units=2):
            "diag(a, b) times a rotation by the input."
            return Cell()

        return rotate_scale


def test_top_exponent_is_log_sigma1_of_a_non_commuting_product(isolated_registry):
    from zoo.engine import run as training

    isolated_registry.register_cell("rotate_scale", param_count=lambda i, u: 0)(RotateScale.builder())
    run = RunConfig("rotate_scale", "many_to_one", 0, units=2, task=TaskConfig(window=WINDOW),
                    train=TrainConfig(loss="mse"))
    eng = training.engine(run)
    tv = [v.value for v in eng.template.trainable_variables]
    ntv = [v.value for v in eng.template.non_trainable_variables]
    x = RNG.uniform(-np.pi, np.pi, size=(4, WINDOW, 1)).astype(np.float32)
    y = RNG.normal(size=(4, 1)).astype(np.float32)
    rows = probes_csv_rows(eng, tv, ntv, x, y)
    # Closed form: J_t = diag(a, b) R(x_t); the exponent is log σ1(J_T ⋯ J_1) / T, mean over samples.
    logs = []
    for theta in x[:, :, 0].astype(np.float64):
        product = np.eye(2)
        for t in theta:
            product = RotateScale.jacobian(t) @ product
        logs.append(np.log(np.linalg.svd(product, compute_uv=False)[0]) / WINDOW)
    assert rows[0]["lyapunov_top"] == pytest.approx(np.mean(logs), rel=1e-5)
    # The order matters (the matrices do not commute): J_1 ⋯ J_T gives another number.
    reversed_logs = [np.log(np.linalg.svd(np.linalg.multi_dot([RotateScale.jacobian(t) for t in theta]),
                                          compute_uv=False)[0]) / WINDOW for theta in x[:, :, 0].astype(np.float64)]
    assert abs(np.mean(reversed_logs) - np.mean(logs)) > 1e-3
    # The volume grows by a b per step whatever the rotations: the QR sum is exact.
    assert rows[0]["lyapunov_sum"] == pytest.approx(np.log(RotateScale.A * RotateScale.B), rel=1e-5)


def test_top_exponent_undoes_the_chain_rescaling():
    from zoo.engine import probes, spectrum

    rng = np.random.default_rng(0)
    chains = rng.normal(size=(3, 4, 4))
    sigma1 = np.linalg.svd(chains, compute_uv=False)[:, 0]
    exact = np.mean(np.log(sigma1)) / 7
    assert probes.top_exponent(chains, np.zeros(3, int), 7) == pytest.approx(exact, rel=1e-12)
    # A chain stored as M * 2^k with its k: the same exponent.
    k = np.array([32, -64, 96])
    scaled = chains * np.exp2(k)[:, None, None]
    assert probes.top_exponent(scaled, k, 7) == pytest.approx(exact, rel=1e-12)
    # A chain that collapsed to zero counts at the floor, log(LOG_FLOOR) per step.
    chains[0] = 0.0
    floor = np.log(spectrum.LOG_FLOOR)
    assert probes.top_exponent(chains, np.zeros(3, int), 7) == pytest.approx(
        (7 * floor + np.log(sigma1[1:]).sum()) / 21, rel=1e-12)
    chains[1, 0, 0] = np.nan  # a diverged run's chain: NaN, as its other probes
    assert math.isnan(probes.top_exponent(chains, np.zeros(3, int), 7))


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


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _float64_step(cell: str, weights: list[np.ndarray], units: int):
    """The cell's own equations in float64 (Keras 3's SimpleRNN, GRU with reset_after, LSTM):
    (x_t, flat state) -> flat state, the state laid out as the probe lays it (h, then c)."""
    kernel, recurrent, bias = (np.asarray(w, np.float64) for w in weights)

    def simple_rnn(x, h):
        return np.tanh(x @ kernel + h @ recurrent + bias)

    def gru(x, h):
        xz, xr, xh = np.split(x @ kernel + bias[0], 3)
        hz, hr, hh = np.split(h @ recurrent + bias[1], 3)
        z, r = _sigmoid(xz + hz), _sigmoid(xr + hr)
        return z * h + (1 - z) * np.tanh(xh + r * hh)

    def lstm(x, state):
        h, c = state[:units], state[units:]
        i, f, g, o = np.split(x @ kernel + h @ recurrent + bias, 4)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        return np.concatenate([_sigmoid(o) * np.tanh(c), c])

    return {"simple_rnn": simple_rnn, "gru": gru, "lstm": lstm}[cell]


@pytest.mark.exhaustive
@pytest.mark.parametrize("cell", ["simple_rnn", "gru", "lstm"])
def test_top_exponent_of_a_trained_run_agrees_with_float64(cell, tmp_path):
    """The stored top exponent against an independent computation: the cell's equations
    in float64, one-step Jacobians by central differences, chained and SVD'd in float64."""
    import keras

    from zoo.engine import run as training
    from zoo.engine.build import make_data

    units = 6
    task = TaskConfig(train_stop=3.0, train_points=300, test_stop=106.0, test_points=60)
    run = RunConfig(cell, "many_to_one", 0, units=units, task=task, train=TrainConfig(epochs=3, batch_size=32))
    result = training.train_run(run)
    assert result.status == "ok"
    (tmp_path / "model.keras").write_bytes(result.model_bytes)
    model = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    step = _float64_step(cell, model.get_layer("rnn").cell.get_weights(), units)
    # The probe batch, as the run's recorder picks it.
    train, _ = make_data(task, "many_to_one", 0)
    x = train.x[np.linspace(0, len(train.x) - 1, min(run.train.probe_batch, len(train.x))).astype(int)]
    size = units * (2 if cell == "lstm" else 1)
    logs = []
    for sequence in x.astype(np.float64):
        h, chain = np.zeros(size), np.eye(size)
        for x_t in sequence:
            eps = 1e-6
            jac = np.stack([(step(x_t, h + eps * e) - step(x_t, h - eps * e)) / (2 * eps) for e in np.eye(size)], 1)
            chain, h = jac @ chain, step(x_t, h)
        logs.append(np.log(np.linalg.svd(chain, compute_uv=False)[0]) / len(sequence))
    last = result.probes[result.probes.epoch == result.probes.epoch.max()].iloc[0]
    assert last.lyapunov_top == pytest.approx(np.mean(logs), abs=1e-5)
    assert result.metrics["lyapunov_top"] == last.lyapunov_top
