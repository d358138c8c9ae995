"""The modern recurrent cells against NumPy transcriptions of their reference code,
their parallel forms against their per-step forms, and the probes against the
closed-form dynamics of the LRU and minGRU."""

import keras
import numpy as np
import pytest
from conftest import every_combination
from keras import ops
from test_dynamics import probes_csv_rows

from zoo.core import catalog as registry
from zoo.core.config import RunConfig, TaskConfig, TrainConfig
from zoo.engine import backend
from zoo.models import scan
from zoo.models.cells.base import UnitsCell
from zoo.models.parallel import ParallelRNN, has_parallel_form

rng = np.random.default_rng(21)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def log_sigmoid(a):
    return -np.logaddexp(0.0, -a)


def _built(name: str, units: int, features: int):
    cell = registry.get_cell(name).builder(units)
    keras.layers.RNN(cell)(np.zeros((1, 2, features), np.float32))
    cell.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in cell.get_weights()])
    return cell, {w.path.split("/")[-1]: np.asarray(w.numpy(), np.float64) for w in cell.weights}


def _steps(cell, x, states):
    """Step ``cell`` over x (batch, T, features) from ``states``; every step's states, in float64."""
    out = []
    for t in range(x.shape[1]):
        _, states = cell(ops.convert_to_tensor(x[:, t]), [ops.convert_to_tensor(s) for s in states])
        states = [np.asarray(s, np.float32) for s in states]
        out.append([s.astype(np.float64) for s in states])
    return out


# NumPy transcriptions of the reference code, one step, in the reference's own layout.

def lem_reference(w, dt, x, y, z):
    """tk-rusch/LEM, LEMCell.forward (inp2hid, hid2hid, transform_z; chunks as there)."""
    u = y.shape[-1]
    inp = x @ w["kernel"] + w["bias"]
    hid = y @ w["recurrent_kernel"] + w["recurrent_bias"]
    i_dt1, i_dt2, i_z, i_y = (inp[:, k * u:(k + 1) * u] for k in range(4))
    h_dt1, h_dt2, h_y = (hid[:, k * u:(k + 1) * u] for k in range(3))
    ms_dt_bar = dt * sigmoid(i_dt1 + h_dt1)
    ms_dt = dt * sigmoid(i_dt2 + h_dt2)
    z = (1.0 - ms_dt) * z + ms_dt * np.tanh(i_y + h_y)
    y = (1.0 - ms_dt_bar) * y + ms_dt_bar * np.tanh(z @ w["z_kernel"] + w["z_bias"] + i_z)
    return y, z


def cornn_reference(w, dt, gamma, epsilon, x, hy, hz):
    """tk-rusch/coRNN, coRNNCell.forward: i2h on cat(x, hz, hy), z first, then y."""
    hz = hz + dt * (np.tanh(np.concatenate([x, hz, hy], 1) @ w["kernel"] + w["bias"]) - gamma * hy - epsilon * hz)
    hy = hy + dt * hz
    return hy, hz


def slstm_reference(w, x, states):
    """NX-AI/xlstm, slstm_forward_pointwise, with its first-step branch (m' = ĩ while n = 0)."""
    y, c, n, m = states
    u = y.shape[-1]
    raw = x @ w["kernel"] + y @ w["recurrent_kernel"] + w["bias"]
    iraw, fraw, zraw, oraw = (raw[:, k * u:(k + 1) * u] for k in range(4))
    logfplusm = m + log_sigmoid(fraw)
    mnew = iraw if np.all(n == 0.0) else np.maximum(iraw, logfplusm)
    ogate = sigmoid(oraw)
    igate = np.exp(iraw - mnew)
    fgate = np.exp(logfplusm - mnew)
    cnew = fgate * c + igate * np.tanh(zraw)
    nnew = fgate * n + igate
    return [ogate * cnew / nnew, cnew, nnew, mnew]


def rglru_reference(w, x, h):
    """google-deepmind/recurrentgemma, RGLRU.forward after its first token (one head), with
    the input projection in front; the gate kernel's columns are [a_gate | input_gate]."""
    u = h.shape[-1]
    xp = x @ w["kernel"] + w["bias"]
    gates = xp @ w["gate_kernel"] + w["gate_bias"]
    gate_a, gate_x = sigmoid(gates[:, :u]), sigmoid(gates[:, u:])
    log_a = -8.0 * gate_a * np.logaddexp(0.0, w["a_param"])
    a, a_square = np.exp(log_a), np.exp(2 * log_a)
    return a * h + (xp * gate_x) * np.sqrt(1 - a_square)


def lru_reference(w, x, h):
    """The LRU paper's Appendix A forward, one step, complex arithmetic: (y, h)."""
    lam = np.exp(-np.exp(w["nu_log"]) + 1j * np.exp(w["theta_log"]))
    b = w["B_re"] + 1j * w["B_im"]
    c = w["C_re"] + 1j * w["C_im"]
    h = lam * h + np.exp(w["gamma_log"]) * (x @ b)
    return (h @ c).real + x @ w["D"], h


def test_lem_steps_as_its_reference_code():
    cell, w = _built("lem", 5, 2)
    x = rng.normal(size=(3, 6, 2))
    y = z = np.zeros((3, 5))
    for t, (got_y, got_z) in enumerate(_steps(cell, x, [y, z])):
        y, z = lem_reference(w, 0.0242, x[:, t], y, z)
        np.testing.assert_allclose(got_y, y, atol=1e-5)
        np.testing.assert_allclose(got_z, z, atol=1e-5)
    assert cell.dt == 0.0242


def test_cornn_steps_as_its_reference_code():
    cell, w = _built("cornn", 5, 2)
    x = rng.normal(size=(3, 6, 2))
    hy, hz = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    for t, (got_y, got_z) in enumerate(_steps(cell, x, [hy, hz])):
        hy, hz = cornn_reference(w, 0.06, 66.0, 15.0, x[:, t], hy, hz)
        np.testing.assert_allclose(got_z, hz, atol=1e-4, rtol=1e-5)
        np.testing.assert_allclose(got_y, hy, atol=1e-4, rtol=1e-5)


def test_slstm_output_matches_its_reference_code_and_stabiliser():
    cell, w = _built("slstm", 4, 2)
    x = rng.normal(size=(3, 8, 2))
    states = [np.zeros((3, 4))] * 4
    for t, got in enumerate(_steps(cell, x, states)):
        states = slstm_reference(w, x[:, t], states)
        np.testing.assert_allclose(got[0], states[0], atol=1e-5)  # h: the same
        # c, n and exp(m) differ from the reference's by one common factor per unit (its first-step m).
        np.testing.assert_allclose(got[1] / got[2], states[1] / states[2], atol=1e-5)
        np.testing.assert_allclose(got[1] * np.exp(got[3]), states[1] * np.exp(states[3]), rtol=1e-4, atol=1e-5)


def test_rglru_steps_as_its_reference_code():
    cell, w = _built("rglru", 5, 2)
    x = rng.normal(size=(3, 6, 2))
    h = rng.normal(size=(3, 5))
    for t, (got,) in enumerate(_steps(cell, x, [h])):
        h = rglru_reference(w, x[:, t], h)
        np.testing.assert_allclose(got, h, atol=1e-5)


def test_lru_steps_as_the_papers_code():
    cell, w = _built("lru", 5, 2)
    x = rng.normal(size=(3, 6, 2))
    h = np.zeros((3, 5), complex)
    states = [h.real, h.imag]
    for t in range(x.shape[1]):
        y, states = cell(ops.convert_to_tensor(x[:, t].astype(np.float32)),
                         [ops.convert_to_tensor(s.astype(np.float32)) for s in states])
        ref_y, h = lru_reference(w, x[:, t], h)
        np.testing.assert_allclose(np.asarray(y), ref_y, atol=1e-5)
        np.testing.assert_allclose(np.asarray(states[0]), h.real, atol=1e-5)
        np.testing.assert_allclose(np.asarray(states[1]), h.imag, atol=1e-5)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
def test_min_cells_step_as_the_papers_equations(name):
    cell, w = _built(name, 4, 2)
    x = rng.normal(size=(3, 5, 2))
    h = rng.normal(size=(3, 4))
    for t, (got,) in enumerate(_steps(cell, x, [h])):
        pre = x[:, t] @ w["kernel"] + w["bias"]
        if name == "mingru":
            z = sigmoid(pre[:, :4])
            h = (1 - z) * h + z * pre[:, 4:]
        else:
            f, i = sigmoid(pre[:, :4]), sigmoid(pre[:, 4:8])
            h = f / (f + i) * h + i / (f + i) * pre[:, 8:]
        np.testing.assert_allclose(got, h, atol=1e-5)


def test_initialisations_are_the_papers():
    lru, _ = _built("lru", 64, 1)
    fresh = registry.get_cell("lru").builder(256)
    keras.layers.RNN(fresh)(np.zeros((1, 2, 1), np.float32))
    lam_re, lam_im = (np.asarray(v) for v in fresh.eigenvalues())
    modulus = np.hypot(lam_re, lam_im)
    assert modulus.min() >= 0.9 - 1e-6 and modulus.max() <= 0.999 + 1e-6
    np.testing.assert_allclose(np.exp(fresh.gamma_log.numpy()), np.sqrt(1 - modulus**2), rtol=1e-4)
    rg = registry.get_cell("rglru").builder(256)
    keras.layers.RNN(rg)(np.zeros((1, 2, 1), np.float32))
    a = np.exp(-np.logaddexp(0.0, rg.a_param.numpy()))
    assert a.min() >= 0.9 - 1e-6 and a.max() <= 0.999 + 1e-6
    sl = registry.get_cell("slstm").builder(5)
    keras.layers.RNN(sl)(np.zeros((1, 2, 1), np.float32))
    np.testing.assert_allclose(sl.bias.numpy()[5:10], 5 - 12 * (np.arange(5) / 4) ** 0.3, rtol=1e-6)
    assert not np.any(sl.recurrent_kernel.numpy())


def test_several_states_are_named_and_sized():
    from zoo.models.cells.slstm import SLSTMCell

    assert SLSTMCell.state_names() == ("h", "c", "n", "m")
    assert SLSTMCell(3).state_size == [3, 3, 3, 3]
    assert UnitsCell(3).state_size == 3  # one state stays an int, as Keras's own cells


# The parallel forms.

PARALLEL = [c for c in registry.list_cells() if has_parallel_form(registry.get_cell(c).builder(2))]


def test_the_lineage_cells_with_a_parallel_form():
    assert {"mingru", "minlstm", "lru", "rglru"} <= set(PARALLEL)


def _both_forms(name, features=2, units=4):
    cell = registry.get_cell(name).builder(units)
    per_step = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    parallel = ParallelRNN(cell, return_sequences=True, return_state=True)
    per_step(np.zeros((1, 3, features), np.float32))
    parallel(np.zeros((1, 3, features), np.float32))
    cell.set_weights([w + rng.normal(scale=0.1, size=w.shape).astype(np.float32) for w in cell.get_weights()])
    return cell, per_step, parallel


@pytest.mark.parametrize("name,steps", every_combination(PARALLEL, [5, 100, 1000]))
def test_parallel_form_agrees_with_the_per_step_form(name, steps):
    cell, per_step, parallel = _both_forms(name)
    x = rng.normal(size=(2, steps, 2)).astype(np.float32)
    probe = rng.normal(size=(2, steps, 4)).astype(np.float32)
    tv = [v.value for v in cell.trainable_variables]

    def loss_of(layer):
        def loss(args):
            weights, inputs = args
            out = layer.stateless_call(weights, [], inputs)[0]
            return ops.sum(out[0] * probe) + ops.sum(ops.concatenate(out[1:], axis=-1))
        return loss

    def forward(layer):
        return backend.compile_fn(lambda weights, inputs: layer.stateless_call(weights, [], inputs)[0])

    outs = [[np.asarray(o) for o in forward(layer)(tv, x)] for layer in (per_step, parallel)]
    for a, b in zip(*outs):  # every step's output, then each final state
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(a).max()))
    grads = [backend.compile_fn(backend.grad(loss_of(layer)))((tv, x)) for layer in (per_step, parallel)]
    for a, b in zip(*(list(g[0]) + [g[1]] for g in grads)):  # each weight, then the input
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4 * max(1.0, np.abs(a).max()))


def test_build_model_trains_through_the_parallel_form_and_keeps_the_rest():
    from zoo.engine.build import build_model

    model = build_model("mingru", "many_to_many", 4, 5, 3)
    assert [type(model.get_layer(n)) for n in ("encoder", "decoder")] == [ParallelRNN, ParallelRNN]
    assert type(build_model("gru", "many_to_one", 4, 5, 1).get_layer("rnn")) is keras.layers.RNN


def test_two_level_recurrence_is_the_recurrence():
    a = rng.uniform(0, 1, size=(3, 37, 4)).astype(np.float32)
    b = rng.normal(size=(3, 37, 4)).astype(np.float32)
    h0 = rng.normal(size=(3, 4)).astype(np.float32)
    expected, h = [], h0.astype(np.float64)
    for t in range(37):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    expected = np.stack(expected, 1)
    for chunk in (1, 5, 7, 37, 50):
        got = scan.two_level_linear_recurrence(a, b, h0, chunk)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)
    for method in scan.METHODS:
        got = scan.linear_recurrence(a, b, h0, method)
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)
    lam = 0.97 * np.exp(1j * rng.uniform(0, 2 * np.pi, 4))
    bc = b + 1j * rng.normal(size=b.shape)
    expected, h = [], h0.astype(complex)
    for t in range(37):
        h = lam * h + bc[:, t]
        expected.append(h)
    expected = np.stack(expected, 1)
    args = ((lam.real.astype(np.float32), lam.imag.astype(np.float32)),
            (bc.real.astype(np.float32), bc.imag.astype(np.float32)), (h0, np.zeros_like(h0)))
    for got in [scan.two_level_complex_linear_recurrence(*args, 6)] + [
            scan.complex_linear_recurrence(*args, method) for method in scan.METHODS]:
        np.testing.assert_allclose(np.asarray(got[0]) + 1j * np.asarray(got[1]), expected, rtol=1e-5, atol=1e-5)


# The probes on dynamics with a closed form.

WINDOW = 12


def _probe_rows(name, units, x):
    from zoo.engine import run as training
    keras.utils.set_random_seed(0)
    run = RunConfig(name, "many_to_one", 0, units=units, task=TaskConfig(window=x.shape[1]),
                    train=TrainConfig(loss="mse"))
    eng = training.engine(run)
    model = eng.template
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    y = rng.normal(size=(len(x), 1)).astype(np.float32)
    return probes_csv_rows(eng, tv, ntv, x, y), model.get_layer("rnn").cell


def test_lru_probes_are_its_eigenvalues():
    # One step: [Re h, Im h] -> a rotation-scaling by λ_k per unit, whatever the input.
    x = rng.normal(size=(4, WINDOW, 1)).astype(np.float32)
    rows, cell = _probe_rows("lru", 6, x)
    lam_re, lam_im = (np.asarray(v, np.float64) for v in cell.eigenvalues())
    modulus = np.hypot(lam_re, lam_im)
    first = rows[0]
    for row in rows:  # ‖dh_T/dh_t‖_F = (2 Σ |λ|^(2 lag))^(1/2)
        assert row["dhT_dht"] == pytest.approx(np.sqrt(2 * np.sum(modulus ** (2 * row["lag"]))), rel=1e-5)
    assert (first["jac_sigma_max"], first["jac_sigma_min"]) == pytest.approx((modulus.max(), modulus.min()), rel=1e-5)
    assert first["lyapunov_top"] == pytest.approx(np.log(modulus.max()), rel=1e-4)
    assert first["lyapunov_sum"] == pytest.approx(2 * np.sum(np.log(modulus)), rel=1e-4)
    assert first["qr_lyapunov_max"] == pytest.approx(np.log(modulus.max()), rel=1e-3)


def test_mingru_probe_is_the_product_of_its_carry_gates():
    x = rng.normal(size=(4, WINDOW, 1)).astype(np.float64)
    rows, cell = _probe_rows("mingru", 5, x.astype(np.float32))
    w = {v.path.split("/")[-1]: np.asarray(v.numpy(), np.float64) for v in cell.weights}
    carry = 1 - sigmoid(x @ w["kernel"][:, :5] + w["bias"][:5])  # (batch, T, units): the Jacobian diag(1 - z_t)
    for row in rows:
        lag = row["lag"]
        product = np.prod(carry[:, WINDOW - lag:], axis=1)  # dh_T/dh_{T-lag} = Π diag(1 - z)
        assert row["dhT_dht"] == pytest.approx(np.mean(np.linalg.norm(product, axis=1)), rel=1e-5)
    chain = np.prod(carry, axis=1)
    assert rows[0]["lyapunov_top"] == pytest.approx(np.mean(np.log(chain.max(axis=1))) / WINDOW, rel=1e-4)
    assert (rows[0]["jac_sigma_max"], rows[0]["jac_sigma_min"]) == pytest.approx((carry.max(), carry.min()), rel=1e-5)


def test_long_table_keeps_a_setting_named_like_one_of_its_columns():
    # Runs whose train.loss differs (as a grid giving each task its own loss): the history's
    # loss column and the setting both survive, the setting under its full name.
    from pathlib import Path
    from types import SimpleNamespace

    import pandas as pd

    from zoo.report.tables import long_table

    runs = [SimpleNamespace(config=RunConfig("gru", "many_to_one", 0, train=TrainConfig(loss=loss)),
                            path=Path(f"/runs/{loss}"), metrics={"status": "ok"},
                            history=pd.DataFrame({"epoch": [1, 2], "loss": [0.5, 0.25]}))
            for loss in ("mae", "mse")]
    table = long_table(runs, "history")
    assert list(table["train.loss"]) == ["mae", "mae", "mse", "mse"]
    assert list(table["loss"]) == [0.5, 0.25, 0.5, 0.25]


def test_lineage_table_pools_seeds_per_task_and_cell():
    import pandas as pd

    from zoo.report import lineage

    def run(task, cell, seed, ratio, init, end, lo, hi, top):
        return {"task": task, "length": 100, "cell": cell, "seed": seed, "status": "ok", "metric": "test_mse",
                "value": ratio * 0.17, "ratio": ratio, "solved": ratio < 0.1, "factor_init": init, "factor_end": end,
                "sigma_min": lo, "sigma_max": hi, "lyapunov_top": top,
                "claim": "eigenvalues near the unit circle, so slow decay" if cell == "lru" else ""}  # as declared

    frame = pd.DataFrame([run("adding", "lru", 0, 0.05, 0.95, 0.97, 0.9, 0.99, -0.02),
                          run("adding", "lru", 1, 0.5, 0.93, 0.91, 0.8, 0.999, -0.04),
                          run("adding", "lru", 2, 0.02, 0.94, 0.99, 0.85, 0.98, -0.03),
                          run("adding", "simple_rnn", 0, 1.0, 0.4, 0.3, 0.01, 1.2, -1.0)])
    table = lineage.cell_table(frame)
    lru = table[table.cell == "lru"].iloc[0]
    assert lru.solved == "2/3" and lru.factor_init == 0.94 and lru.factor_end == 0.97  # medians
    assert (lru.sigma_min, lru.sigma_max) == (0.8, 0.999)  # the extremes over seeds
    assert lru.ratio == pytest.approx((0.05 + 0.5 + 0.02) / 3) and lru.lyapunov_top == pytest.approx(-0.03)
    words = lineage.findings(table)
    assert words[0].startswith("adding: the gradient stays alive") and "lru (0.97)" in words[0]
    assert "vanishes (< 0.5) in simple_rnn (0.30)" in words[0] and "majority of seeds: lru." in words[0]
    assert any("lru: the paper claims eigenvalues near the unit circle" in w and "consistent" in w for w in words)
    assert not any("simple_rnn: the paper claims" in w for w in words)  # it declares no claim
    assert "| adding | lru | mse" in lineage.markdown(table)
