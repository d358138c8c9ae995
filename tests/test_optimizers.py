import keras
import numpy as np
import pytest
from keras import ops

from zoo.core.config import TrainConfig
from zoo.engine import optimizers


@pytest.mark.parametrize("kind", ["adam", "sgd"])
@pytest.mark.parametrize("clip", [{}, {"clipnorm": 0.5}, {"global_clipnorm": 0.5}])
def test_functional_update_equals_keras(kind, clip):
    train = TrainConfig(optimizer=kind, learning_rate=0.01, **clip)
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 2)]
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    variables = [keras.Variable(p) for p in start]
    reference = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[kind](learning_rate=0.01, **clip)
    params = [ops.convert_to_tensor(p) for p in start]
    state = optimizers.init_state(train, params)
    for _ in range(3):
        grads = [rng.normal(size=s).astype(np.float32) for s in shapes]
        reference.apply([ops.convert_to_tensor(g) for g in grads], variables)
        tensors = [ops.convert_to_tensor(g) for g in grads]
        norms = [ops.sqrt(ops.sum(ops.square(g))) for g in tensors]
        params, state, clipped = optimizers.apply(train, state, tensors, params, norms)
        total = float(np.sqrt(sum(float(n) ** 2 for n in norms)))
        limit = clip.get("global_clipnorm") or clip.get("clipnorm")
        biggest = total if "global_clipnorm" in clip else max(float(n) for n in norms)
        assert bool(clipped) == (limit is not None and biggest > limit)
    for mine, theirs in zip(params, variables):
        np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs.value), rtol=1e-5, atol=1e-6)
