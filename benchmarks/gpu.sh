#!/usr/bin/env bash
# A GPU machine check for `python -m zoo compare` (no internet needed).
#
#   bash benchmarks/gpu.sh [WHEEL_DIR]
#
# WHEEL_DIR: wheels of what the machine lacks (keras and its needs, say),
# installed with pip --no-index into /tmp/site and put on PYTHONPATH.
#
# It trains, each timed:
#   1. the quick grid, device auto           (should pick the GPU)
#   2. the default grid, --device gpu        (the plan's workers; seeds batched),
#      from an empty compile cache, then again into fresh folders with the
#      cache the first one filled (gpu-default-warm: no program compiles)
#   3. the default grid again with --jobs N, for each N in JOBS_VARIANTS
#   4. the memory experiment, --device gpu, if zoo/configs/memory.toml exists
#   5. a slice of the default grid, --device cpu (CELLS=gru MODES=many_to_one)
# then checks that every run's metrics.json says status "ok" and, for the GPU
# grids, device kind "gpu"; compares the GPU and CPU runs both trained (same
# config, same run id: same initial weights and batches), and prints a table:
# grid, device, jobs, runs, ok, wall s (the whole command), train s (the
# compare's training wall time: workers, compiling, training, storing), ms
# per step per run (each run's share of its steps' time: with seeds batched, a
# batched step's time over the seeds), runs per second of training.
#
# Knobs (environment): OUT (results: log and tables; default /tmp/gpu-check),
# RUNS_ROOT (run and report folders; default /tmp/gpu-check-runs, kept out of
# OUT so that OUT stays a handful of files), PYTHON (default python3),
# CELLS, MODES (the CPU slice), GRID_ARGS (extra compare flags for the default
# grids and the CPU slice, e.g. "--epochs 20" to fit a time limit),
# JOBS_VARIANTS (default empty; e.g. "8 12": default grid again with that many
# GPU workers), FIRST_EPOCH_RTOL (default 2e-4, the fit-parity test's: the
# largest relative difference allowed between a GPU run's and its CPU twin's
# first-epoch loss; same weights, same batches, float32 on both, so they
# differ by rounding only).
#
# GPU vs CPU: a run and its CPU twin (same run id: same initial weights, same
# batches) agree to float32 rounding for the first ~20 epochs (measured:
# about 1e-7); then rounding differences grow chaotically and the two
# trajectories part, as two seeds' would. So the first epoch is compared run by
# run, and the end of training as a seed spread: the GPU runs' mean final
# test_mae must lie within the CPU runs' 95% t-interval (with a 5% floor).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${OUT:-/tmp/gpu-check}
RUNS_ROOT=${RUNS_ROOT:-/tmp/gpu-check-runs}
PYTHON=${PYTHON:-python3}
CELLS=${CELLS:-gru}
MODES=${MODES:-many_to_one}
GRID_ARGS=${GRID_ARGS:-}
JOBS_VARIANTS=${JOBS_VARIANTS:-}
FIRST_EPOCH_RTOL=${FIRST_EPOCH_RTOL:-2e-4}
WHEEL_DIR=${1:-}

die() { echo "gpu.sh: error: $*" >&2; exit 2; }
say() { echo; echo "== $*"; }

mkdir -p "$OUT_DIR" "$RUNS_ROOT" || die "cannot create $OUT_DIR or $RUNS_ROOT"
LOG=$OUT_DIR/gpu-check.log
exec > >(tee "$LOG") 2>&1  # everything below is also kept in the log
TEE_PID=$!
trap 'exec >&- 2>&-; wait "$TEE_PID"' EXIT  # let tee print the last lines before the shell returns
cd "$ROOT"
export PYTHONUNBUFFERED=1 KERAS_BACKEND=${KERAS_BACKEND:-jax}
# The script's own compile cache, empty at the start, so the first compares pay
# their compiles as on a new machine and gpu-default-warm shows what a cache saves.
export RNN_ZOO_COMPILE_CACHE
RNN_ZOO_COMPILE_CACHE=$(mktemp -d "$RUNS_ROOT/xla-cache.XXXXXX") || die "cannot create a cache folder in $RUNS_ROOT"

if [[ -n $WHEEL_DIR ]]; then
    [[ -d $WHEEL_DIR ]] || die "WHEEL_DIR '$WHEEL_DIR' is not a folder"
    compgen -G "$WHEEL_DIR/*.whl" >/dev/null || die "no .whl files in '$WHEEL_DIR'"
    say "installing $(ls "$WHEEL_DIR"/*.whl | wc -l) wheels from $WHEEL_DIR into /tmp/site"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/site "$WHEEL_DIR"/*.whl \
        || die "pip could not install the wheels in $WHEEL_DIR"
    export PYTHONPATH=/tmp/site:$ROOT${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
fi

say "GPUs (nvidia-smi -L)"
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: is this a GPU machine?"
nvidia-smi -L

say "what the $KERAS_BACKEND backend sees"
"$PYTHON" -c "import keras" 2>/dev/null \
    || die "keras is not importable with $PYTHON: pass a WHEEL_DIR holding keras and what it needs"
XLA_PYTHON_CLIENT_PREALLOCATE=false "$PYTHON" -c "import jax; print('jax', jax.__version__, jax.devices())" \
    || die "jax cannot start"
"$PYTHON" - <<'EOF' || die "zoo.runs.devices found no GPU (see above)"
import os
from zoo.runs.devices import detect_devices, plan_workers
devices = detect_devices(os.environ["KERAS_BACKEND"])
print("detect_devices:", devices)
print("plan:", plan_workers(devices, len(os.sched_getaffinity(0))).note)
raise SystemExit(0 if any(d.kind == "gpu" for d in devices) else 1)
EOF
"$PYTHON" -m zoo compare --help | grep -q -- '--device' \
    || die "this rnn-zoo's compare has no --device flag yet (it is wired in by zoo/cli.py)"

: >"$OUT_DIR/timings.tsv"
STATUS=0

# compare NAME DEVICE ARGS...: one timed `python -m zoo compare` into RUNS_ROOT/runs-NAME.
compare() {
    local name=$1 device=$2; shift 2
    local runs=$RUNS_ROOT/runs-$name reports=$RUNS_ROOT/reports-$name rc=0
    local log=$RUNS_ROOT/$name.log
    rm -rf "$runs" "$reports"  # a fresh folder: skipped runs would spoil the timing
    say "compare $name (device $device): $*"
    local t0; t0=$(date +%s%N)
    "$PYTHON" -m zoo compare --runs "$runs" --reports "$reports" "$@" 2>&1 | tee "$log" || rc=$?
    local ms=$((($(date +%s%N) - t0) / 1000000))
    local wall; wall=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
    # the runner's last line: "trained N runs in X.Xs (training wall time: ...)"
    local train; train=$(sed -n 's/^trained [0-9]* runs in \([0-9.]*\)s (training wall time.*/\1/p' "$log" | tail -1)
    local jobs; jobs=$(sed -n 's/.* with \([0-9]*\) worker process.*/\1/p' "$log" | head -1)
    echo "compare $name: exit code $rc, $wall s in all, ${train:-?} s training, ${jobs:-?} workers"
    [[ $rc == 0 ]] || STATUS=1
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$device" "$runs" "$wall" "${train:-}" "${jobs:-}" >>"$OUT_DIR/timings.tsv"
}

# shellcheck disable=SC2086  # GRID_ARGS is a list of flags
{
    compare gpu-quick auto --quick
    compare gpu-default gpu --device gpu $GRID_ARGS
    compare gpu-default-warm gpu --device gpu $GRID_ARGS
    for jobs in $JOBS_VARIANTS; do
        compare "gpu-default-jobs$jobs" gpu --device gpu --jobs "$jobs" $GRID_ARGS
    done
    if [[ -f zoo/configs/memory.toml ]]; then
        compare gpu-memory gpu --device gpu --config memory
    else
        echo; echo "== no zoo/configs/memory.toml in this checkout: the memory experiment is not timed"
    fi
    compare cpu-slice cpu --device cpu --cells "$CELLS" --modes "$MODES" $GRID_ARGS
}

say "results"
"$PYTHON" - "$OUT_DIR" "$FIRST_EPOCH_RTOL" <<'EOF' || STATUS=1
import json, sys
from pathlib import Path

out, first_rtol = Path(sys.argv[1]), float(sys.argv[2])
rows, metrics, bad = [], {}, []
for line in (out / "timings.tsv").read_text().splitlines():
    name, device, runs, wall, train, jobs = line.split("\t")
    found = {}
    for path in sorted(Path(runs).glob("*/metrics.json")):
        try:
            found[path.parent.name] = json.loads(path.read_text())
        except ValueError as exc:
            found[path.parent.name] = {"status": f"unreadable ({exc})"}
    metrics[name] = found
    ok = [m for m in found.values() if m.get("status") == "ok"]
    bad += [f"{name}/{run}: {m.get('status')} {m.get('error') or ''}".strip()
            for run, m in found.items() if m.get("status") != "ok"]
    if device in ("gpu", "auto"):
        bad += [f"{name}/{run}: trained on {m.get('device', {}).get('kind')}, not on the GPU"
                for run, m in found.items() if m.get("status") == "ok" and m.get("device", {}).get("kind") != "gpu"]
    ms = [1000 * m["train_seconds"] / m["steps"] for m in ok if m.get("steps")]
    replicas = sorted({m.get("device", {}).get("replicas", 1) for m in ok})
    wall, train = float(wall), float(train) if train else None
    per_s = len(found) / (train or wall) if (train or wall) else 0
    rows.append((name, device, jobs or "-", "/".join(map(str, replicas)) or "-", len(found), len(ok), f"{wall:.1f}",
                 f"{train:.1f}" if train else "-", f"{sum(ms) / len(ms):.3f}" if ms else "-", f"{per_s:.2f}"))
    if not found:
        bad.append(f"{name}: no runs in {runs}")

header = ("grid", "device", "jobs", "seeds/task", "runs", "ok", "wall s", "train s", "ms/step/run", "runs/s")
table = [header] + rows
widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
text = "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in table)
print(text)
(out / "summary.tsv").write_text("\n".join("\t".join(map(str, r)) for r in table) + "\n")

runs_of = {line.split("\t")[0]: line.split("\t")[2] for line in (out / "timings.tsv").read_text().splitlines()}


def first_loss(grid, run):  # the first epoch's training loss: 157 steps, before rounding has grown
    import csv
    with open(Path(runs_of[grid]) / run / "history.csv") as f:
        return float(next(csv.DictReader(f))["loss"])


gpu, cpu = metrics.get("gpu-default", {}), metrics.get("cpu-slice", {})
pairs = [(run, gpu[run]["test_mae"], cpu[run]["test_mae"]) for run in sorted(set(gpu) & set(cpu))
         if gpu[run].get("status") == cpu[run].get("status") == "ok"]
if pairs:
    import statistics
    from scipy import stats

    print(f"\nGPU vs CPU, {len(pairs)} runs trained on both (same weights and batches):")
    for run, g, c in pairs:
        lg, lc = first_loss("gpu-default", run), first_loss("cpu-slice", run)
        rel = abs(lg - lc) / abs(lc)
        print(f"  {run}: epoch-1 loss gpu {lg:.7f} cpu {lc:.7f} ({rel:.1e} relative); "
              f"final test_mae gpu {g:.5f} cpu {c:.5f}")
        if rel > first_rtol:
            bad.append(f"{run}: GPU and CPU epoch-1 loss differ by {rel:.1e} > {first_rtol:.0e}")
    gm, cm = statistics.mean(g for _, g, _ in pairs), statistics.mean(c for _, _, c in pairs)
    half = stats.t.ppf(0.975, len(pairs) - 1) * statistics.stdev(c for _, _, c in pairs) / len(pairs) ** 0.5 \
        if len(pairs) > 1 else 0.0
    allowed = max(half, 0.05 * cm)
    print(f"  final test_mae, mean over these runs: gpu {gm:.5f}, cpu {cm:.5f} ± {half:.5f} (95% t-interval)")
    if abs(gm - cm) > allowed:
        bad.append(f"GPU mean final test_mae {gm:.5f} is outside the CPU's {cm:.5f} ± {allowed:.5f}")
else:
    bad.append("no run trained ok on both GPU and CPU: nothing to compare")

print(f"\nruns not ok or checks failed: {len(bad)}")
for line in bad:
    print(f"  {line}")
raise SystemExit(1 if bad else 0)
EOF

say "$([[ $STATUS == 0 ]] && echo PASS || echo FAIL): log and tables in $OUT_DIR, runs in $RUNS_ROOT"
exit "$STATUS"
