"""Gradient probes against finite differences and a closed form."""

import numpy as np
import pytest
from conftest import every_combination
from keras import ops

from zoo.core import catalog as registry
from zoo.core.config import RunConfig, TaskConfig, TrainConfig
from zoo.engine import run as training
from zoo.engine.probe_program import PROGRAMS

TASK = TaskConfig(window=4, horizon=2)


def _engine(cell, mode, units=3):
    import keras

    keras.utils.set_random_seed(0)  # the probes are checked on these weights, the same every run
    run = RunConfig(cell, mode, seed=0, units=units, task=TASK, train=TrainConfig(loss="mse"))
    eng = training.engine(run)
    model = eng.template
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    return eng, model, tv, ntv


def _data(mode, n=4):
    spec = registry.get_mode(mode)
    rng = np.random.default_rng(1)
    values = rng.normal(size=40).astype(np.float32)
    from zoo.core.tasks import sine as tasks

    w = tasks.make_windows(values, TASK.window, TASK.horizon, spec.layout, spec.target)
    return w.x[:n], w.y[:n]


@pytest.mark.parametrize("cell,mode", every_combination(registry.list_cells(), registry.list_modes()))
def test_input_gradient_matches_finite_differences(cell, mode):
    eng, model, tv, ntv = _engine(cell, mode)
    x, y = _data(mode)
    # The input_gradient probe's raw dL/dx (a one-step layout's as a step per value: reshaped back).
    analytic = np.asarray(PROGRAMS.get(eng).fns["input_gradient"](tv, ntv, x, y)["grads"]).reshape(x.shape)

    def loss(xx):
        pred = np.asarray(eng.predict(tv, ntv, xx.astype(np.float32)), dtype=np.float64)
        return np.sum((pred - y) ** 2) / np.prod(y.shape[1:])

    # At a relu kink (IndRNN, IRNN) the central difference averages the two
    # sides; the analytic gradient is one of them, so either side may match.
    eps = 1e-2
    base = loss(x.astype(np.float64))
    for idx in np.ndindex(x.shape):
        up, down = x.astype(np.float64).copy(), x.astype(np.float64).copy()
        up[idx] += eps
        down[idx] -= eps
        f_up, f_down = loss(up), loss(down)
        candidates = [(f_up - f_down) / (2 * eps), (f_up - base) / eps, (base - f_down) / eps]
        assert any(abs(analytic[idx] - c) <= 2e-3 + 2e-2 * abs(c) for c in candidates), (idx, analytic[idx], candidates)


def _unroll(cell, x, h, start):
    """Run ``cell`` from step ``start`` to the end on a flat state ``h``."""
    sizes = list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
    for t in range(start, x.shape[1]):
        states = np.split(h, np.cumsum(sizes)[:-1], axis=-1)
        _, new = cell(ops.convert_to_tensor(x[:, t]), [ops.convert_to_tensor(s) for s in states])
        new = new if isinstance(new, (list, tuple)) else [new]
        h = np.concatenate([np.asarray(s, dtype=np.float64) for s in new], axis=-1)
    return h


def fd_state_jacobian_norm(cell, x, size: int, t: int, eps: float = 1e-3) -> float:
    """Mean Frobenius norm of dh_T/dh_t over the batch, by central differences.

    Every perturbed state (each of the ``size`` directions, up and down, for each
    sequence) is one row of a single batch, unrolled once: the cell computes each
    row alone, so this is the loop over directions without its ``2 * size`` unrolls.
    """
    batch = len(x)
    h_t = _unroll(cell, x[:, :t], np.zeros((batch, size)), 0)
    steps = eps * np.eye(size)[:, None, :]  # (direction, 1, size)
    starts = np.concatenate([h_t[None] + steps, h_t[None] - steps])  # (2 * size, batch, size)
    ends = _unroll(cell, np.tile(x, (2 * size, 1, 1)), starts.reshape(-1, size), t).reshape(2, size, batch, size)
    jac = np.moveaxis((ends[0] - ends[1]) / (2 * eps), 0, -1)  # (batch, out, in)
    return float(np.mean(np.linalg.norm(jac, axis=(1, 2))))


@pytest.mark.parametrize("cell", registry.list_cells())
def test_state_jacobian_matches_finite_differences(cell):
    eng, model, tv, ntv = _engine(cell, "many_to_one")
    x, y = _data("many_to_one")
    x = x.astype(np.float64)
    rnn_cell = model.get_layer("rnn").cell
    probe = PROGRAMS.get(eng).values("state_jacobian", tv, ntv, x.astype(np.float32), y)["dhT_dht"]
    steps = x.shape[1]
    size = sum(rnn_cell.state_size) if isinstance(rnn_cell.state_size, (list, tuple)) else rnn_cell.state_size
    assert probe.shape == (steps + 1,)
    assert probe[0] == pytest.approx(np.sqrt(size))  # dh_T/dh_T is the identity
    for t in range(steps):  # lag steps - t
        expected = fd_state_jacobian_norm(rnn_cell, x, size, t)
        assert probe[steps - t] == pytest.approx(expected, rel=2e-2)


def test_simple_rnn_state_jacobian_closed_form():
    # h' = tanh(x K + h R + b), so dh'/dh = diag(1 - h'^2) R^T, chained over steps.
    eng, model, tv, ntv = _engine("simple_rnn", "many_to_one", units=5)
    x, y = _data("many_to_one", n=3)
    K, R, b = (np.asarray(v, dtype=np.float64) for v in model.get_layer("rnn").cell.get_weights())
    hs = [np.zeros((len(x), 5))]
    for t in range(x.shape[1]):
        hs.append(np.tanh(x[:, t].astype(np.float64) @ K + hs[-1] @ R + b))
    chained = np.broadcast_to(np.eye(5), (len(x), 5, 5))
    expected = [np.sqrt(5.0)]
    for t in reversed(range(x.shape[1])):
        step = (1 - hs[t + 1] ** 2)[:, :, None] * R.T[None]
        chained = chained @ step
        expected.append(np.mean(np.linalg.norm(chained, axis=(1, 2))))
    np.testing.assert_allclose(PROGRAMS.get(eng).values("state_jacobian", tv, ntv, x, y)["dhT_dht"], expected,
                               rtol=1e-5)


def test_decay_rate_recovers_a_known_slope():
    lags = np.arange(0, 8)
    norms = 3.0 * np.exp(-0.7 * lags)
    norms[0] = 10.0  # lag 0 (the identity) is left out of the fit
    assert training.decay_rate(lags, norms) == pytest.approx(-0.7)


def test_probe_epochs_cover_first_middle_last():
    assert training.probe_epochs(120, 3) == [1, 60, 120]
    assert training.probe_epochs(1, 3) == [1]
