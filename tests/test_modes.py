import numpy as np
import pytest
from conftest import every_combination

from zoo.core import catalog as registry
from zoo.engine import run as training

CELLS = registry.list_cells()
MODES = registry.list_modes()


@pytest.mark.parametrize("cell,mode", every_combination(CELLS, MODES))
def test_shapes_and_closed_form_parameter_counts(cell, mode):
    window, horizon, units = 5, 3, 7
    model = training.build_model(cell, mode, units, window, horizon)
    spec = registry.get_mode(mode)
    steps_in = 1 if spec.layout == "one" else window
    x = np.zeros((2, steps_in, window if spec.layout == "one" else 1), np.float32)
    y = np.asarray(model(x))
    expected = {"next": (2, 1), "horizon": (2, horizon, 1), "synced": (2, window, 1)}[spec.target]
    assert y.shape == expected
    assert model.count_params() == training.expected_param_count(cell, mode, units, window, horizon)


@pytest.mark.parametrize(
    "cell,params", [("simple_rnn", 4289), ("gru", 12929), ("lstm", 16961)]
)
def test_seed_model_parameter_counts(cell, params):
    # 64 units reading one value per step, plus a Dense(1) head: worked by hand.
    assert training.build_model(cell, "many_to_one", 64, 5, 5).count_params() == params
