"""`make bench`'s long-sequence section: ms per training step at T = 100 and
T = 1000 for every registered cell, and each parallel form against the
per-step form of the same cell.

A training step is the loss, its gradient and an SGD update, compiled
(JAX), on the sine task's many_to_one model: 64 units, batch 32. Each cell is
timed in a fresh process (``--worker``), its two forms in the same process,
alternating, so their ratio is measured under the same load. Appends to
reports/benchmark.md (or prints, with ``--print``) and writes
reports/benchmark_long.csv.
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
UNITS, BATCH = 64, 32
LENGTHS = (100, 1000)


def _step_fn(model):
    import jax
    from keras import ops

    def loss(tv, ntv, x, y):
        pred = model.stateless_call(tv, ntv, x, training=True)[0]
        return ops.mean(ops.square(pred - y))

    grad = jax.value_and_grad(loss)

    @jax.jit
    def step(tv, ntv, x, y):
        value, grads = grad(tv, ntv, x, y)
        return value, [w - 1e-3 * g for w, g in zip(tv, grads)]

    return step


def time_forms(models: dict, steps: int, repeats: int) -> dict:
    """Fastest ms per training step of each model, after one compiling call each.

    The models' steps alternate (one of each, ``repeats`` times) and the fastest of
    each is kept: on a shared machine a burst of load then slows both alike or
    neither, and the minimum is the time the step needs when it gets the cores.
    """
    import jax
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, steps, 1)).astype(np.float32)
    y = rng.normal(size=(BATCH, 1)).astype(np.float32)
    ready = {}
    for name, (model, before) in models.items():
        before()  # e.g. choose the solver: it is read when the step is traced
        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        step = _step_fn(model)
        jax.block_until_ready(step(tv, ntv, x, y))
        ready[name] = (step, tv, ntv)
    best = {name: float("inf") for name in models}
    for _ in range(repeats):
        for name, (step, tv, ntv) in ready.items():
            start = time.perf_counter()
            jax.block_until_ready(step(tv, ntv, x, y))
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: t * 1e3 for name, t in best.items()}


def worker(cell: str, lengths: list[int], methods: list[str]) -> list[dict]:
    import keras

    from zoo.core import catalog
    from zoo.engine.build import build_model
    from zoo.models import scan
    from zoo.models.parallel import has_parallel_form

    rows = []
    spec, mode = catalog.get_cell(cell), catalog.get_mode("many_to_one")
    for steps in lengths:
        keras.utils.set_random_seed(0)
        per_step = mode.builder(lambda: spec.builder(UNITS), steps, 1)  # Keras's per-step loop
        repeats = 20 if steps <= 100 else 5
        models = {"per-step": (per_step, lambda: None)}
        if has_parallel_form(per_step.get_layer("rnn").cell):
            model = build_model(cell, "many_to_one", UNITS, steps, 1)
            for method in methods:
                models[f"parallel, {method}"] = (model, lambda m=method: setattr(scan, "METHOD", m))
        for form, ms in time_forms(models, steps, repeats).items():
            rows.append({"cell": cell, "steps": steps, "form": form, "ms_per_step": ms})
        scan.METHOD = "sequential"
    return rows


def measure(cells: list[str], lengths: list[int], methods: list[str]):
    import pandas as pd

    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    rows = []
    for cell in cells:
        cmd = [sys.executable, __file__, "--worker", cell, "--lengths", ",".join(map(str, lengths)),
               "--methods", ",".join(methods)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"long-sequence bench of {cell} failed:\n{done.stderr[-2000:]}")
        found = json.loads(done.stdout.strip().splitlines()[-1])
        for r in found:
            print(f"  {r['cell']:<16} T={r['steps']:<5} {r['form']:<22} {r['ms_per_step']:9.1f} ms/step", flush=True)
        rows += found
    return pd.DataFrame(rows)


def markdown(table, load: str) -> str:
    lengths = sorted(table.steps.unique())
    lines = [f"## Long sequences: ms per training step (many_to_one, {UNITS} units, batch {BATCH}, JAX)", "",
             f"Load average while measuring: {load}. Absolute times move with the load; the ratios were "
             "measured side by side, in one process per cell, the forms' steps alternating; each time is "
             "the fastest of its repeats.", "",
             "| cell | form | " + " | ".join(f"ms, T = {t}" for t in lengths) + " | "
             + " | ".join(f"speed-up, T = {t}" for t in lengths) + " |",
             "|---" * (2 + 2 * len(lengths)) + "|"]
    for cell, t in table.groupby("cell", sort=True):
        per = {r.steps: r.ms_per_step for r in t[t.form == "per-step"].itertuples()}
        for form, f in t.groupby("form", sort=False):
            ms = {r.steps: r.ms_per_step for r in f.itertuples()}
            cells = [f"{ms[s]:.1f}" if s in ms else "–" for s in lengths]
            cells += ["–" if form == "per-step" else f"{per[s] / ms[s]:.2f}x" if s in ms else "–" for s in lengths]
            lines.append(f"| {cell} | {form} | " + " | ".join(cells) + " |")
    lines += ["", "per-step is Keras's loop (`keras.layers.RNN`), the form the probes use. The parallel form "
              "(`call_sequence`, `zoo.models.parallel`) computes every input projection in one matrix product, then "
              "solves the elementwise recurrence h = a*h + b: 'sequential' by a scan over the T steps (what the zoo "
              "trains with), 'two_level' in chunks of about sqrt(T) steps (`zoo.models.scan`). Speed-up: per-step "
              "time / this form's time (higher is faster)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", default="all")
    parser.add_argument("--lengths", default=",".join(map(str, LENGTHS)))
    # two_level is opt-in: XLA:CPU took over ten minutes to compile the LRU's two-level
    # complex form at T = 1000 (its chunks are unrolled), and it was the slowest form for minGRU.
    parser.add_argument("--methods", default="sequential",
                        help="the parallel forms' solvers to time, of zoo.models.scan.METHODS "
                             "(sequential, two_level; default: sequential)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "reports"))
    parser.add_argument("--print", action="store_true", help="print the section; do not append it to benchmark.md")
    args = parser.parse_args()
    lengths = [int(v) for v in args.lengths.split(",")]
    methods = args.methods.split(",")
    if args.worker:
        print(json.dumps(worker(args.worker, lengths, methods)))
        return
    from zoo.core import catalog

    cells = catalog.list_cells() if args.cells == "all" else args.cells.split(",")
    table = measure(cells, lengths, methods)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = markdown(table, load)
    if not args.print:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "benchmark_long.csv", index=False)
        with open(out / "benchmark.md", "a") as f:
            f.write("\n" + text)
    print("\n" + text)


if __name__ == "__main__":
    main()
