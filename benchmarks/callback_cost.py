"""`make bench`: what ``zoo.ProbeCallback(every=1)`` adds to ``model.fit``.

Two models, each on every backend, each in a fresh process: the seed model
(the zoo's seed GRU, many_to_one, 64 units, on the sine task's 10,000 windows
of 5 steps) and a 2-layer LSTM (64 units, T = 100, 4,096 sequences). Each is
fitted for a warm-up epoch (Keras compiles its step), then ``EPOCHS`` epochs
without the callback and ``EPOCHS`` with it. Reported: the added time per
epoch once the probes are compiled (steady state: the epochs between the first
and the last), and the extra cost of the first probe (building and compiling
the probes, probing the initial weights) and the last (both take the
spectrum), as shares of the plain fit. Writes reports/callback_cost.csv and .md.

    python benchmarks/callback_cost.py            # both models, both backends
    python benchmarks/callback_cost.py --epochs 2 --backends jax
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("seed", "lstm2_t100")
EPOCHS = 4


def _model_and_data(name: str):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    if name == "seed":
        from zoo.core.config import TaskConfig
        from zoo.engine.build import build_model, make_data

        task = TaskConfig()
        train, _ = make_data(task, "many_to_one", seed=0)
        model = build_model("seed_gru", "many_to_one", 64, task.window, task.horizon)
        return model, train.x, train.y
    steps, n = 100, 4096
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, steps, 1)).astype("float32")
    y = x[:, :10, 0].sum(axis=1, keepdims=True)  # depends on the first steps: a long lag
    model = keras.Sequential([keras.Input((steps, 1)), keras.layers.LSTM(64, return_sequences=True),
                              keras.layers.LSTM(64), keras.layers.Dense(1)])
    return model, x, y


def worker(name: str, epochs: int) -> dict:
    import keras

    import zoo

    model, x, y = _model_and_data(name)
    model.compile(keras.optimizers.Adam(1e-3), "mae")

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # Keras compiles its step
    plain = Timer()
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=[plain])
    plain_total = time.perf_counter() - t0
    # The probe callback runs after the timer's on_epoch_end: its epoch time is the fit's alone;
    # the whole fit's wall time includes the probes.
    probe, timed = zoo.ProbeCallback(x, y, every=1), Timer()
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=[timed, probe])
    probed_total = time.perf_counter() - t0
    # Epoch 0 builds and compiles the probes (and takes the spectrum); epochs 1..E-1 probe
    # without the spectrum; the last epoch takes it again.
    first_probe, last_probe = probe.probe_timings[0], probe.probe_timings[-1]
    later = probe.probe_timings[1:-1]
    plain_epoch = sorted(plain.seconds)[len(plain.seconds) // 2]
    steady = sum(later) / len(later)
    return {
        "model": name, "backend": keras.backend.backend(), "epochs": epochs,
        "steps_per_epoch": -(-len(x) // 64), "probe_batch": len(probe.x),
        "fit_epoch_s": plain_epoch, "probe_s": steady, "first_probe_s": first_probe, "last_probe_s": last_probe,
        "steady_overhead": steady / plain_epoch,
        "one_time_overhead": (first_probe + last_probe - 2 * steady) / plain_total,
        "total_overhead": probed_total / plain_total - 1.0,
    }


def main() -> None:  # each worker gets KERAS_BACKEND from here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="at least 3")
    parser.add_argument("--backends", default="jax,tensorflow")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--worker")
    parser.add_argument("--out", default=str(ROOT / "reports"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.epochs)))
        return
    import pandas as pd

    rows = []
    for backend in args.backends.split(","):
        for name in args.models.split(","):
            env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
            cmd = [sys.executable, __file__, "--worker", name, "--epochs", str(args.epochs)]
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"callback cost: {name} on {backend} failed:\n{done.stderr[-2000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"{name} on {backend}: +{rows[-1]['steady_overhead']:.1%} per epoch "
                  f"(first probe +{rows[-1]['one_time_overhead']:.1%} once)", flush=True)
    table = pd.DataFrame(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "callback_cost.csv", index=False)
    load = os.getloadavg()[0]
    lines = [
        "# What zoo.ProbeCallback(every=1) adds to model.fit",
        "",
        f"{os.cpu_count()} CPUs, load {load:.1f} at the end; epochs of batch 64; the probes on "
        f"{table.probe_batch.iloc[0]} sequences. Target: at most 10% per epoch.",
        "",
        "| model | backend | fit epoch (s) | probe (s) | added per epoch | first and last probe (with the "
        "spectrum; the first compiles), once, as a share of the fit |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['backend']} | {r['fit_epoch_s']:.2f} | {r['probe_s']:.3f} | "
                     f"{r['steady_overhead']:.1%} | {r['one_time_overhead']:.1%} of {r['epochs']} epochs |")
    (out / "callback_cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
