"""Every task trains, and every probe is right on the memory tasks (finite differences, closed forms)."""

import dataclasses

import numpy as np
import pytest
from conftest import every_combination, every_value
from keras import ops
from test_gradients import fd_state_jacobian_norm

from zoo.core import catalog
from zoo.core.config import RunConfig, TrainConfig
from zoo.engine import run as training
from zoo.engine.build import Resolved, make_data, model_of, weight_group
from zoo.engine.losses import per_sample_loss
from zoo.engine.probe_program import PROGRAMS
from zoo.engine.probes import mean_norms

TASK_MODES = [(t, m) for t in catalog.list_tasks() for m in catalog.task_modes(catalog.get_task(t))]


def _small(name, **changes):
    spec = catalog.get_task(name)
    return spec.settings(**{**dict(spec.test_settings), **changes})


@pytest.mark.slow
@pytest.mark.parametrize("task,mode", every_value(TASK_MODES))  # make test: every task and mode once
def test_every_task_trains_in_every_mode_it_supports(task, mode):
    spec = catalog.get_task(task)
    settings = _small(task)
    run = RunConfig("gru", mode, 0, 4, settings, TrainConfig(epochs=2, batch_size=32, loss=None))
    result = training.train_run(run)
    m = result.metrics
    assert result.status == "ok"
    assert m["task"] == task and m["baseline"] == pytest.approx(spec.baseline(settings))
    assert m["ratio"] == pytest.approx(m["metric_value"] / m["baseline"])
    assert m["solved"] == (m["ratio"] < spec.solved_below) and m["length"] == getattr(settings, spec.length)
    assert set(result.probes.epoch) == {0, 1, 2}  # at initialisation, then the probed epochs
    if catalog.get_mode(mode).layout == "many":
        assert np.isfinite(m["dhT_dh1_init"]) and np.isfinite(m["dhT_dh1"])
    assert list(result.history.test_ratio) == pytest.approx(list(result.history[spec.metric] / m["baseline"]))
    model = model_of(Resolved.of(run))
    shape = dict(window=spec.steps(settings), horizon=getattr(settings, "horizon", 1), features=spec.features,
                 outputs=spec.head_units)
    assert model.count_params() == training.expected_param_count("gru", mode, 4, **shape)
    # The task's own metric, and the extra metrics it declares, every one a number.
    assert np.isfinite(m[spec.metric]) and m["metric_value"] == m[spec.metric]
    if spec.extra_metrics is not None:
        _, test = make_data(settings, mode, 0)
        pred = np.asarray(training.engine(run).predict(
            [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables], test.x))
        for key in spec.extra_metrics(test.y, pred):
            assert np.isfinite(m[key]), key
    if spec.classes:
        assert "test_ce" in m and len(result.predictions)


def test_a_step_budget_trains_exactly_that_many_steps_without_replacement():
    settings = _small("adding", train_size=100)
    run = RunConfig("simple_rnn", "many_to_one", 0, 4, settings,
                    TrainConfig(steps=30, eval_every=10, batch_size=32, probes=2))
    result = training.train_run(run)
    assert result.metrics["steps"] == 30 and list(result.history.steps) == [10, 10, 10]
    assert sorted(result.probes.epoch.unique()) == [0, 1, 3]
    train_w, test_w = make_data(settings, "many_to_one", 0)
    record = training.Recorder(run, training.engine(run), train_w, test_w, 0.0)
    rng = np.random.default_rng(0)
    drawn = np.concatenate([record.order(rng).ravel() for _ in range(run.train.periods)])  # 960 = 9.6 passes
    for start in range(0, 900, 100):  # each pass over the data is a permutation
        assert sorted(drawn[start:start + 100]) == list(range(100))
    assert record.mask.all() and record.mask.shape == (10, 32)


def test_cross_entropy_is_the_mean_negative_log_probability_per_step():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 4, 5)).astype(np.float32)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    y = rng.integers(0, 5, (3, 4))
    expected = -np.take_along_axis(logp, y[..., None], -1)[..., 0].mean(axis=1)
    got = np.asarray(per_sample_loss("cross_entropy", ops.convert_to_tensor(logp), ops.convert_to_tensor(y)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


# ------------------------------------------------------------- probes vs finite differences


def _engine(cell, task, mode, units=3, **changes):
    import keras

    keras.utils.set_random_seed(0)
    settings = _small(task, **changes)
    loss = catalog.get_task(task).loss
    run = RunConfig(cell, mode, 0, units, settings, TrainConfig(loss=loss, batch_size=4))
    eng = training.engine(run)
    tv = [v.value for v in eng.template.trainable_variables]
    ntv = [v.value for v in eng.template.non_trainable_variables]
    train, _ = make_data(settings, mode, 0)
    return run, eng, tv, ntv, train.x[:4], train.y[:4]


MEMORY = [("adding", "many_to_one"), ("copy", "many_to_many_synced"), ("sine_gap", "many_to_one")]


def _loss(eng, tv, ntv, x, y, kind):
    pred = np.asarray(eng.predict(tv, ntv, x.astype(np.float32)), dtype=np.float64)
    if kind == "cross_entropy":  # the head gives log-probabilities
        return float(-np.take_along_axis(pred, y[..., None].astype(int), -1).sum() / y.shape[1])
    return float(np.sum((pred - y) ** 2) / np.prod(y.shape[1:]))


@pytest.mark.parametrize("cell,task,mode", every_combination(["simple_rnn", "gru", "lstm"], MEMORY))
def test_input_gradient_by_lag_on_memory_tasks_matches_finite_differences(cell, task, mode):
    run, eng, tv, ntv, x, y = _engine(cell, task, mode)
    kind = run.train.loss
    # The input_gradient probe's raw dL/dx (a one-step layout's as a step per value: reshaped back).
    analytic = np.asarray(PROGRAMS.get(eng).fns["input_gradient"](tv, ntv, x, y)["grads"]).reshape(x.shape)
    eps = 1e-2
    numeric = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        up, down = x.astype(np.float64).copy(), x.astype(np.float64).copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (_loss(eng, tv, ntv, up, y, kind) - _loss(eng, tv, ntv, down, y, kind)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, atol=2e-3, rtol=2e-2)
    by_lag = PROGRAMS.get(eng).values("input_gradient", tv, ntv, x, y)["dL_dx"]
    expected = np.sqrt(np.mean(np.sum(numeric**2, axis=2), axis=0))[::-1]  # lag 0 = the last step
    np.testing.assert_allclose(by_lag, expected, atol=1e-3, rtol=3e-2)


@pytest.mark.parametrize("cell,task,mode", every_combination(catalog.list_cells(), MEMORY))
def test_state_jacobian_and_first_step_norm_on_memory_tasks_match_finite_differences(cell, task, mode):
    run, eng, tv, ntv, x, y = _engine(cell, task, mode)
    x = x.astype(np.float64)
    rnn_cell = eng.template.get_layer("rnn").cell
    probe = PROGRAMS.get(eng).values("state_jacobian", tv, ntv, x.astype(np.float32), y)["dhT_dht"]
    steps = x.shape[1]
    size = sum(rnn_cell.state_size) if isinstance(rnn_cell.state_size, (list, tuple)) else rnn_cell.state_size
    assert probe.shape == (steps + 1,) and probe[0] == pytest.approx(np.sqrt(size))
    for t in (1, steps // 2, steps - 1):  # lag steps - t; t = 1 is ‖dh_T/dh_1‖
        # float32 cells: a central difference's rounding noise biases a Frobenius norm
        # upwards, by up to 3e-5 here (simple_rnn's 22-step copy chain: 8.0e-4 came out as
        # 8.27e-4 at eps 1e-3; a larger eps steps over the ReLU cells' kinks). Below about
        # 5e-5 it resolves nothing; the exact test_a_vanishing_jacobian_chain covers those.
        expected = fd_state_jacobian_norm(rnn_cell, x, size, t)
        assert probe[steps - t] == pytest.approx(expected, rel=3e-2, abs=5e-5), t


@pytest.mark.parametrize("task,mode", MEMORY)
def test_gradient_norm_per_weight_group_matches_finite_differences(task, mode):
    run, eng, tv, ntv, x, y = _engine("gru", task, mode, units=2)
    kind = run.train.loss
    index, mask = np.arange(4, dtype=np.int32)[None], np.ones((1, 4), np.float32)
    _, _, _, stats = eng.train_epoch(tv, ntv, training.optimizers.init_state(run.train, tv),
                                     ops.convert_to_tensor(x), ops.convert_to_tensor(y), index, mask)
    loss, global_norm = np.asarray(stats[0]), np.asarray(stats[1])
    group_norms = eng.step_probes.split(np.asarray(stats[2]))["gradients"]["norm"]  # {group: per-step norm}

    def mean_loss(weights):
        return _loss(eng, [ops.convert_to_tensor(w.astype(np.float32)) for w in weights], ntv, x, y, kind) / len(x)

    weights = [np.asarray(v, np.float64) for v in tv]
    assert loss[0] == pytest.approx(mean_loss(weights), rel=1e-4)
    eps = 1e-3
    squares = dict.fromkeys(group_norms, 0.0)
    paths = [v.path for v in eng.template.trainable_variables]
    for k, w in enumerate(weights):
        grad = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            up = [v.copy() for v in weights]
            down = [v.copy() for v in weights]
            up[k][idx] += eps
            down[k][idx] -= eps
            grad[idx] = (mean_loss(up) - mean_loss(down)) / (2 * eps)
        squares[weight_group(paths[k])] += np.sum(grad**2)
    expected = np.sqrt([squares[g] for g in group_norms])
    np.testing.assert_allclose([v[0] for v in group_norms.values()], expected, rtol=3e-2, atol=1e-4)
    assert global_norm[0] == pytest.approx(np.sqrt(sum(squares.values())), rel=3e-2)


def test_a_vanishing_jacobian_chain_is_measured_below_float32_range():
    # h' = tanh(x K + h R + b) with a small R: the chain shrinks ~100x a step, so
    # by T = 60 it is far below float32's smallest number (1e-38); the probe
    # rescales it by powers of two and still matches the float64 closed form.
    # (Small weights keep tanh unsaturated, where float32 itself would drift.)
    run, eng, tv, ntv, x, y = _engine("simple_rnn", "adding", "many_to_one", units=4, length=60)
    K, R, b = (np.asarray(v, np.float64) for v in tv[:3])
    K, R = ((0.01 * w).astype(np.float32).astype(np.float64) for w in (K, R))
    tv = [ops.convert_to_tensor(v.astype(np.float32)) for v in (K, R, b)] + list(tv[3:])
    hs = [np.zeros((len(x), 4))]
    for t in range(x.shape[1]):
        hs.append(np.tanh(x[:, t].astype(np.float64) @ K + hs[-1] @ R + b))
    chained, expected = np.broadcast_to(np.eye(4), (len(x), 4, 4)), [2.0]
    for t in reversed(range(x.shape[1])):
        chained = chained @ ((1 - hs[t + 1] ** 2)[:, :, None] * R.T[None])
        expected.append(np.mean(np.linalg.norm(chained, axis=(1, 2))))
    probe = PROGRAMS.get(eng).values("state_jacobian", tv, ntv, x, y)["dhT_dht"]
    assert expected[-1] < 1e-60 and np.all(probe > 0)
    np.testing.assert_allclose(probe, expected, rtol=1e-4)


def test_mean_norms_keeps_the_in_graph_mean_where_nothing_was_rescaled():
    plain = np.array([2.0, 0.5, 0.25], np.float32)
    scaled = np.array([[0.4, 0.6], [3.0, 5.0]], np.float32)
    exponents = np.array([[0, 0], [0, 32]])
    out = mean_norms(plain, scaled, exponents)
    assert out[1] == np.float32(0.5) and out[2] == pytest.approx((3.0 + 5.0 * 2.0**-32) / 2)


def test_settings_classes_read_back_from_a_stored_config():
    run = RunConfig("gru", "many_to_one", 0, 4, _small("adding"), TrainConfig(steps=100))
    back = RunConfig.from_dict(run.to_dict())
    assert back == run and back.run_id == run.run_id and back.to_dict()["task"]["name"] == "adding"
    stored = run.to_dict()
    stored["task"]["name"] = "uninstalled_plugin_task"  # a plugin not installed here still reads back
    other = RunConfig.from_dict(stored)
    assert other.task_name == "uninstalled_plugin_task"
    assert dataclasses.asdict(other.task) == dataclasses.asdict(run.task)
