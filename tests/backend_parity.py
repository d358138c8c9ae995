"""Run the engine's pieces on fixed weights and data; save what they return.

Called by tests/test_backends.py once per backend (KERAS_BACKEND is set by the
caller), so the two outputs can be compared number for number.
"""

import sys

import numpy as np

import zoo  # noqa: F401  (sets the backend default)
from zoo.core.config import RunConfig, TaskConfig, TrainConfig
from zoo.engine import run as training
from zoo.engine.probe_program import PROGRAMS


def main(out: str) -> None:
    run = RunConfig("gru", "many_to_one", 0, 8, TaskConfig(train_stop=3.0, train_points=300),
                    TrainConfig(batch_size=32, global_clipnorm=0.5))
    eng = training.engine(run)
    rng = np.random.default_rng(0)
    tv = [rng.normal(scale=0.3, size=v.shape).astype(np.float32) for v in eng.template.trainable_variables]
    ntv = [np.asarray(v.value) for v in eng.template.non_trainable_variables]
    train, _ = training.make_data(run.task, run.mode)
    steps, batch = 9, 32
    index = np.arange(steps * batch, dtype=np.int32).reshape(steps, batch)
    mask = np.ones((steps, batch), np.float32)
    x_probe, y_probe = train.x[:16], train.y[:16]
    probe = {
        # dL/dx and ‖dh_T/dh_t‖ by lag (zoo/probes/input_gradient, zoo/probes/state_jacobian).
        "dL_dx": np.asarray(PROGRAMS.get(eng).fns["input_gradient"](tv, ntv, x_probe, y_probe)["grads"]),
        "dhT_dht": PROGRAMS.get(eng).values("state_jacobian", tv, ntv, x_probe, y_probe)["dhT_dht"],
        # The gates probe (zoo/probes/gates), as the probe program compiles it.
        "carry": np.asarray(PROGRAMS.get(eng).fns["gates"](tv, ntv, x_probe, y_probe)["mean"]["carry"]),
        # TensorFlow takes the spectrum outside XLA (zoo/probes/spectrum/measure.py: XLA = False), JAX inside.
        "spectrum": np.array([float(v) for _, v in sorted(
            PROGRAMS.get(eng).fns["spectrum"](tv, ntv, x_probe, y_probe).items())]),
    }
    from zoo.engine import optimizers

    ov = optimizers.init_state(run.train, tv)
    new_tv, _, _, (loss, gnorm, groups, clipped) = eng.train_epoch(tv, ntv, ov, train.x, train.y, index, mask)
    np.savez(out, loss=np.asarray(loss), gnorm=np.asarray(gnorm), groups=np.asarray(groups),
             clipped=np.asarray(clipped), weights=np.concatenate([np.ravel(np.asarray(w)) for w in new_tv]), **probe)


if __name__ == "__main__":
    main(sys.argv[1])
