"""The fast engine against the plain path: Keras ``model.fit`` on the same model.

Given the same initial weights and the same batch order, the compiled,
instrumented engine must train exactly as ``model.fit`` does: same epoch
losses and same test predictions, to float32 tolerance. Parametrized over the
registry, so a new cell or mode is checked too.
"""

import keras
import numpy as np
import pytest
from conftest import TINY_TASK, covering, tier

from zoo.core import catalog as registry
from zoo.core.config import RunConfig, TrainConfig
from zoo.engine import backend
from zoo.engine import run as training

TRAIN = TrainConfig(epochs=2, batch_size=32, probes=1)
# `make test`: a covering subset of cell x mode, where every cell trains once and every mode at least
# once (a new cell costs one case; cell i takes mode i modulo their number, so a new cell can move
# later cells to another mode); `make test-all` adds every cell on many_to_one and gru in every mode.
IN_MAKE_TEST = set(covering(registry.list_cells(), registry.list_modes()))
ALL = IN_MAKE_TEST | {(c, "many_to_one") for c in registry.list_cells()} | {("gru", m) for m in registry.list_modes()}
if backend.BACKEND == "tensorflow":
    # The cells are the same Keras code on either backend; what TensorFlow changes is the
    # engine's glue (compile, gradients, scan), which every mode and both kinds of state
    # (gru's one tensor, lstm's pair) exercise. Every cell is checked on JAX. `make test` checks
    # both kinds of state, and a sequence output (gru one_to_many); gru's other modes (4-25 s each,
    # an XLA compile of TensorFlow's) are for `make test-all`.
    IN_MAKE_TEST = {("gru", "one_to_many"), ("lstm", "many_to_one")}
    ALL = {("gru", m) for m in registry.list_modes()} | {("lstm", "many_to_one")}
CASES = [tier(*case, in_make_test=case in IN_MAKE_TEST) for case in sorted(ALL)]


def plain_fit(run: RunConfig) -> tuple[list[float], np.ndarray]:
    """What a Keras user writes: compile and fit, in the engine's batch order."""
    train_w, test_w = training.make_data(run.task, run.mode)
    keras.utils.set_random_seed(run.seed)
    model = training.build_model(run.cell, run.mode, run.units, run.task.window, run.task.horizon)
    model.compile(optimizer=keras.optimizers.Adam(run.train.learning_rate), loss=run.train.loss)
    rng = np.random.default_rng(run.seed)  # the engine's shuffling, replayed
    losses = []
    for _ in range(run.train.epochs):
        order = rng.permutation(len(train_w.x))
        history = model.fit(train_w.x[order], train_w.y[order], batch_size=run.train.batch_size,
                            epochs=1, shuffle=False, verbose=0)
        losses.append(history.history["loss"][0])
    return losses, model.predict(test_w.x, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("cell,mode", CASES)
def test_engine_trains_exactly_like_model_fit(cell, mode):
    run = RunConfig(cell, mode, seed=5, units=8, task=TINY_TASK, train=TRAIN)
    fit_losses, fit_pred = plain_fit(run)
    result = training.train_run(run)
    np.testing.assert_allclose(result.history.loss, fit_losses, rtol=2e-4)
    engine_pred = result.predictions.prediction.to_numpy()
    np.testing.assert_allclose(engine_pred, fit_pred.reshape(len(fit_pred), -1).ravel(), rtol=2e-3, atol=2e-4)
