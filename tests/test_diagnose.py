"""zoo.diagnose and zoo.ProbeCallback on users' own Keras models (both backends: in the Makefile's TF_TESTS).

Tiny sizes throughout (units 3-5, 6-7 steps): each model compiles its probes once.
"""

import numpy as np
import pandas as pd
import pytest

import zoo
from zoo.core import catalog
from zoo.core.config import ConfigError, RunConfig, TaskConfig, TrainConfig

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from zoo.engine.diagnose import DiagnoseError, Diagnoser  # noqa: E402

T, F = 7, 3


def _data(n=5, seed=0, outputs=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, T, F)).astype("float32"), rng.normal(size=(n, outputs)).astype("float32")


class Leaky(keras.layers.Layer):
    """A user's own cell: h' = (1 - a) h + a tanh(W x + U h)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units, self.state_size, self.output_size = units, units, units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")
        self.u = self.add_weight(shape=(self.units, self.units), name="u", initializer="orthogonal")

    def call(self, inputs, states):
        h = states[0]
        new = 0.7 * h + 0.3 * ops.tanh(ops.matmul(inputs, self.w) + ops.matmul(h, self.u))
        return new, [new]


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.first = keras.layers.GRU(4, return_sequences=True, name="first")
        self.second = keras.layers.SimpleRNN(3, name="second")
        self.head = keras.layers.Dense(1)

    def call(self, x):  # no training argument: diagnose must not pass one
        return self.head(self.second(self.first(x)))


def _functional():
    """Stacked, functional: SimpleRNN -> Bidirectional(GRU) -> RNN(a user's cell)."""
    inputs = keras.Input((T, F))
    hidden = keras.layers.SimpleRNN(4, return_sequences=True, name="simple")(inputs)
    hidden = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True), name="bi")(hidden)
    hidden = keras.layers.RNN(Leaky(4), name="leaky")(hidden)
    return keras.Model(inputs, keras.layers.Dense(1)(hidden))


def _sequential():
    """Stacked, Sequential, masked: Masking -> LSTM -> RNN(the zoo's IndRNN cell)."""
    return keras.Sequential([
        keras.Input((T, F)), keras.layers.Masking(0.0), keras.layers.LSTM(4, return_sequences=True, name="lstm"),
        keras.layers.RNN(catalog.get_cell("indrnn").builder(3), name="ind"), keras.layers.Dense(1)])


REAL = 5  # real steps of each masked sequence, at different places


def _masked_data():
    x, y = _data()
    mask = np.ones((len(x), T), bool)
    mask[0, -2:] = mask[1, :2] = mask[2, 2:4] = mask[3, [0, 6]] = mask[4, 5:] = False
    x[~mask] = 0.0
    return x, y, mask


MODELS = {  # name -> (builder, the recurrent layers diagnose must find, masked)
    "functional": (_functional, ["simple", "bi.forward", "bi.backward", "leaky"], False),
    "sequential_masked": (_sequential, ["lstm", "ind"], True),
    "subclassed": (Subclassed, ["first", "second"], False),
}
_DIAGNOSED = {}


def _snapshot(model):
    return ([np.array(v.numpy()) for v in model.variables], [v.trainable for v in model.variables],
            [layer.trainable for layer in model._flatten_layers()], model.compiled,
            id(getattr(model, "optimizer", None)), id(getattr(model, "loss", None)),
            ["call" in layer.__dict__ for layer in model._flatten_layers()])


def _diagnosed(name):
    """Each model built and diagnosed once for the tests that read it."""
    if name not in _DIAGNOSED:
        keras.utils.set_random_seed(0)
        builder, _, masked = MODELS[name]
        model = builder()
        if masked:
            x, y, mask = _masked_data()
        else:
            (x, y), mask = _data(), None
        model.compile("adam", "mse")
        out = np.asarray(model(x))
        before = _snapshot(model)
        d = zoo.diagnose(model, x, y)  # the compiled loss
        _DIAGNOSED[name] = (model, x, y, mask, d, before, out)
    return _DIAGNOSED[name]


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_kind_is_diagnosed_and_left_unchanged(name):
    model, x, y, mask, d, before, out_before = _diagnosed(name)
    after = _snapshot(model)
    assert all(np.array_equal(a, b) for a, b in zip(before[0], after[0]))
    assert before[1:] == after[1:]
    np.testing.assert_array_equal(np.asarray(model(x)), out_before)

    assert list(d.layers.layer) == MODELS[name][1]
    steps = REAL if mask is not None else T
    for row in d.layers.itertuples():
        p = d.probes[d.probes.layer == row.layer]
        # lag 0 is dh_T/dh_T = I: its Frobenius norm is √(state size)
        assert p.dhT_dht.iloc[0] == pytest.approx(np.sqrt(row.state_size), rel=1e-6)
        assert list(p.lag) == list(range(steps + 1))  # masked: lags count real steps
        assert p.dL_dx.notna().sum() == steps
        assert np.all(np.isfinite(p.dhT_dht)) and np.all(p.dhT_dht >= 0)  # IndRNN's relu can cut it to 0
        assert np.isfinite(row.lyapunov_top) and row.jac_sigma_max >= row.jac_sigma_min >= 0
        assert row.masked == (mask is not None)
    groups = set(d.gradients.group)
    for layer in d.layers.layer:
        assert any(g.startswith(f"{layer}.") for g in groups)
    assert np.all(d.gradients.norm >= 0) and d.gradients["size"].sum() == model.count_params()
    assert set(d.gates.layer) == set(d.layers[d.layers.cell.isin(["GRUCell", "LSTMCell"])].layer)
    assert d.gates["mean"].between(0, 1).all()
    # The registered time-profile probe: rows for every layer it applies to, one line for each other.
    profile = d.time_profile
    skipped = {layer for layer in d.layers.layer if mask is not None or layer.endswith(".backward")}
    assert set(profile.layer) == set(d.layers.layer) - skipped
    assert {n.split("'")[1] for n in d.notes if "does not apply" in n} == skipped
    for layer, rows in profile.groupby("layer"):
        assert list(rows.lag) == list(range(T)) and rows.share_from.iloc[0] == pytest.approx(1.0, rel=1e-6)
        if layer != "leaky":  # a recurrent kernel's first-step term multiplies the zero initial state: 0
            assert rows.term_norm.iloc[-1] == 0.0
    if name == "functional":  # the user's cell names its recurrent weight u: the probe's rule, said once
        assert [n for n in d.notes if "recurrent weight" in n] == [
            "grad_time_profile on layer 'leaky': its cell has no recurrent weight of its own, so the profile is "
            "that of all its weights (the probe's rule)"]


def _final_state_jacobian_norms(layer, x, mask=None, eps=1e-2):
    """‖dh_T/dh_0‖ per sample by central differences through Keras's own layer (its fused path;
    a copy with return_state=True), perturbing the initial state: an independent measurement of
    the lag-T chain (T counted in real steps, where masked)."""
    copy = type(layer).from_config({**layer.get_config(), "return_state": True, "return_sequences": False})
    copy(x[:1], mask=None if mask is None else mask[:1])
    copy.set_weights(layer.get_weights())
    sizes = [layer.cell.units] * (2 if isinstance(layer, keras.layers.LSTM) else 1)
    base = [np.zeros((len(x), s), np.float32) for s in sizes]

    def final(states):
        out = copy(x, initial_state=states, mask=mask)
        return np.concatenate([np.asarray(s, np.float64) for s in out[1:]], axis=-1)

    columns = []
    for j in range(sum(sizes)):
        up, down = [s.copy() for s in base], [s.copy() for s in base]
        k, offset = (0, j) if j < sizes[0] else (1, j - sizes[0])
        up[k][:, offset] += eps
        down[k][:, offset] -= eps
        columns.append((final(up) - final(down)) / (2 * eps))
    jac = np.stack(columns, axis=-1)  # (batch, n, n)
    return np.sqrt(np.sum(jac**2, axis=(1, 2)))


@pytest.mark.exhaustive
@pytest.mark.parametrize("name", ["functional", "sequential_masked"])
def test_cell_path_matches_keras_fused_layer(name):
    """For every Keras SimpleRNN/GRU/LSTM layer (forward, backward, stacked, masked), the whole
    chain dh_T/dh_0 from diagnose equals finite differences through Keras's own (fused) layer."""
    from zoo.engine.diagnose import capturing, find_recurrent

    model, x, y, mask, d, _, _ = _diagnosed(name)
    layers = find_recurrent(model)
    with capturing(layers) as captured:
        model(x)
    checked = 0
    for rec, (inputs, layer_mask, _, _) in zip(layers, captured):
        if type(rec.layer) not in (keras.layers.SimpleRNN, keras.layers.GRU, keras.layers.LSTM):
            continue
        fd = _final_state_jacobian_norms(rec.layer, np.asarray(inputs),
                                         None if layer_mask is None else np.asarray(layer_mask))
        p = d.probes[d.probes.layer == rec.name]
        assert p.dhT_dht.iloc[-1] == pytest.approx(np.mean(fd), rel=2e-3, abs=1e-5), rec.name
        checked += 1
    assert checked == (3 if name == "functional" else 1)


TF_PARITY_CELLS = ("lstm", "seed_gru")


@pytest.mark.exhaustive
@pytest.mark.parametrize("cell", catalog.list_cells())
def test_matches_the_zoos_own_probe_on_the_same_weights(cell):
    """A model the zoo built (many_to_one), diagnosed as a user's model: ‖dh_T/dh_t‖ and dL/dx
    by lag equal the zoo's own probes on the same weights (to float32 tolerance)."""
    from zoo.engine import run as training

    if keras.backend.backend() == "tensorflow" and cell not in TF_PARITY_CELLS:
        pytest.skip("TensorFlow half: a Keras cell and a hand-written one (each costs an XLA compile); "
                    "every cell on JAX")

    keras.utils.set_random_seed(0)
    config = RunConfig(cell, "many_to_one", seed=0, units=4, task=TaskConfig(window=6, horizon=1),
                       train=TrainConfig(loss="mse"))
    eng = training.engine(config)
    model = eng.template
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 6, 1)).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    from zoo.engine.probe_program import PROGRAMS

    program = PROGRAMS.get(eng)
    zoo_jacobian = program.values("state_jacobian", tv, ntv, x, y)
    zoo_dx = program.values("input_gradient", tv, ntv, x, y)["dL_dx"]

    # The diagnoser's own compiled functions (the user's layer's cell path, the gradient at its input),
    # reduced by the probes' finish as Diagnoser.measure reduces them.
    from zoo.engine.diagnose.diagnoser import INPUT_GRADIENT, STATE_JACOBIAN

    diagnoser = Diagnoser(model, x, y, loss="mse")
    (rec,) = diagnoser.layers
    mine = STATE_JACOBIAN.finish(diagnoser.chains[0](diagnoser.cell_values(rec, tv), x))
    np.testing.assert_allclose(mine["dhT_dht"], zoo_jacobian["dhT_dht"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mine["lyapunov_top"], zoo_jacobian["lyapunov_top"], rtol=1e-5, atol=1e-7)
    _, _, _, d_inputs, _ = diagnoser.gradients(tv, ntv, x, y)
    mine = INPUT_GRADIENT.finish({"grads": np.asarray(d_inputs[0], np.float64)})["dL_dx"]
    np.testing.assert_allclose(mine, zoo_dx, rtol=1e-4, atol=1e-7)


def test_probes_finish_counts_real_steps_under_a_mask():
    """zoo.diagnose reduces a padded layer's numbers with the input_gradient and state_jacobian probes'
    own finish, given the mask (reading order): lag l is each sequence's l-th real step back, averaged
    over the sequences that have one; a padded step's value is never read. Exact, in NumPy."""
    from zoo.engine.diagnose.diagnoser import INPUT_GRADIENT, STATE_JACOBIAN

    mask = np.array([[1, 0, 1, 1], [1, 1, 1, 1]], bool)
    grads = np.array([[1.0, 99.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]])[..., None]  # (batch, steps, 1)
    dl_dx = INPUT_GRADIENT.finish({"grads": grads, "mask": mask})["dL_dx"]
    np.testing.assert_allclose(dl_dx, np.sqrt([(9 + 49) / 2, (4 + 36) / 2, (1 + 25) / 2, 16]), rtol=1e-12)
    np.testing.assert_array_equal(INPUT_GRADIENT.finish({"grads": grads, "mask": np.ones((2, 4), bool)})["dL_dx"],
                                  INPUT_GRADIENT.finish({"grads": grads})["dL_dx"])

    scaled = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])  # (raw lag 1..4, batch)
    eye = np.stack([np.eye(2)] * 2)
    jacobian = STATE_JACOBIAN.finish({"plain": np.full(5, np.sqrt(2)), "scaled": scaled, "exponents": np.zeros((4, 2)),
                                      "chain": eye, "chain_exponent": np.zeros(2), "mask": mask})
    # Sequence 0 reads steps 3, 2, (1 padded: the identity), 0 back from its end: real lags 1, 2, 3 are raw 1, 2, 4.
    np.testing.assert_allclose(jacobian["dhT_dht"], [np.sqrt(2), (1 + 10) / 2, (2 + 20) / 2, (4 + 30) / 2, 40],
                               rtol=1e-12)
    np.testing.assert_array_equal(jacobian["lyapunov_top"], np.zeros(5))  # identity chains: no growth


@pytest.mark.exhaustive
def test_embedding_model_on_both_backends(tmp_path):
    """Token ids through an Embedding with mask_zero: on TensorFlow its gradient is IndexedSlices."""
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    x = rng.integers(1, 9, size=(6, T))
    x[0, -3:] = 0
    y = rng.integers(0, 2, size=(6,))
    model = keras.Sequential([keras.Input((T,), dtype="int32"), keras.layers.Embedding(9, 3, mask_zero=True),
                              keras.layers.GRU(4), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    d = zoo.diagnose(model, x, y)
    embedding = d.gradients.set_index("group").loc["embedding.embeddings"]
    assert embedding["size"] == 27 and embedding["norm"] > 0
    probe = zoo.ProbeCallback(x, y, log_dir=tmp_path / "logs")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[probe])
    assert list(probe.history.epoch) == [1, 2] and sorted(probe.probes.epoch.unique()) == [0, 1, 2]


def _stacked():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(4, return_sequences=True, name="low"),
                             keras.layers.GRU(3, name="high"), keras.layers.Dense(1)])


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The stacked model fitted 3 epochs with a callback probing every 2nd (and the last), writing
    TensorBoard logs and run folders: ``(model, callback, folder)``."""
    tmp_path = tmp_path_factory.mktemp("fitted")
    model = _stacked()
    model.compile("adam", "mse", metrics=["mae"])
    x, y = _data(n=12)
    probe = zoo.ProbeCallback(x, y, every=2, log_dir=tmp_path / "logs", runs=tmp_path / "runs", batch=4)
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y), callbacks=[probe])
    return model, probe, tmp_path


@pytest.mark.exhaustive  # end to end: a fit whose callback writes TensorBoard logs and run folders
def test_callback_writes_tables_and_tensorboard_histograms(fitted):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, probe, tmp_path = fitted
    assert sorted(probe.probes.epoch.unique()) == [0, 2, 3]  # initial, every 2nd, and the last
    norms = probe.gradients.pivot(index="epoch", columns="group", values="norm_mean")
    assert not np.allclose(norms.loc[0], norms.loc[3])  # each probe sees the weights fit has reached
    spectrum = probe.probes.groupby("epoch").jac_sigma_max.first()
    assert spectrum[[0, 3]].notna().all() and spectrum[[2]].isna().all()  # the spectrum: first and last
    history = probe.history
    from zoo.engine.run import _HISTORY_BASE

    assert set(history.columns) == _HISTORY_BASE and list(history.epoch) == [1, 2, 3]
    assert history.test_mae.notna().all() and history.steps.eq(1).all()
    from zoo import store

    stored = {r.config.cell: r for r in (store.read_run(p) for p in (tmp_path / "runs").glob("sequential*"))}
    assert set(stored) == {f"{model.name}.low", f"{model.name}.high"}  # a run folder per recurrent layer
    for layer in ("low", "high"):
        run = stored[f"{model.name}.{layer}"]
        assert len(run.probes) == (probe.probes.layer == layer).sum()
        pd.testing.assert_frame_equal(run.history, history, check_dtype=False)

    acc = EventAccumulator(str(tmp_path / "logs" / "zoo_probes"), size_guidance={"histograms": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    groups = set(probe.gradients.group)
    assert {f"gradients/{g}" for g in groups} == set(tags["histograms"])
    sizes = probe.diagnosis.gradients.set_index("group")["size"]
    for group in groups:
        events = acc.Histograms(f"gradients/{group}")
        assert [e.step for e in events] == [0, 2, 3]
        assert events[-1].histogram_value.num == sizes[group]
        last = probe.gradients[(probe.gradients.epoch == 3) & (probe.gradients.group == group)].norm_mean.iloc[0]
        assert np.sqrt(events[-1].histogram_value.sum_squares) == pytest.approx(last, rel=1e-5)
    assert [e.step for e in acc.Scalars("epoch/loss")] == [1, 2, 3]


@pytest.mark.exhaustive  # end to end: a fit whose callback writes TensorBoard logs and run folders
@pytest.mark.parametrize("name", __import__("zoo.probes").probes.list_probes())
def test_callback_logs_each_layers_probes_as_compare_logs_a_runs(name, fitted):
    """Each recurrent layer is a TensorBoard run, ``zoo_probes/<layer>``, with every registered probe
    under the schema's tags (``zoo.views.tensorboard``), as ``compare --tensorboard`` writes a run's."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from zoo import probes, store
    from zoo.core.probe_registry import KEYED_UNITS

    _, probe, tmp_path = fitted
    spec = probes.get_probe(name)
    for layer in ("low", "high"):
        acc = EventAccumulator(str(tmp_path / "logs" / "zoo_probes" / layer),
                               size_guidance={"images": 0, "scalars": 0})
        acc.Reload()
        scalars = set(acc.Tags()["scalars"])
        (folder,) = (tmp_path / "runs").glob(f"*.{layer}-user_model-*")
        table = store.read_run(folder).probe_tables[name]  # what the run folder holds
        if spec.unit == "lag":  # scalars at the logged lags each probed epoch; the image with the spectrum
            assert {e.step for e in acc.Images("probe/by_lag")} == {0, 3}
            for column in spec.columns:
                rows = table[(table.lag == 1) & np.isfinite(table[column])]
                events = acc.Scalars(f"probe/{name}/{column}/lag_0001")
                assert [(e.step, e.value) for e in events] == [
                    (epoch, pytest.approx(value, rel=1e-6)) for epoch, value in zip(rows.epoch, rows[column])]
        else:
            keyed = spec.unit in KEYED_UNITS
            for column in spec.columns:
                for key, rows in (table.groupby(spec.unit) if keyed else [(None, table)]):
                    tag = f"probe/{name}/{column}" + (f"/{key}" if keyed else "")
                    rows = rows[np.isfinite(rows[column])]
                    events = acc.Scalars(tag) if tag in scalars else []
                    assert [e.step for e in events] == list(rows.epoch), tag
                    assert [e.value for e in events] == pytest.approx(list(rows[column]), rel=1e-6), tag
        summary = {k for k, v in spec.run_summary(table).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)}
        assert {t for t in scalars if t.startswith(f"summary/{name}/")} == {f"summary/{name}/{k}" for k in summary}


@pytest.fixture(scope="module")
def final_diagnosis(fitted):
    """``zoo.diagnose`` of the fitted model's final weights, on the callback's probe batch."""
    model, probe, _ = fitted
    return zoo.diagnose(model, probe.x, probe.y)


@pytest.mark.exhaustive  # end to end: a fit whose callback writes TensorBoard logs and run folders
@pytest.mark.parametrize("name", __import__("zoo.probes").probes.list_probes())
def test_the_callbacks_run_folders_hold_each_registered_probe_as_a_compare_stores_it(name, fitted,
                                                                                     final_diagnosis):
    """probe_<name>.csv in each layer's run folder, the probe's declared columns, each probed epoch; a probe
    the diagnoser does not run itself (the time profile) holds at the last epoch what ``zoo.diagnose``
    measures on the final weights and the callback's probe batch."""
    from zoo import probes, store

    _, _, tmp_path = fitted
    spec = probes.get_probe(name)
    diagnosed = final_diagnosis.probe_tables.get(name)
    for layer in ("low", "high"):
        (folder,) = (tmp_path / "runs").glob(f"*.{layer}-user_model-*")
        table = store.read_run(folder).probe_tables.get(name)
        assert table is not None and tuple(table.columns) == spec.table_columns, (layer, table)
        # The spectrum and the probes the diagnoser does not run itself: with it, on the first and last.
        assert set(table.epoch) == ({0, 3} if name == "spectrum" or diagnosed is not None else {0, 2, 3})
        if diagnosed is not None:
            expected = diagnosed[diagnosed.layer == layer].drop(columns="layer").reset_index(drop=True)
            last = table[table.epoch == 3].drop(columns="epoch").reset_index(drop=True)
            pd.testing.assert_frame_equal(last, expected, check_dtype=False, rtol=1e-5)


def _zoo_run(runs):
    """One tiny run of the zoo's own, trained in this process and stored as a compare stores it."""
    from conftest import TINY_TASK

    from zoo import store
    from zoo.core.config import GridConfig
    from zoo.core.grid import expand
    from zoo.core.loading import grid_to_dict
    from zoo.engine.run import train_run

    grid = GridConfig(cells=("simple_rnn",), modes=("many_to_one",), seeds=1, units=4, task=TINY_TASK,
                      train=TrainConfig(epochs=1, batch_size=32, probes=1))
    (run,) = expand(grid)
    store.write_files(runs, run, store.run_files(train_run(run)))
    store.write_grid(runs, grid.name, grid_to_dict(grid), [run.run_id])
    return run


@pytest.mark.exhaustive  # end to end: a fit whose callback writes TensorBoard logs and run folders
def test_callback_runs_are_reported_beside_the_zoos_runs(tmp_path):
    """ProbeCallback(runs=...) writes run folders that `zoo report --runs` shows beside the zoo's own runs."""
    if keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow half: the callback's run folders are written and read back by the callback "
                    "test; the report reads no Keras, so this runs on JAX")
    from zoo import cli, store
    from zoo.runs import clean

    runs, reports = tmp_path / "runs", tmp_path / "reports"
    zoo_run = _zoo_run(runs)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T, F)), keras.layers.SimpleRNN(4, name="rnn"), keras.layers.Dense(1)],
                             name="my_model")
    model.compile("sgd", "mse", metrics=["mae"])
    x, y = _data(n=8)
    probe = zoo.ProbeCallback(x, y, runs=runs, batch=4)
    fitted = model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[probe])
    # Compiled with mse and no mse metric: the validation loss is the test MSE.
    assert probe.history.test_mse.tolist() == pytest.approx(fitted.history["val_loss"], rel=1e-6)
    assert probe.history.test_mae.tolist() == pytest.approx(fitted.history["val_mae"], rel=1e-6)
    assert cli.main(["report", "--runs", str(runs), "--reports", str(reports)]) == 0

    zoo_row = pd.read_csv(reports / "summary.csv")  # the zoo's grid: the main table
    assert list(zoo_row.cell) == ["simple_rnn"] and list(zoo_row["mode"]) == ["many_to_one"]
    mine = pd.read_csv(reports / "experiments" / "my_model.fit" / "summary.csv").set_index("cell")
    assert list(mine.index) == ["my_model.rnn"] and mine["mode"].iloc[0] == "user_model"
    row = mine.loc["my_model.rnn"]
    assert row.loss == pytest.approx(probe.history.loss.iloc[-1], rel=1e-12)  # fit's last epoch loss
    assert row.test_mae == pytest.approx(probe.history.test_mae.iloc[-1], rel=1e-12)
    assert row.params == model.count_params() == 4 * 3 + 4 * 4 + 4 + 4 + 1
    layer = probe.diagnosis.layers.set_index("layer").loc["rnn"]  # the last probe's numbers: the report's
    assert row.decay_factor == pytest.approx(layer.decay_factor, rel=1e-6)
    assert row.lyapunov_top == pytest.approx(layer.lyapunov_top, rel=1e-6)
    page = (reports / "index.html").read_text()
    assert "Experiment: my_model.fit" in page and "my_model.rnn" in page and "simple_rnn" in page
    assert "make compare CONFIG=my_model.fit" not in page  # a user's model is not a config to compare
    assert page.count("For a fit&#x27;s ProbeCallback runs: the gradient of the probe batch&#x27;s loss") == 1
    assert (reports / "experiments" / "my_model.fit" / "gradient_by_lag.png").is_file()

    # A second fit of the model continues the first (it starts from the weights the first ended with):
    # one run of 4 epochs in the record, not two seeds of a row; the first fit's folder stays.
    (first,) = store.read_grids(runs)["my_model.fit"]["run_ids"]
    earlier = store.read_run(runs / first)
    model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[probe])
    record = store.read_grids(runs)["my_model.fit"]
    assert len(record["run_ids"]) == 1 and record["grid"]["seeds"] == 1 and (runs / first).is_dir()
    run = store.read_run(runs / record["run_ids"][0])
    assert run.metrics["continues"] == first and list(run.history.epoch) == [1, 2, 3, 4]
    assert list(run.history.loss) == list(earlier.history.loss) + list(probe.history.loss)
    assert sorted(set(run.probes.epoch)) == [0, 1, 2, 3, 4] and run.config.train.epochs == 4
    pd.testing.assert_frame_equal(run.probes[run.probes.epoch <= 2], earlier.probes)
    # A model of the same name trained from new weights is another seed of the row.
    keras.utils.set_random_seed(1)
    fresh = keras.Sequential([keras.Input((T, F)), keras.layers.SimpleRNN(4, name="rnn"), keras.layers.Dense(1)],
                             name="my_model")
    fresh.compile("sgd", "mse", metrics=["mae"])
    fresh.fit(x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[probe])
    assert probe.diagnoser.model is fresh  # the reused callback measured the model it was fitted with
    record = store.read_grids(runs)["my_model.fit"]
    assert len(record["run_ids"]) == 2 and record["grid"]["seeds"] == 2
    # zoo.load_runs of the whole folder counts the continued fit once: the continuation holds it
    mine = sorted(r.path.name for r in zoo.load_runs(runs).runs if r.config.cell == "my_model.rnn")
    assert mine == sorted(record["run_ids"])
    folders = [runs / run_id for run_id in record["run_ids"]]
    for folder in folders:
        run = store.read_run(folder)
        assert (run.config.cell, run.config.mode, run.config.units) == ("my_model.rnn", "user_model", 4)
        assert clean._is_run_folder(folder)  # `zoo clean` knows it for one of rnn-zoo's run folders
    assert (runs / zoo_run.run_id).is_dir() and store.read_grids(runs)["default"]["run_ids"] == [zoo_run.run_id]
    reloaded = zoo.load_model(folders[0])  # the trained model, as a run folder holds it
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    # Bad input, one line each, before any training: a file for runs, a zoo grid's record of the same name.
    with pytest.raises(ConfigError, match=r"^runs = '.*summary.csv' is a file; expected a folder$"):
        zoo.ProbeCallback(x, y, runs=reports / "summary.csv")
    store.write_grid(runs, "clash.fit", {**record["grid"], "modes": ["many_to_one"]}, [])
    clash = keras.Sequential([keras.Input((T, F)), keras.layers.SimpleRNN(2), keras.layers.Dense(1)], name="clash")
    clash.compile("sgd", "mse")
    weights = [w.copy() for w in clash.get_weights()]
    with pytest.raises(ConfigError, match="its grid record 'clash.fit' is a zoo grid's, not a user model's"):
        clash.fit(x, y, epochs=1, verbose=0, callbacks=[zoo.ProbeCallback(x, y, runs=runs)])
    assert all(np.array_equal(a, b) for a, b in zip(weights, clash.get_weights()))  # refused before training


def test_the_report_page_shows_a_round_off_sigma_min_as_the_zoos_report_does_and_defines_each_number(tmp_path):
    import dataclasses

    from zoo.report.diagnosis import MEANINGS

    d = _diagnosed("functional")[4]
    d = dataclasses.replace(d, layers=d.layers.assign(jac_sigma_min=4.11e-8, jac_sigma_max=1.0))
    page = d._html(tmp_path, [])
    assert "&lt; 1.2e-7 σ_max" in page and "4.11e-08" not in page
    summary = ("decay_factor", "decay_factor_late", "dhT_dh1", "lyapunov_top", "jac_sigma_max", "jac_sigma_min")
    assert set(summary) <= set(d.layers.columns) and set(summary) <= set(MEANINGS)


@pytest.mark.exhaustive
def test_report_writes_html_and_refuses_foreign_folder(tmp_path):
    d = _diagnosed("functional")[4]
    folder = d.report(tmp_path / "diag")
    assert {"index.html", "gradient_by_lag.png", "gradient_norms.png", "spectrum.png", "gates.png",
            "probes.csv", "time_profile.png", "probe_grad_time_profile.csv"} <= {p.name for p in folder.iterdir()}
    page = (folder / "index.html").read_text()
    assert "bi.backward" in page and "grad_time_profile does not apply to layer &#x27;bi.backward&#x27;" in page
    d.report(tmp_path / "diag")  # its own earlier report: replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="notes.txt"):
        d.report(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    fig = d.plot_gradient_by_lag()
    assert fig.axes[0].get_xlabel().startswith("lag") and fig.axes[0].get_yscale() == "log"


class Doubled(keras.layers.LSTM):
    """A layer that computes more than its cell's steps: the probes cannot unroll it."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return 2.0 * super().call(sequences, initial_state=initial_state, mask=mask, training=training)


def _one(layer):
    inputs = keras.Input((T, F))
    return keras.Model(inputs, keras.layers.Dense(1)(layer(inputs)))


def _lstm():
    return _one(keras.layers.LSTM(3, name="lstm"))


BAD = {  # case -> (model, x, y) factory, the message
    "no recurrent layer": (lambda x, y: (keras.Sequential([keras.Input((T, F)), keras.layers.Flatten(),
                                                           keras.layers.Dense(1)]), x, y), "no recurrent layer"),
    "not built": (lambda x, y: (keras.Sequential([keras.layers.LSTM(3), keras.layers.Dense(1)]), x, y),
                  "is not built"),
    "x shape": (lambda x, y: (_lstm(), x[:, :, :2], y),
                r"x of shape \(5, 7, 2\) does not fit the model's input \(None, 7, 3\)"),
    "y shape": (lambda x, y: (_lstm(), x, np.repeat(y, 3, axis=1)[:, :, None]), "y of shape"),
    "y length": (lambda x, y: (_lstm(), x, y[:3]), "x has 5 samples and y 3"),
    "stateful": (lambda x, y: (keras.Sequential([keras.Input((T, F), batch_size=5),
                                                 keras.layers.LSTM(3, stateful=True), keras.layers.Dense(1)]), x, y),
                 "stateful=True"),
    "conv state": (lambda x, y: (keras.Sequential([keras.Input((T, 4, 1)), keras.layers.ConvLSTM1D(2, 3),
                                                   keras.layers.Flatten(), keras.layers.Dense(1)]),
                                 np.zeros((5, T, 4, 1), "float32"), y),
                   r"'conv_lstm1d' \(ConvLSTM1D\) reads inputs of shape"),
    "doubled": (lambda x, y: (_one(Doubled(3, name="doubled")), x, y), "'doubled'.*cannot unroll"),
    "loss name": (lambda x, y: (_lstm(), x, y), "not a Keras loss"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_the_model_is_untouched(case):
    keras.utils.set_random_seed(5)
    factory, message = BAD[case]
    model, x, y = factory(*_data())
    before = _snapshot(model) if model.built else None
    with pytest.raises(DiagnoseError, match=message) as info:
        zoo.diagnose(model, x, y, loss="msee" if case == "loss name" else "mse")
    assert "\n" not in str(info.value)
    if before is not None:
        after = _snapshot(model)
        assert all(np.array_equal(a, b) for a, b in zip(before[0], after[0])) and before[1:] == after[1:]


def _weights(model):
    return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]


def _recurrent_kernel_gradient(model, layer, x, y) -> np.ndarray:
    """dL/dW_rec of the batch's mean squared error, by the backend's own autodiff through the model's call."""
    tv, ntv = _weights(model)
    index = [v.path for v in model.trainable_variables].index(layer.cell.recurrent_kernel.path)

    def loss(w):
        weights = list(tv)
        weights[index] = w
        return ops.mean(ops.square(model.stateless_call(weights, ntv, ops.convert_to_tensor(x))[0] - y))

    if keras.backend.backend() == "jax":
        import jax

        grad = jax.grad(loss)(tv[index])
    else:
        import tensorflow as tf

        w = tf.convert_to_tensor(tv[index])
        with tf.GradientTape() as tape:
            tape.watch(w)
            value = loss(w)
        grad = tape.gradient(value, w)
    return np.asarray(ops.convert_to_numpy(grad), np.float64)


@pytest.mark.exhaustive
def test_time_profile_terms_sum_to_the_recurrent_gradient():
    """zoo.diagnose's time profile is the registered probe's own measure, run on each layer of a user's
    stacked SimpleRNN model: its per-step terms sum to the layer's full recurrent-kernel gradient."""
    from zoo import probes as probe_folders
    from zoo.engine.diagnose import LayerContext

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T, F)), keras.layers.SimpleRNN(4, return_sequences=True, name="low"),
                              keras.layers.SimpleRNN(3, name="high"), keras.layers.Dense(1)])
    x, y = _data(n=6)
    d = zoo.diagnose(model, x, y, loss="mse")
    assert set(d.time_profile.layer) == {"low", "high"} and d.notes == []

    diagnoser = Diagnoser(model, x, y, "mse")
    module = probe_folders.measure_module(probe_folders.get_probe("grad_time_profile"))
    for k, rec in enumerate(diagnoser.layers):
        ctx = LayerContext(diagnoser, rec, diagnoser.input_shapes[k])
        split = ctx.input_split()
        assert [split.cell_paths[j].rsplit("/", 1)[-1] for j in split.recurrent] == ["recurrent_kernel"]
        (terms,) = module.step_terms(ctx, split)(*_weights(model), ops.convert_to_tensor(x), ops.convert_to_tensor(y))
        terms = np.asarray(ops.convert_to_numpy(terms), np.float64)  # (steps, units, units)
        full = _recurrent_kernel_gradient(model, rec.layer, x, y)  # of the batch's mean loss, by Keras's autodiff
        np.testing.assert_allclose(terms.sum(axis=0), full, rtol=1e-4, atol=1e-6 * np.abs(full).max())
        rows = d.time_profile[d.time_profile.layer == rec.name].set_index("lag")
        norms = np.sqrt(np.sum(terms[::-1] ** 2, axis=(1, 2)))  # by lag: the last step's term first
        np.testing.assert_allclose(rows.term_norm.to_numpy(), norms, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("every", [0, -1, 1.5, True, "1"])
def test_callback_every_must_be_a_positive_whole_number(every):
    x, y = _data()
    with pytest.raises(ConfigError, match=r"every = .*expected a whole number of epochs >= 1"):
        zoo.ProbeCallback(x, y, every=every)


def test_diagnoser_compiles_once_for_every_epoch():
    """The callback's probes are built once: later calls reuse the compiled functions."""
    keras.utils.set_random_seed(0)
    model = _lstm()
    x, y = _data()
    diagnoser = Diagnoser(model, x, y, "mse")
    first = diagnoser.measure(x, y)
    functions = (diagnoser.gradients, *diagnoser.chains, *diagnoser.spectra)
    for v in model.trainable_variables:
        v.assign(v.numpy() * 0.5)
    second = diagnoser.measure(x, y)
    assert functions == (diagnoser.gradients, *diagnoser.chains, *diagnoser.spectra)
    assert first["probes"][3]["dhT_dht"] != second["probes"][3]["dhT_dht"]
    if keras.backend.backend() == "jax":
        assert diagnoser.chains[0]._cache_size() == 1


@pytest.mark.exhaustive
def test_the_example_runs_in_its_quick_form(tmp_path):
    """examples/diagnose_your_model.py, as CI runs it: fit with the callback, diagnose, report."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "diagnose_your_model.py"
    spec = importlib.util.spec_from_file_location("diagnose_your_model", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--quick", "--out", str(tmp_path / "out")])
    out = tmp_path / "out"
    assert (out / "report" / "index.html").is_file()
    assert {p.name.split("-")[0] for p in (out / "runs").glob("*-user_model-*")} == {
        "first_token_parity.lstm_1", "first_token_parity.lstm_2"}
    assert list((out / "logs" / "zoo_probes").glob("events.out.tfevents.*"))
