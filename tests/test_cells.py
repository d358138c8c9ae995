"""Hand-written cells against their equations, and every cell's save/load."""

import keras
import numpy as np
import pytest
from keras import ops

from zoo.core import catalog as registry
from zoo.engine import run as training
from zoo.models.cells.indrnn import IndRNNCell
from zoo.models.cells.mgu import MGUCell
from zoo.models.cells.seed_gru import SeedGRUCell

rng = np.random.default_rng(0)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _randomize(layer):
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in layer.get_weights()])


def _random_step_inputs(cell):
    """Build ``cell`` on a random (x, h), give it random weights; returns x, h and the weights in float64."""
    x = rng.normal(size=(3, 2)).astype(np.float32)
    h = rng.normal(size=(3, cell.units)).astype(np.float32)
    cell(ops.convert_to_tensor(x), [ops.convert_to_tensor(h)])
    _randomize(cell)
    return x, h, [w.astype(np.float64) for w in cell.get_weights()]


def _one_step(cell, x, h):
    out, _ = cell(ops.convert_to_tensor(x), [ops.convert_to_tensor(h)])
    return np.asarray(out, dtype=np.float64)


def test_seed_gru_matches_keras_gru_with_mapped_weights():
    units, dim = 6, 3
    x = rng.normal(size=(4, 7, dim)).astype(np.float32)
    seed = keras.layers.RNN(SeedGRUCell(units), return_sequences=True)
    seed(x)
    _randomize(seed)
    K, R, b = seed.get_weights()
    u = units
    flip = np.concatenate([-np.ones(u), np.ones(2 * u)]).astype(np.float32)  # negate the z columns
    keras_gru = keras.layers.GRU(units, return_sequences=True, reset_after=True)
    keras_gru(x)
    keras_gru.set_weights([K * flip, R * flip, np.stack([b * flip, np.zeros(3 * u, np.float32)])])
    np.testing.assert_allclose(np.asarray(seed(x)), np.asarray(keras_gru(x)), atol=1e-6)


def test_seed_gru_step_is_the_posts_equations():
    cell = SeedGRUCell(5)
    x, h, (K, R, b) = _random_step_inputs(cell)
    u = 5
    z = sigmoid(x @ K[:, :u] + h @ R[:, :u] + b[:u])
    r = sigmoid(x @ K[:, u : 2 * u] + h @ R[:, u : 2 * u] + b[u : 2 * u])
    cand = np.tanh(x @ K[:, 2 * u :] + r * (h @ R[:, 2 * u :]) + b[2 * u :])
    np.testing.assert_allclose(_one_step(cell, x, h), (1 - z) * h + z * cand, atol=1e-5)


def test_indrnn_step_matches_numpy():
    cell = IndRNNCell(4)
    x, h, (W, u, b) = _random_step_inputs(cell)
    np.testing.assert_allclose(_one_step(cell, x, h), np.maximum(x @ W + u * h + b, 0), atol=1e-5)


def test_mgu_step_matches_numpy():
    cell = MGUCell(4)
    x, h, (K, R, b) = _random_step_inputs(cell)
    f = sigmoid(x @ K[:, :4] + h @ R[:, :4] + b[:4])
    cand = np.tanh(x @ K[:, 4:] + (f * h) @ R[:, 4:] + b[4:])
    np.testing.assert_allclose(_one_step(cell, x, h), (1 - f) * h + f * cand, atol=1e-5)


def test_irnn_starts_from_identity_with_relu():
    cell = registry.get_cell("irnn").builder(4)
    x, h = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=(3, 4)).astype(np.float32)
    out = _one_step(cell, x, h)
    K, R, b = cell.get_weights()
    np.testing.assert_array_equal(R, np.eye(4))
    np.testing.assert_allclose(out, np.maximum(x @ K + h + b, 0), atol=1e-5)


@pytest.mark.parametrize("cell", registry.list_cells())
def test_saved_model_reloads_safely_with_the_same_outputs(cell, tmp_path):
    model = training.build_model(cell, "many_to_one", 4, 5, 5)
    x = rng.normal(size=(2, 5, 1)).astype(np.float32)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)


@pytest.mark.parametrize("cell", registry.list_cells())
def test_gates_are_probabilities_with_a_carry(cell):
    built = registry.get_cell(cell).builder(3)
    gates = registry.get_cell(cell).gate_fn(built)
    if gates is None:
        pytest.skip(f"{cell} has no gates")
    keras.layers.RNN(built)(np.zeros((1, 2, 1), np.float32))
    values = gates(ops.convert_to_tensor(rng.normal(size=(2, 1)).astype(np.float32)),
                   [ops.zeros((2, s)) for s in np.atleast_1d(built.state_size)])
    assert "carry" in values
    for v in values.values():
        v = np.asarray(v)
        assert v.shape == (2, 3) and (v > 0).all() and (v < 1).all()


# What the report may call the state's activation (its tanh' = 1 - h² sentence rests on it).
ACTIVATION_RANGE = {"tanh": (-1.0, 1.0), "relu": (0.0, np.inf)}


@pytest.mark.parametrize("cell", registry.list_cells())
def test_a_known_state_activation_is_what_the_state_is(cell):
    """Where a cell's state is known to be an activation's output, a step from large inputs keeps
    every value of it in that activation's range and reaches the range's edge (saturated tanh,
    a ReLU's exact zeros); a cell that is not known says nothing."""
    model = training.build_model(cell, "many_to_one", 8, window=3, horizon=1)
    known = training.state_activation(model)
    expected = {"simple_rnn": "tanh", "simple_rnn_rho2": "tanh", "irnn": "relu", "lstm": None, "gru": None}
    if cell in expected:
        assert known == expected[cell]
    if known is None:
        return
    layer = next(x for x in model._flatten_layers(include_self=False) if getattr(x, "cell", None) is not None)
    x = rng.normal(scale=30.0, size=(64, 3, 1)).astype(np.float32)
    h = np.asarray(layer(ops.convert_to_tensor(x)), dtype=np.float64)  # the last step's state
    lo, hi = ACTIVATION_RANGE[known]
    assert ((h >= lo) & (h <= hi)).all()
    edge = np.abs(h) > 0.99 if known == "tanh" else h == 0.0
    assert edge.any()
