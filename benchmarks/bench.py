"""`make bench`: time per model-step of rnn-zoo's engine against what users
would write instead, and against the FLOP-bound limit, in one run.

Every number comes from a fresh process (benchmarks/worker.py), so imports,
threads and memory do not leak between contenders. Writes
reports/benchmark.csv and reports/benchmark.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).with_name("worker.py")
GATES = {"simple_rnn": 1, "gru": 3, "lstm": 4}
UNITS, WINDOW, BATCH = 64, 5, 64


def step_flops(cell: str) -> float:
    """Matmul FLOPs of one training step: forward, and backward at twice the forward."""
    g = GATES[cell] * UNITS
    per_time_step = 2 * BATCH * (1 * g + UNITS * g)
    head = 2 * BATCH * UNITS
    return 3 * (WINDOW * per_time_step + head)


def run_workers(kind: str, cell: str, backend: str, copies: int = 1, threads: int = 0, **env_changes) -> list[dict]:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT), **env_changes}
    cmd = [sys.executable, str(WORKER), kind, cell] + (["--threads", str(threads)] if threads else [])
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(copies)]
    out = []
    for p in procs:
        stdout, stderr = p.communicate()
        if p.returncode != 0:
            raise RuntimeError(f"{kind} {cell} on {backend} failed:\n{stderr[-2000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def measure(cells: list[str], cores: int) -> pd.DataFrame:
    rows = []
    for cell in cells:
        def add(name, results, processes):
            ms = np.mean([r["ms_per_step"] for r in results])
            # Several processes at once: model-steps per second add up.
            effective = ms / processes
            rows.append({"cell": cell, "contender": name, "processes": processes, "ms_per_model_step": effective,
                         "steps_per_second": 1e3 / effective, "peak_mib": max(r["peak_mib"] for r in results)})
            print(f"  {cell:<10} {name:<34} {effective:7.3f} ms/model-step", flush=True)

        add("(a) keras fit, tensorflow", run_workers("keras_fit", cell, "tensorflow"), 1)
        if has_torch():
            add("(b) pytorch eager loop", run_workers("torch", cell, "jax"), 1)
        for backend in ("jax", "tensorflow"):
            add(f"(c) rnn-zoo engine, {backend}, 1 process", run_workers("engine", cell, backend), 1)
            if backend == "jax":  # what the per-step gradient statistics cost
                add("    same, without gradient statistics", run_workers("engine_bare", cell, backend), 1)
            add(f"(c) rnn-zoo engine, {backend}, {cores} processes",
                run_workers("engine", cell, backend, copies=cores, threads=1), cores)
        # The machine's limit: every core running the step's matmul in XLA, one thread each.
        flops = step_flops(cell)
        rate = sum(r["gflops"] for r in run_workers("matmul", cell, "jax", copies=cores, threads=1)) * 1e9
        rows.append({"cell": cell, "contender": "(d) FLOP-bound limit", "processes": cores,
                     "ms_per_model_step": flops / rate * 1e3, "steps_per_second": rate / flops, "peak_mib": np.nan,
                     "flops_per_step": flops, "gflops": rate / 1e9})
    return pd.DataFrame(rows)


def compiler_choice(cells: list[str]) -> pd.DataFrame:
    """XLA:CPU's classic emitters (what rnn-zoo's workers use) against its fusion emitters, in one run.

    Each side is a fresh worker process with an empty compile cache: the first
    run's seconds are mostly compiling. A backend whose XLA lacks the flag is left out.
    """
    from zoo.core.config import CLASSIC_CPU_EMITTERS, xla_cpu_flags

    fusion = CLASSIC_CPU_EMITTERS.replace("=false", "=true")
    rows = []
    for backend in ("jax", "tensorflow"):
        if not xla_cpu_flags(backend):
            continue
        for cell in cells:
            for name, flag in (("classic emitters (rnn-zoo's workers)", CLASSIC_CPU_EMITTERS),
                               ("fusion emitters", fusion)):
                (r,) = run_workers("engine_cold", cell, backend, threads=1, XLA_FLAGS=flag)
                rows.append({"backend": backend, "cell": cell, "compiler": name, **r})
                print(f"  {backend:<10} {cell:<10} {name:<36} first run {r['first_run_seconds']:.2f} s, "
                      f"{r['ms_per_step']:.3f} ms/step", flush=True)
    return pd.DataFrame(rows)


def compiler_markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return ""
    lines = ["## XLA:CPU emitters", "", "| backend | cell | compiler | first run from an empty compile cache (s) | "
             "ms / step after | final loss | first run vs fusion | step vs fusion |", "|---" * 8 + "|"]
    same = {}
    for (backend, cell), t in table.groupby(["backend", "cell"], sort=False):
        base = t.iloc[1]
        same.setdefault(backend, []).append(t.final_loss.iloc[0] == t.final_loss.iloc[1])
        for r in t.itertuples():
            lines.append(f"| {backend} | {cell} | {r.compiler} | {r.first_run_seconds:.2f} | {r.ms_per_step:.3f} "
                         f"| {r.final_loss:.9g} | {r.first_run_seconds / base.first_run_seconds:.2f}x "
                         f"| {r.ms_per_step / base.ms_per_step:.2f}x |")
    lines.append("\nBelow 1.00x the classic emitters are faster. Final losses identical between the two: " + ", ".join(
        f"{backend} {sum(flags)} of {len(flags)} cells" for backend, flags in same.items()) + ".")
    return "\n".join(lines) + "\n"


def grid_wall_time() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "zoo", "compare", "--runs", f"{tmp}/runs", "--reports", f"{tmp}/rep"],
                       cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - start


def markdown(table: pd.DataFrame, grid_seconds: float | None, cores: int) -> str:
    lines = [f"# Benchmark: ms per model-step, seed task (64 units, window 5, batch 64), {cores} cores", ""]
    for cell, t in table.groupby("cell", sort=False):
        fit = t[t.contender.str.startswith("(a)")].ms_per_model_step.iloc[0]
        torch = t[t.contender.str.startswith("(b)")].ms_per_model_step
        limit = t[t.contender.str.startswith("(d)")].ms_per_model_step.iloc[0]
        lines += [f"## {cell}", "", "| contender | ms / model-step | steps / s | vs keras fit | vs pytorch | "
                  "vs FLOP limit | peak MiB per process |", "|---|---|---|---|---|---|---|"]
        for r in t.itertuples():
            vs_torch = f"{torch.iloc[0] / r.ms_per_model_step:.2f}x" if len(torch) else "–"
            peak = "–" if np.isnan(r.peak_mib) else f"{r.peak_mib:.0f}"
            speedup, vs_limit = fit / r.ms_per_model_step, r.ms_per_model_step / limit
            lines.append(f"| {r.contender} | {r.ms_per_model_step:.3f} | {r.steps_per_second:.0f} "
                         f"| {speedup:.2f}x | {vs_torch} | {vs_limit:.2f}x | {peak} |")
        plain = t[t.contender.str.contains("without gradient statistics")].ms_per_model_step
        if len(plain):
            full = t[t.contender == "(c) rnn-zoo engine, jax, 1 process"].ms_per_model_step.iloc[0]
            lines.append(f"\nThe per-step gradient statistics cost {100 * (full / plain.iloc[0] - 1):.0f}% of a step.")
        lines.append("")
    lines.append("'vs keras fit' and 'vs pytorch' are speed-ups (higher is faster); 'vs FLOP limit' is how many "
                 "times slower than the analytic matmul FLOPs at the measured matmul rate (1.00x is the limit).")
    if grid_seconds is not None:
        lines.append(f"\nDefault grid (`make compare`, 36 runs, empty runs folder): {grid_seconds:.0f} s wall time.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", default="gru,simple_rnn,lstm")
    parser.add_argument("--no-grid", action="store_true", help="skip timing the full default grid")
    parser.add_argument("--out", default=str(ROOT / "reports"))
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    if not has_torch():
        print("PyTorch is not installed, so (b) is skipped: pip install 'rnn-zoo[bench]'", flush=True)
    table = measure(args.cells.split(","), cores)
    compilers = compiler_choice(args.cells.split(","))
    grid_seconds = None if args.no_grid else grid_wall_time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "benchmark.csv", index=False)
    text = markdown(table, grid_seconds, cores) + "\n" + compiler_markdown(compilers)
    (out / "benchmark.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
