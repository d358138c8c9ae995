"""The gradient's time profile probe: its per-step terms are exact (they sum to the
gradient, and match Pascanu et al.'s closed form for a linear diagonal RNN), and
it appears in the report as a figure."""

import importlib

import keras
import numpy as np
import pandas as pd
import pytest

from zoo.core import catalog
from zoo.engine import backend
from zoo.engine.build import build_model
from zoo.engine.probe_program import ProbeContext
from zoo.engine.step_probes import StepContext

measure = importlib.import_module("zoo.probes.grad_time_profile.measure")
WINDOW, HORIZON, UNITS, BATCH = 7, 3, 4, 5


def _data(model, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, *model.inputs[0].shape[1:])).astype("float32")
    y = rng.normal(size=(BATCH, *model.outputs[0].shape[1:])).astype("float32")
    return x, y


def _weights(model):
    return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]


def _check_terms_sum_to_the_gradient(cell, mode):
    keras.utils.set_random_seed(1)
    model = build_model(cell, mode, UNITS, WINDOW, HORIZON)
    ctx = ProbeContext(model, catalog.get_mode(mode).layout, "mse")
    split = ctx.input_split()
    tv, ntv = _weights(model)
    x, y = _data(model)
    # Both sides compiled, as the probe program is: run op by op, each of their few hundred
    # operations would be compiled alone on first use.
    terms = backend.compile_fn(measure.step_terms(ctx, split))(tv, ntv, x, y)
    # The whole gradient, through Keras's own RNN layer (not the probe's scan).
    full = backend.compile_fn(ctx.grad(lambda tv: ctx.loss(model.stateless_call(tv, ntv, x, training=False)[0], y)))(tv)
    for term, j in zip(terms, split.recurrent):
        want = np.asarray(full[split.cell_index[j]])
        got = np.asarray(term, np.float64).sum(axis=0)
        # float32: sums of a few dozen products, each term's round-off ~1e-7 of its size.
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6 * np.abs(want).max())
        assert np.abs(want).max() > 1e-4  # a real gradient, not two zeros agreeing
    return np.asarray(terms[0])


@pytest.mark.parametrize("cell", catalog.list_cells())
def test_the_per_step_terms_sum_to_the_recurrent_gradient(cell):
    terms = _check_terms_sum_to_the_gradient(cell, "many_to_one")
    assert terms.shape[0] == WINDOW
    assert np.abs(terms[1:]).max() > 0  # several steps contribute


@pytest.mark.parametrize("mode", ["many_to_many", "one_to_many", "many_to_many_synced"])
def test_the_terms_sum_to_the_gradient_in_every_many_step_mode(mode):
    terms = _check_terms_sum_to_the_gradient("gru", mode)
    assert terms.shape[0] == (HORIZON if mode == "one_to_many" else WINDOW)


def test_a_linear_diagonal_rnn_has_the_closed_form_profile():
    # h_t = x_t U + h_{t-1} diag(a) + b, pred = h_T v + c, L = mean_b (pred - y)^2.
    # Pascanu et al. (2013): dL/dW|_t = h_{t-1}^T λ_t with λ_t = dL/dh_t = g a^(T-t),
    # g = dL/dh_T = 2 (pred - y) v / B: a closed form, transcribed here in float64.
    a = np.array([0.9, 0.5, -0.7], np.float32)
    keras.utils.set_random_seed(2)
    model = build_model("simple_rnn", "many_to_one", 3, WINDOW, 1)
    rnn = model.get_layer("rnn")
    rnn.cell.activation = keras.activations.linear
    rnn.cell.recurrent_kernel.assign(np.diag(a))
    tv, ntv = _weights(model)
    x, y = _data(model)
    ctx = ProbeContext(model, "many", "mse")
    profile = measure.measure(ctx)(tv, ntv, x, y)

    u, b = np.asarray(rnn.cell.kernel, np.float64), np.asarray(rnn.cell.bias, np.float64)
    head = model.get_layer("head")
    v, c = np.asarray(head.kernel, np.float64)[:, 0], float(np.asarray(head.bias)[0])
    h = np.zeros((BATCH, 3))
    states = [h]
    for t in range(WINDOW):
        h = x[:, t].astype(np.float64) @ u + h * a + b
        states.append(h)
    g = 2 * ((h @ v + c) - y[:, 0])[:, None] * v[None, :] / BATCH  # (batch, units)
    terms = np.stack([states[t].T @ (g * a.astype(np.float64) ** (WINDOW - 1 - t)) for t in range(WINDOW)])
    by_lag = terms[::-1].reshape(WINDOW, -1)
    norms = np.linalg.norm(by_lag, axis=1)
    share = np.cumsum(norms[::-1])[::-1] / norms.sum()
    tails = np.linalg.norm(np.cumsum(by_lag[::-1], axis=0)[::-1], axis=1)
    np.testing.assert_allclose(np.asarray(profile["term_norm"]), norms, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(profile["share_from"]), share, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(profile["tail_ratio"]), tails / tails[0], rtol=1e-4, atol=1e-6)
    assert norms[-1] == 0  # step 0 reads the zero initial state: its term is exactly 0
    assert share[0] == pytest.approx(1.0) and np.all(np.diff(share) <= 1e-12)


def test_a_one_step_mode_has_no_profile():
    model = build_model("gru", "one_to_one", UNITS, WINDOW, 1)
    assert measure.measure(ProbeContext(model, "one", "mse")) is None


@pytest.mark.exhaustive  # a compare and a report: end to end
def test_the_profile_is_a_figure_in_the_report(tmp_path):
    from conftest import tiny_grid

    from zoo import report
    from zoo.runs import runner

    runs, reports = tmp_path / "runs", tmp_path / "reports"
    runner.execute(tiny_grid(cells=("gru",), modes=("many_to_one",)), runs, jobs=1, say=lambda msg: None)
    report.build(runs, reports)
    assert (reports / "probe_grad_time_profile.png").stat().st_size > 10_000
    page = (reports / "index.html").read_text()
    assert "Probe: grad_time_profile" in page and 'alt="probe grad time profile"' in page
    assert "Gradient time profile: at the last probed epoch" in page
    table = (reports / "probe_grad_time_profile.csv").read_text().splitlines()
    assert table[0] == "cell,mode,share_from_1,share_older_half,half_lag,runs" and len(table) == 2


@pytest.mark.parametrize("cell", catalog.list_cells())
def test_the_recurrent_weight_group_holds_the_weights_the_time_profile_reads(cell):
    """One definition of a cell's recurrent weights: the gradient probe's recurrent_kernel group (the
    recurrent share, the weight-group figure) holds exactly the weights whose per-step terms the
    time profile sums (RECURRENT_WEIGHTS where declared, as LEM's z_kernel and the LRU's ν and θ)."""
    model = build_model(cell, "many_to_one", UNITS, WINDOW, HORIZON)
    ctx = StepContext(model, catalog.get_mode("many_to_one").layout, "mse")
    split = ctx.input_split()
    profile = {split.cell_index[j] for j in split.recurrent}
    grouped = {j for name, index in ctx.weight_groups().items() if name.endswith(".recurrent_kernel") for j in index}
    if not grouped:  # no weight of its own carries the state (minGRU, coRNN's one kernel): the profile reads all
        assert profile == set(split.cell_index)
    else:
        assert grouped == profile
    if getattr(ctx.input_layer().cell, "RECURRENT_WEIGHTS", None):  # zoo.diagnose groups a declaring cell alike
        from zoo.engine.diagnose.diagnoser import Diagnoser

        diagnoser = Diagnoser(model, *_data(model), "mse")  # builds its groups (and compiles) once
        assert {j for j, g in enumerate(diagnoser.group_of) if g.endswith(".recurrent_kernel")} == grouped


def test_the_figure_leaves_out_the_cells_its_finding_leaves_out_and_names_them():
    from zoo.probes.grad_time_profile.summarize import figure

    rows = [dict(cell=cell, mode="many_to_one", seed=0, epoch=epoch, lag=lag, share_from=1.0 - lag / 4,
                 own_recurrent_weights=own)
            for cell, own in (("gru", 1.0), ("mingru", 0.0)) for epoch in (0, 2) for lag in range(4)]
    fig = figure(pd.DataFrame(rows))
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert labels == ["gru"]
    assert "Left out: mingru (no recurrent weights apart from the input's" in fig._suptitle.get_text()
    only = pd.DataFrame(rows)
    assert figure(only[only.cell == "mingru"]) is None  # nothing comparable to draw
