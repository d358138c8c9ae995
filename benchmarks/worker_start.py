"""Worker start: forked from the local executor's forkserver, or spawned (each worker imports Keras).

    python benchmarks/worker_start.py [--compares 4]

In one fresh process per start method, runs the same small compare (gru and
lstm, many_to_one, one seed, one epoch, quick data, --jobs 2) several times
in a row, as a notebook or a test session does, with --jobs 1 and 2, and
writes reports/worker_start.md: each compare's wall time, the first one
(which starts the forkserver, when there is one) apart from the later ones,
and the ratio spawned / default measured in this run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, multiprocessing, sys, tempfile, time
import zoo
from zoo.runs.executors import local
if sys.argv[1] == "spawn":
    local.start_context = lambda threads, starting: multiprocessing.get_context("spawn")
if __name__ == "__main__":
    times = []
    for i in range(int(sys.argv[2])):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            zoo.compare(cells=["gru", "lstm"], modes=["many_to_one"], seeds=1, epochs=1, quick=True,
                        jobs=int(sys.argv[3]), runs=f"{tmp}/runs", reports=None)
            times.append(time.perf_counter() - start)
    print(json.dumps(times))
"""


def compare_times(method: str, compares: int, jobs: int) -> list[float]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, method, str(compares), str(jobs)], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compares", type=int, default=4)
    args = parser.parse_args()
    lines = [
        "# Worker start: forked or spawned",
        "",
        f"The same small compare (2 runs, one epoch) {args.compares} times in one process, per start method "
        "and --jobs (`benchmarks/worker_start.py`); wall seconds on this machine, measured in one run. "
        "\"default\" is what the local executor does: its forkserver starts where one worker starts alone "
        "(--jobs 1, or a replacement) and then serves every later compare; \"spawn\" always spawns.",
        "",
        "| --jobs | start method | each compare (s) | first (s) | later, mean (s) |",
        "|---|---|---|---|---|",
    ]
    ratios = []
    for jobs in (1, 2):
        means = {}
        for method in ("default", "spawn"):
            times = compare_times(method, args.compares, jobs)
            means[method] = (times[0], sum(times[1:]) / len(times[1:]))
            print(jobs, method, [round(t, 2) for t in times], flush=True)
            lines.append(f"| {jobs} | {method} | {', '.join(f'{t:.2f}' for t in times)} | {times[0]:.2f} "
                         f"| {means[method][1]:.2f} |")
        ratios.append(f"--jobs {jobs}: first compare {means['spawn'][0] / means['default'][0]:.2f}x, "
                      f"later compares {means['spawn'][1] / means['default'][1]:.2f}x")
    lines += ["", "spawn / default, wall time: " + "; ".join(ratios) + "."]
    out = ROOT / "reports"
    out.mkdir(exist_ok=True)
    (out / "worker_start.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
