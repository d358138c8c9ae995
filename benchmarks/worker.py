"""One timed training loop in a fresh process; prints one JSON line.

    python benchmarks/worker.py KIND CELL [--threads N]

KIND is ``keras_fit`` (plain ``model.fit`` with default settings, on whatever
KERAS_BACKEND says), ``torch`` (an eager PyTorch loop) or ``engine``
(rnn-zoo's compiled epoch). All train CELL with 64 units on the seed task:
window 5, batch 64, Adam 1e-3, MAE loss. Timing starts after a warm-up epoch.

KIND ``engine_cold`` times a run from an empty compile cache, compiling
included (in a pinned worker's environment, ``--threads 1``, whose XLA
flags the caller may override with XLA_FLAGS).

KIND ``matmul`` instead measures the FLOP rate of the step's own recurrent
matmul, (batch x units) @ (units x gates*units), in an XLA-compiled loop, so
the FLOP-bound limit is set by the same compiler and threads as the engine.
"""

import argparse
import json
import resource
import sys
import time

UNITS, WINDOW, BATCH, EPOCHS = 64, 5, 64, 3


def _data():
    import numpy as np

    values = np.sin(np.linspace(0, 100, 10000)).astype(np.float32)
    starts = np.arange(len(values) - WINDOW)
    return values[starts[:, None] + np.arange(WINDOW)][:, :, None], values[starts + WINDOW][:, None]


def keras_fit(cell: str) -> tuple[float, int]:
    import keras

    x, y = _data()
    layer = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "simple_rnn": keras.layers.SimpleRNN}[cell]
    model = keras.Sequential([keras.Input((WINDOW, 1)), layer(UNITS), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mae")
    stamps = []
    marker = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: stamps.append(time.perf_counter()))
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[marker])
    steps = -(-len(x) // BATCH)
    return (stamps[-1] - stamps[0]) / (steps * (EPOCHS - 1)), steps * (EPOCHS - 1)


def torch_loop(cell: str) -> tuple[float, int]:
    import torch

    x, y = (torch.from_numpy(a) for a in _data())
    rnn = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM, "simple_rnn": torch.nn.RNN}[cell](1, UNITS, batch_first=True)
    head = torch.nn.Linear(UNITS, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    steps = -(-len(x) // BATCH)
    stamps = []
    for _ in range(EPOCHS):
        order = torch.randperm(len(x))
        for s in range(steps):
            idx = order[s * BATCH : (s + 1) * BATCH]
            opt.zero_grad()
            out, _ = rnn(x[idx])
            loss = torch.nn.functional.l1_loss(head(out[:, -1]), y[idx])
            loss.backward()
            opt.step()
        stamps.append(time.perf_counter())
    return (stamps[-1] - stamps[0]) / (steps * (EPOCHS - 1)), steps * (EPOCHS - 1)


def engine(cell: str, instrument: bool = True) -> tuple[float, int]:
    import zoo  # noqa: F401
    from zoo.core.config import RunConfig, TrainConfig
    from zoo.engine import run as training

    # Epoch 1 compiles, epoch 2 retraces on TensorFlow, the last one probes: time the 4 between.
    run = RunConfig(cell, "many_to_one", 0, UNITS, train=TrainConfig(epochs=7, probes=1))
    # instrument=False: the same engine without its per-step gradient statistics
    result = training.train_run(run, instrument=instrument)
    h = result.history.iloc[2:-1]  # the training steps only, as (a) and (b) time them
    return float(h.train_seconds.sum() / h.steps.sum()), int(h.steps.sum())


def engine_cold(cell: str) -> dict:
    """A run's first seconds from an empty compile cache (compiling included), then its steady step."""
    import os

    os.environ["RNN_ZOO_COMPILE_CACHE"] = "off"
    import zoo  # noqa: F401
    from zoo.core.config import RunConfig, TrainConfig
    from zoo.engine import run as training

    run = RunConfig(cell, "many_to_one", 0, UNITS, train=TrainConfig(epochs=7, probes=1))
    start = time.perf_counter()
    result = training.train_run(run)
    total = time.perf_counter() - start
    h = result.history.iloc[2:-1]
    return {"first_run_seconds": total, "ms_per_step": float(h.train_seconds.sum() / h.steps.sum()) * 1e3,
            "final_loss": float(result.history.loss.iloc[-1])}


GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4}


def matmul(cell: str) -> dict:
    import jax
    import jax.numpy as jnp

    width, iters = GATES[cell] * UNITS, 2000
    a = jnp.ones((BATCH, UNITS), jnp.float32) * 0.01
    b = jax.random.normal(jax.random.PRNGKey(0), (UNITS, width), jnp.float32) * 0.1

    @jax.jit
    def loop(a, b):
        # Each product feeds the next, so XLA cannot hoist it out of the loop.
        def body(_, carry):
            x, acc = carry
            y = x @ b  # every output column is used below, so none can be skipped
            return y.reshape(BATCH, -1, UNITS).sum(axis=1) * 0.5, acc + y[0, 0]

        return jax.lax.fori_loop(0, iters, body, (a, jnp.float32(0)))

    jax.block_until_ready(loop(a, b))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        jax.block_until_ready(loop(a, b))
        best = min(best, time.perf_counter() - start)
    return {"gflops": iters * 2 * BATCH * UNITS * width / best / 1e9}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["keras_fit", "torch", "engine", "engine_bare", "engine_cold", "matmul"])
    parser.add_argument("cell")
    parser.add_argument("--threads", type=int, default=0, help="pin to this many threads (0: library default)")
    args = parser.parse_args()
    if args.threads:
        # As rnn-zoo's own worker processes start: pinned threads, and on JAX no TensorFlow.
        from zoo.runs.executors import prepare_worker

        prepare_worker(args.threads)
        if args.kind == "torch":
            import torch

            torch.set_num_threads(args.threads)
    if args.kind in ("matmul", "engine_cold"):
        print(json.dumps({"matmul": matmul, "engine_cold": engine_cold}[args.kind](args.cell)))
        return
    seconds_per_step, steps = {
        "keras_fit": keras_fit,
        "torch": torch_loop,
        "engine": engine,
        "engine_bare": lambda cell: engine(cell, instrument=False),
    }[args.kind](args.cell)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms_per_step": seconds_per_step * 1e3, "steps": steps, "peak_mib": peak_mib}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
