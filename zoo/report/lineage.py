"""The per-cell table of an experiment over several tasks (the ``lineage`` config):
what each cell learned and what its gradient through time did, side by side.

A row per task x cell, over seeds: the final test metric, its ratio to the
memoryless baseline and the seeds that solved the task; the per-step factor of
‖dh_T/dh_t‖ (geometric mean over lags 1-5) at the first probe (initialisation)
and at the last; the range of the one-step Jacobian's singular values and the
top Lyapunov exponent at the last probe. Written for any experiment that
varies nothing but the task (its sweep, if any, is over task.name), so a row
pools seeds only; no Keras here, only the stored runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.core.config import USER_MODEL
from zoo.report import html
from zoo.report.run_numbers import through_time

# A per-step factor at or above this keeps ‖dh_T/dh_t‖ above a third of itself over
# 10 steps (0.9^10 = 0.35): "alive" through the task's lags. Below VANISHING it falls
# under a millionth within 20 steps (0.5^20 ≈ 1e-6).
ALIVE, VANISHING = 0.9, 0.5

def _probe_at(probes: pd.DataFrame, which) -> dict:
    if probes.empty or "dhT_dht" not in probes.columns:
        return through_time(pd.DataFrame(columns=["lag", "dhT_dht"]))
    epochs = sorted(probes.epoch.unique())
    return through_time(probes[probes.epoch == which(epochs)])


def run_frame(runs) -> pd.DataFrame:
    """A row per finished run: task, cell, outcome, and the through-time numbers at the first and last probe."""
    rows = []
    for r in runs:
        m = r.metrics
        if m.get("status") == "failed" or m.get("task") is None:
            continue
        first, last = _probe_at(r.probes, min), _probe_at(r.probes, max)
        rows.append({
            "task": m["task"], "length": m.get("length"), "cell": r.config.cell, "seed": r.config.seed,
            "status": m["status"], "metric": m["metric"], "value": m.get("metric_value", math.nan),
            "ratio": m.get("ratio", math.nan), "solved": bool(m.get("solved", False)),
            "factor_init": first["decay_factor"], "factor_end": last["decay_factor"],
            "sigma_min": last["jac_sigma_min"], "sigma_max": last["jac_sigma_max"],
            "lyapunov_top": last["lyapunov_top"],
            "claim": m.get("cell_declares", {}).get("claim", ""),  # what its paper claims (CellSpec.claim)
        })
    return pd.DataFrame(rows)


def _median(values) -> float:
    v = np.asarray([x for x in values if np.isfinite(x)], float)
    return float(np.median(v)) if len(v) else math.nan


def cell_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A row per task x cell: means over seeds (medians for the per-step factors, the
    extremes for σ), seeds solved."""
    rows = []
    for (task, cell), g in frame.groupby(["task", "cell"], sort=True):
        ok = g[g.status == "ok"]
        rows.append({
            "task": task, "length": g.length.iloc[0], "cell": cell, "metric": g.metric.iloc[0],
            "value": float(ok.value.mean()) if len(ok) else math.nan,
            "ratio": float(ok.ratio.mean()) if len(ok) else math.nan,
            "solved": f"{int(g.solved.sum())}/{len(g)}",
            "factor_init": _median(g.factor_init), "factor_end": _median(g.factor_end),
            "sigma_min": float(ok.sigma_min.min()) if len(ok) else math.nan,
            "sigma_max": float(ok.sigma_max.max()) if len(ok) else math.nan,
            "lyapunov_top": float(ok.lyapunov_top.mean()) if len(ok) else math.nan,
            "diverged": int((g.status == "diverged").sum()),
            "claim": next((c for c in g.claim if c), ""),
        })
    return pd.DataFrame(rows)


def _fmt(v, spec=".3g") -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| task | cell | test metric | over baseline | solved | factor at init | factor at end | "
             "σ range at end | top exponent at end |", "|---" * 9 + "|"]
    for r in table.itertuples():
        lines.append(f"| {r.task} | {r.cell} | {r.metric.removeprefix('test_')} {_fmt(r.value)} | {_fmt(r.ratio)} "
                     f"| {r.solved} | {_fmt(r.factor_init)} | {_fmt(r.factor_end)} "
                     f"| {_fmt(r.sigma_min)} – {_fmt(r.sigma_max)} | {_fmt(r.lyapunov_top, '.3f')} |")
    return "\n".join(lines) + "\n"


NOTE = ("Per task x cell, over seeds: the final test metric (mean), its ratio to the memoryless baseline, seeds "
        "solved (ratio below the task's threshold); the per-step factor of ‖dh_T/dh_t‖ (geometric mean over lags "
        "1-5, median over seeds) at the first probe (initialisation) and the last; the smallest and largest "
        "singular value of the one-step Jacobian over steps, samples and seeds at the last probe; the finite-time "
        f"top Lyapunov exponent there (mean). A factor of {ALIVE} or more keeps the gradient alive over ten steps "
        f"(0.9^10 = 0.35); below {VANISHING} it vanishes within twenty (0.5^20 ≈ 1e-6).")


def findings(table: pd.DataFrame) -> list[str]:
    """The table in words: which cells keep the gradient alive, which learn, and the papers' claims beside it."""
    out = []
    for task, t in table.groupby("task", sort=True):
        t = t[np.isfinite(t.factor_end)]
        if t.empty:
            continue
        alive = t[t.factor_end >= ALIVE].sort_values("factor_end", ascending=False)
        dying = t[t.factor_end < VANISHING].sort_values("factor_end")
        solved = [r.cell for r in t.itertuples() if int(r.solved.split("/")[0]) * 2 > int(r.solved.split("/")[1])]
        out.append(f"{task}: the gradient stays alive (per-step factor ≥ {ALIVE} after training) in "
                   + (", ".join(f"{r.cell} ({r.factor_end:.2f})" for r in alive.itertuples()) or "no cell")
                   + "; it vanishes (< " + f"{VANISHING}) in "
                   + (", ".join(f"{r.cell} ({r.factor_end:.2f})" for r in dying.itertuples()) or "no cell")
                   + ". Solved by a majority of seeds: " + (", ".join(solved) or "none") + ".")
        # Where keeping the gradient and learning part ways, say so: the textbook ties the two together.
        kept_failed = [c for c in alive.cell if c not in solved]
        faded_solved = [c for c in solved if c not in set(alive.cell)]
        if kept_failed or faded_solved:
            out.append(f"{task}: keeping the gradient alive and learning part ways here"
                       + (f"; {', '.join(kept_failed)} keep it and do not solve the task" if kept_failed else "")
                       + (f"; {', '.join(faded_solved)} solve it with a per-step factor below {ALIVE}"
                          if faded_solved else "")
                       + ": the per-step factor alone does not tell which cells learn this task.")
        for r in t.itertuples():
            claim = r.claim
            if not claim:  # the cell declares no claim on the gradient through time
                continue
            held = r.factor_end >= ALIVE
            out.append(f"{task}, {r.cell}: the paper claims {claim}; measured per-step factor {r.factor_init:.2f} at "
                       f"initialisation, {r.factor_end:.2f} after training, top exponent {r.lyapunov_top:.3f}: "
                       + ("consistent with the claim here." if held else "the gradient fades faster here than "
                          "the claim suggests (at this budget and length)."))
    return out


def applies(grid) -> bool:
    """Whether ``grid``'s runs differ in cell, task and seed only: one row per task x cell is then exact.
    Not a user's model (``zoo.ProbeCallback``'s runs): its layers are no lineage of cells."""
    return ({key for key, _ in grid.sweep} <= {"task.name"} and len(grid.cells) > 1 and len(grid.modes) == 1
            and USER_MODEL not in grid.modes)


def section(grid, results, out: Path) -> str:
    """Write lineage.csv and lineage.md into ``out`` where ``applies(grid)``; their HTML ("" otherwise)."""
    frame = run_frame(results.runs) if applies(grid) else pd.DataFrame()
    if frame.empty:
        return ""
    table = cell_table(frame)
    out.mkdir(parents=True, exist_ok=True)
    table.drop(columns="claim").to_csv(out / "lineage.csv", index=False)  # the numbers; the claims are words
    (out / "lineage.md").write_text(markdown(table) + "\n" + NOTE + "\n")
    shown = pd.DataFrame([{
        "task": r.task, "cell": r.cell, "test metric": f"{r.metric.removeprefix('test_')} {_fmt(r.value)}",
        "over baseline": _fmt(r.ratio), "solved": r.solved, "factor at init": _fmt(r.factor_init),
        "factor at end": _fmt(r.factor_end), "σ range at end": f"{_fmt(r.sigma_min)} – {_fmt(r.sigma_max)}",
        "top exponent at end": _fmt(r.lyapunov_top, ".3f")} for r in table.itertuples()])
    return ("<h3>Per cell, per task: outcome and gradient through time</h3>"
            + html.findings_list(findings(table)) + html.frame_table(shown, NOTE))
