"""zoo.diagnose's answers to a new user's slips, before any work: a misspelt loss names the
nearest name Keras accepts (its short aliases included), a missing y is named as y, and NaN or
inf in the data is named where it is, not blamed on y's shape.

Each case: one DiagnoseError line, raised before the model is run, compiled or trained (a
tripwire on the Diagnoser's first call of the model and on its compile), the model untouched.
"""

import re

import numpy as np
import pytest

import zoo

keras = pytest.importorskip("keras")

from zoo.engine.diagnose import DiagnoseError, check_data  # noqa: E402
from zoo.engine.diagnose import diagnoser as diagnoser_module  # noqa: E402

N, T, F = 8, 6, 2


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(8), keras.layers.Dense(1)])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, T, F)).astype("float32"), rng.normal(size=(N, 1)).astype("float32")


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Any check that lets the Diagnoser run the model or compile its probes fails the test."""

    def tripwire(*args, **kwargs):
        raise AssertionError("zoo.diagnose did real work before its checks failed")

    monkeypatch.setattr(diagnoser_module, "first_look", tripwire)
    monkeypatch.setattr(diagnoser_module.Diagnoser, "_compile", tripwire)
    monkeypatch.setattr(keras.Model, "compile", tripwire)
    monkeypatch.setattr(keras.Model, "fit", tripwire)


def _refused(model, x, y, loss="mse") -> str:
    before = [np.array(v.value) for v in model.variables]
    with pytest.raises(DiagnoseError) as info:
        zoo.diagnose(model, x, y, loss=loss)
    message = str(info.value)
    assert "\n" not in message
    assert all(np.array_equal(a, np.array(v.value)) for a, v in zip(before, model.variables))
    return message


# -- 1. a misspelt loss: the nearest of every name Keras accepts, its aliases included
@pytest.mark.parametrize("typo, nearest", [
    ("mes", "mse"), ("msee", "mse"), ("mea", "mae"), ("MES", "MSE"),
    ("mean_squard_error", "mean_squared_error"), ("MeanSquaredEror", "MeanSquaredError"),
    ("binary_crossentropyy", "binary_crossentropy"), ("sparse_categorical_crosentropy",
                                                      "sparse_categorical_crossentropy"),
])
def test_a_misspelt_loss_names_the_nearest_name_keras_accepts(model, data, typo, nearest):
    message = _refused(model, *data, loss=typo)
    assert message.startswith(f"loss = {typo!r}: not a Keras loss; valid names: ")
    assert message.endswith(f"(nearest: {nearest!r})")
    keras.losses.get(nearest)  # the name offered is one Keras takes


def test_the_valid_loss_names_are_those_keras_accepts_short_aliases_included(model, data):
    message = _refused(model, *data, loss="mes")
    listed = re.search(r"valid names: (.*?), or a class's name", message).group(1).split(", ")
    assert {"mse", "mae", "mape", "msle", "kld", "mean_squared_error", "sparse_categorical_crossentropy"} <= set(listed)
    for name in listed:  # none that keras.losses.get refuses (it has no categorical_generalized_cross_entropy)
        assert callable(keras.losses.get(name)), name


def test_a_loss_name_near_nothing_names_no_nearest(model, data):
    message = _refused(model, *data, loss="zzzzqqqq")
    assert "valid names: " in message and "nearest" not in message


# -- 2. y missing, or not an array of samples
@pytest.mark.parametrize("y, given", [(None, "None"), (3.0, "3.0")])
def test_a_missing_y_is_named_with_what_is_expected(model, data, y, given):
    message = _refused(model, data[0], y)
    assert message == (f"y = {given}: expected an array of {N} targets, one per sequence of x, "
                       f"shaped like the model's output (None, 1): ({N}, 1)")


def test_a_missing_x_is_named_with_the_models_input(model, data):
    message = _refused(model, None, data[1])
    assert message == f"x = None: expected an array of sequences, (batch, steps[, features]) for the model's " \
                      f"input (None, {T}, {F})"


def test_class_ids_are_named_for_a_model_with_several_outputs(data):
    keras.utils.set_random_seed(0)
    classifier = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(4), keras.layers.Dense(3)])
    message = _refused(classifier, data[0], None, loss="sparse_categorical_crossentropy")
    assert message.endswith(f"shaped like the model's output (None, 3): ({N}, 3) "
                            f"(or class ids of shape ({N},), for a sparse loss)")


# -- 3. NaN or inf in the data, named where it is, before the loss
def test_an_all_nan_x_is_named_not_blamed_on_y(model, data):
    x = np.full_like(data[0], np.nan)
    message = _refused(model, x, data[1])
    assert message == (f"x holds {N * T * F} non-finite values (NaN or inf) in {N} of its {N} samples, "
                       "first x[0, 0, 0] = nan: expected finite values; drop or fill those samples")


def test_one_inf_in_x_is_found(model, data):
    x = data[0].copy()
    x[3, 2, 1] = -np.inf
    message = _refused(model, x, data[1])
    assert message.startswith(f"x holds 1 non-finite value (NaN or inf) in 1 of its {N} samples, "
                              "first x[3, 2, 1] = -inf")


def test_a_nan_in_y_is_named_as_ys(model, data):
    y = data[1].copy()
    y[5, 0] = np.nan
    message = _refused(model, data[0], y)
    assert message.startswith(f"y holds 1 non-finite value (NaN or inf) in 1 of its {N} samples, first y[5, 0] = nan")


def test_a_real_y_shape_slip_still_says_y_shape(data, monkeypatch):
    """A finite y of the wrong shape passes the checks here and is refused by the first look, as before."""
    monkeypatch.undo()  # the first look (one eager call) is where y's shape is checked against the output
    keras.utils.set_random_seed(0)
    small = keras.Sequential([keras.Input((T, F)), keras.layers.SimpleRNN(3), keras.layers.Dense(1)])
    with pytest.raises(DiagnoseError, match=r"^y of shape \(8, 3\) does not fit the model's output \(8, 1\)"):
        zoo.diagnose(small, data[0], np.zeros((N, 3), "float32"), loss="mse")


def test_finite_data_and_class_ids_pass_the_checks(model, data):
    x, y = check_data(model, *data)
    assert x.shape == (N, T, F) and y.shape == (N, 1)
    _, ids = check_data(model, data[0], np.arange(N) % 3)
    assert ids.dtype.kind == "i"


def test_a_fits_optimizer_is_named_as_written_not_by_kerass_instance_counter():
    from zoo.callback.run_folders import optimizer_name

    for _ in range(3):  # Keras names them adam, adam_1, adam_2, ...
        assert optimizer_name(keras.optimizers.Adam()) == "adam"
    assert optimizer_name(keras.optimizers.SGD(name="my_sgd_2")) == "my_sgd_2"  # the user's own name stays
    for _ in range(2):  # Keras's snake-case names: adam_w, adam_w_1; rm_sprop, rm_sprop_1
        assert (optimizer_name(keras.optimizers.AdamW()), optimizer_name(keras.optimizers.RMSprop())) == (
            "adamw", "rmsprop")


def test_a_model_whose_weights_are_not_finite_is_named_not_its_data(model, data):
    broken = keras.models.clone_model(model)
    broken.set_weights([np.full_like(w, np.nan) for w in model.get_weights()])
    with pytest.raises(DiagnoseError, match=r"weights hold NaN or inf .*as after a fit that diverged") as err:
        zoo.diagnose(broken, *data)
    assert "y of shape" not in str(err.value)
