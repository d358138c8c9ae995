"""Scaling of the executors: the same grid through the local executor and Ray.

    python benchmarks/scaling.py [--epochs 120] [--seeds 3]

Trains one grid (3 cells x many_to_one x seeds, into a fresh runs folder each
time) with the local executor on 1 and 2 processes and with a local Ray
instance of 1 and 2 CPUs, and writes reports/scaling.{csv,md,png}: wall time,
runs per minute, speed-up over one local process, and Ray's overhead against
the local executor at the same width. Needs the ray extra.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CONTENDERS = [("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]


def wall_time(executor: str, jobs: int, epochs: int, seeds: int) -> float:
    """Seconds for `python -m zoo compare` to train the grid (report included) from scratch."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "zoo", "compare", "--cells", "simple_rnn,gru,lstm", "--modes", "many_to_one",
               "--seeds", str(seeds), "--epochs", str(epochs), "--executor", executor, "--jobs", str(jobs),
               "--runs", f"{tmp}/runs", "--reports", f"{tmp}/reports"]
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - start


def figure(table: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for executor, t in table.groupby("executor"):
        ax.plot(t.workers, t.runs_per_minute, marker="o", label=f"{executor} executor")
    ideal = table[(table.executor == "local") & (table.workers == 1)].runs_per_minute.iloc[0]
    ax.plot([1, 2], [ideal, 2 * ideal], ls=":", color="grey", label="linear from 1 local process")
    ax.set_xticks([1, 2])
    ax.set_xlabel("worker processes (Ray: CPUs of the local instance)")
    ax.set_ylabel("runs per minute (higher is better)")
    ax.set_title(f"Same grid ({table.runs.iloc[0]} runs) on this {table.workers.max()}-core machine", fontsize=10)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "reports"))
    args = parser.parse_args()
    runs = 3 * args.seeds
    rows = []
    for executor, jobs in CONTENDERS:
        seconds = wall_time(executor, jobs, args.epochs, args.seeds)
        rows.append({"executor": executor, "workers": jobs, "runs": runs, "seconds": seconds,
                     "runs_per_minute": runs / seconds * 60})
        print(f"  {executor:<6} {jobs} worker(s): {seconds:6.1f} s", flush=True)
    table = pd.DataFrame(rows)
    base = table.seconds.iloc[0]
    table["speedup_vs_1_local"] = base / table.seconds
    local = table[table.executor == "local"].set_index("workers").seconds
    table["ray_overhead_s"] = [s - local[w] if e == "ray" else 0.0 for e, w, s in
                               zip(table.executor, table.workers, table.seconds)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "scaling.csv", index=False)
    figure(table, out / "scaling.png")
    lines = [f"# Scaling: {runs} runs (simple_rnn, gru, lstm x many_to_one x {args.seeds} seeds, "
             f"{args.epochs} epochs), wall time of `python -m zoo compare` including start-up and report", "",
             "| executor | workers | seconds | runs / min | speed-up vs 1 local process | Ray overhead (s) |",
             "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        overhead = f"{r.ray_overhead_s:+.1f}" if r.executor == "ray" else "–"
        lines.append(f"| {r.executor} | {r.workers} | {r.seconds:.1f} | {r.runs_per_minute:.1f} "
                     f"| {r.speedup_vs_1_local:.2f}x | {overhead} |")
    text = "\n".join(lines) + "\n"
    (out / "scaling.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
