"""Adam and SGD as pure functions of ``keras.ops``, with Keras's clipping.

Keras's own ``optimizer.stateless_apply`` does not exist on the TensorFlow
backend, so the compiled training loop updates weights with these instead, on
every backend alike. They follow Keras's formulas step for step (a test
checks them against ``keras.optimizers.Adam`` and ``SGD``).
"""

from __future__ import annotations

from keras import ops

from zoo.core.config import TrainConfig

BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # Keras's Adam defaults


def init_state(train: TrainConfig, params: list) -> list:
    """The optimizer's state for ``params``: [step] for SGD, [step, m..., v...] for Adam."""
    step = [ops.zeros((), dtype="float32")]
    if train.optimizer == "sgd":
        return step
    return step + [ops.zeros_like(p) for p in params] + [ops.zeros_like(p) for p in params]


def clip(train: TrainConfig, grads: list, norms: list) -> tuple[list, object]:
    """Keras's ``clipnorm`` (each gradient) or ``global_clipnorm`` (all together).

    ``norms`` are the gradients' own L2 norms, computed once by the caller.
    Returns the clipped gradients and whether clipping changed them (a
    boolean tensor), so the decision is made in this one place.
    """
    if train.global_clipnorm is not None:
        total = ops.sqrt(sum(ops.square(n) for n in norms))
        scale = train.global_clipnorm / ops.maximum(total, train.global_clipnorm)
        return [g * scale for g in grads], total > train.global_clipnorm
    if train.clipnorm is not None:
        clipped = ops.any(ops.stack(norms) > train.clipnorm)
        return [g * (train.clipnorm / ops.maximum(n, train.clipnorm)) for g, n in zip(grads, norms)], clipped
    return grads, ops.convert_to_tensor(False)


def apply(train: TrainConfig, state: list, grads: list, params: list, norms: list) -> tuple[list, list, object]:
    """One update: returns ``(new_params, new_state, clipped)``.

    ``norms`` may be None when no clipping is set (nothing needs them).
    """
    grads, clipped = clip(train, grads, norms)
    step = state[0] + 1.0
    lr = train.learning_rate
    if train.optimizer == "sgd":
        return [p - lr * g for p, g in zip(params, grads)], [step], clipped
    n = len(params)
    ms, vs = state[1 : 1 + n], state[1 + n :]
    alpha = lr * ops.sqrt(1.0 - ops.power(BETA_2, step)) / (1.0 - ops.power(BETA_1, step))
    new_m = [m + (g - m) * (1.0 - BETA_1) for m, g in zip(ms, grads)]
    new_v = [v + (ops.square(g) - v) * (1.0 - BETA_2) for v, g in zip(vs, grads)]
    new_p = [p - alpha * m / (ops.sqrt(v) + EPSILON) for p, m, v in zip(params, new_m, new_v)]
    return new_p, [step, *new_m, *new_v], clipped
