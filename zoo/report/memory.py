"""The memory section's numbers: a row per run of a memory task, and the tables over seeds.

A memory task is every task but the post's ``sine``, whose runs have the main
section. Everything comes from the runs' ``metrics.json``, ``history.csv`` and
``gates.csv``: each run stores its task's memoryless baseline, solved
threshold and reason, its final test loss over that baseline (the ratio),
‖dh_T/dh_1‖ at initialisation and at its last probed epoch, and what its cell
declares (``CellSpec.declares``: what to try where it carries too little
memory). Whether a cell is gated is measured: its run recorded a ``carry``
gate. So the report needs no task or cell code and no Keras.

A cell *solves* a length when more than half of its seeds end below the
task's solved threshold; the tables say how many (k of n) at every length.
The plots are ``memory_plots``, the sentences ``memory_findings``, the
section that writes them ``memory_section``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from zoo.core.analysis import mean_ci95, probe_epochs
from zoo.core.config import USER_MODEL, task_name, task_spec
from zoo.core.stats import wilson_interval


def in_memory_section(task: str) -> bool:
    """Whether a task declares the memory section (``TaskSpec.section``); a task not registered here
    (a plugin not installed) is shown as before its tasks declared it."""
    spec = task_spec(task)
    return spec is None or spec.section == "memory"


# A user's own model (zoo.ProbeCallback's runs) is no memory task either: its data has no length to solve.

def memory_frame(runs) -> pd.DataFrame:
    """A row per finished run of a memory task: its outcome and its gradient through time."""
    rows = []
    for r in runs:
        m = r.metrics
        if m.get("status") == "failed" or m.get("task") in (None, USER_MODEL) or not in_memory_section(m["task"]):
            continue
        rows.append({
            "task": m["task"], "cell": r.config.cell, "mode": r.config.mode, "length": int(m["length"]),
            "seed": r.config.seed, "status": m["status"], "ratio": m["ratio"] if m["status"] == "ok" else math.nan,
            "solved": bool(m["solved"]), "solved_below": m["solved_below"], "solved_reason": m["solved_reason"],
            "baseline": m["baseline"], "metric": m["metric"], "dh_init": m["dhT_dh1_init"], "dh_end": m["dhT_dh1"],
            "steps": int(m["steps"]), "batch": r.config.train.batch_size,
            "probes": r.config.train.probes, "probe_batch": r.config.train.probe_batch, "seconds": m["seconds"],
            "probe_seconds": m.get("probe_seconds", math.nan), "sequence_steps": m.get("sequence_steps"),
            "recall_accuracy": m.get("recall_accuracy", math.nan), "run_id": r.path.name,
            "gated": _carries(r), "remedy": m.get("cell_declares", {}).get("remedy", ""),
            "published": tuple(m.get("cell_declares", {}).get("published", ())),
        })
    return pd.DataFrame(rows)

def _carries(run) -> bool:
    """Whether the run measured a gate that carries its state (the textbook's answer to vanishing gradients)."""
    gates = run.gates
    return bool(len(gates) and "gate" in gates and (gates.gate == "carry").any())


def cell_order(frame: pd.DataFrame) -> list[str]:
    """The cells in the order of their runs: the grid's, as its config lists them (the registry's for "all")."""
    return list(dict.fromkeys(frame.cell))


def gated_cells(frame: pd.DataFrame) -> list[str]:
    """The cells whose runs measured a carry gate, in ``cell_order``."""
    return [c for c in cell_order(frame) if frame[frame.cell == c].gated.any()]


def published(frame: pd.DataFrame, cell: str) -> tuple:
    """The horizon the cell's paper reports, as it declares it: (task, length, who reported what), or ()."""
    found = [p for p in frame[frame.cell == cell].published if p]
    return found[0] if found else ()


def remedy(frame: pd.DataFrame, cell: str) -> str:
    """What the cell declares to try first where it carries too little memory ("" if nothing)."""
    found = [r for r in frame[frame.cell == cell].remedy if r]
    return found[0] if found else ""


def log_mean(values) -> float:
    """Geometric mean: the ratios span orders of magnitude."""
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], float)
    return float(np.exp(np.mean(np.log(v)))) if len(v) else math.nan


def outcome_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A row per cell x length: seeds solved (k of n), and the ratio's geometric mean with
    its 95% t-interval over seeds, computed on log10 of the ratio (ratios span orders of
    magnitude, and one exploded seed would make an arithmetic interval meaningless)."""
    rows = []
    for (cell, length), g in frame.groupby(["cell", "length"]):
        logs = np.log10(g.ratio.where(g.ratio > 0))
        mean, half = mean_ci95(logs)
        rows.append({"cell": cell, "length": length, "solved": int(g.solved.sum()), "seeds": len(g),
                     "ratio": 10**mean, "ratio_low": 10 ** (mean - half), "ratio_high": 10 ** (mean + half),
                     "diverged": int((g.status == "diverged").sum())})
    return pd.DataFrame(rows)


def longest_solved(outcomes: pd.DataFrame) -> dict[str, tuple[int | None, int, int]]:
    """Per cell: the longest length a majority of its seeds solve, with k and n there
    (None, and the shortest length's k of n, when it solves none)."""
    out = {}
    for cell, g in outcomes.groupby("cell"):
        g = g.sort_values("length")
        won = g[2 * g.solved > g.seeds]
        row = won.iloc[-1] if len(won) else g.iloc[0]
        out[cell] = (int(row.length) if len(won) else None, int(row.solved), int(row.seeds))
    return out


def k_of_n(k: int, n: int) -> str:
    """"2 of 3 seeds, 95% Wilson interval 21–94%": a solve count with its interval."""
    low, high = wilson_interval(k, n)
    return f"{k} of {n} seed{'s' * (n != 1)}, 95% Wilson interval {low:.0%}–{high:.0%}"


def fmt_ratio(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.3g}" + ("" if not np.isfinite(low) else f" [{low:.3g}, {high:.3g}]")


def display_outcomes(outcomes: pd.DataFrame, cells: list[str]) -> pd.DataFrame:
    """Cells as rows, a column per length: ratio mean ± half-width (k/n solved); then the longest solved."""
    best = longest_solved(outcomes)
    rows = []
    for cell in cells:
        g = outcomes[outcomes.cell == cell].set_index("length")
        row = {"cell": cell}
        for length, r in g.sort_index().iterrows():
            row[f"length {length}"] = f"{fmt_ratio(r.ratio, r.ratio_low, r.ratio_high)} ({r.solved}/{r.seeds})"
        length, k, n = best[cell]
        row["longest solved"] = (f"{length} ({k_of_n(k, n)})" if length
                                 else f"none (shortest: {k_of_n(k, n)})")
        rows.append(row)
    return pd.DataFrame(rows)


def headline_markdown(frames: dict[str, pd.DataFrame]) -> str:
    """Longest length solved per cell (rows) and task (columns), k of n seeds: the README's table."""
    tasks = list(frames)
    cells = list(dict.fromkeys(c for f in frames.values() for c in cell_order(f)))
    best = {t: longest_solved(outcome_table(f)) for t, f in frames.items()}
    lines = ["| cell | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for cell in cells:
        cells_row = []
        for t in tasks:
            if cell not in best[t]:
                cells_row.append("–")
                continue
            length, k, n = best[t][cell]
            cells_row.append(f"{length} ({k}/{n})" if length else f"none ({k}/{n} at shortest)")
        lines.append(f"| {cell} | " + " | ".join(cells_row) + " |")
    return "\n".join(lines) + "\n"


def learning_curves(runs, frame: pd.DataFrame, length: int) -> pd.DataFrame:
    """test_ratio against cumulative optimizer steps, for the runs of ``frame`` at ``length``."""
    ids = set(frame[frame.length == length].run_id)
    parts = []
    for r in runs:
        if r.path.name in ids and not r.history.empty:
            h = r.history
            parts.append(pd.DataFrame({"run_id": r.path.name, "cell": r.config.cell,
                                       "step": h.steps.cumsum(), "test_ratio": h.test_ratio}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def budget_text(train) -> str:
    """How long a run trains, as its config states it."""
    if train.steps is not None:
        return f"{train.steps:,} optimizer steps (a test evaluation every {train.eval_every})"
    return f"{train.epochs} epochs"


def probes_text(train) -> str:
    """When the probes measure, as the runs do it (``probe_epochs``: the first and the last epoch
    always, and epoch 0, the initial weights); in optimizer steps for a run budgeted in steps, whose
    epoch is ``eval_every`` steps."""
    if train.steps is not None:
        epochs = -(-train.steps // train.eval_every)
        at = [min(e * train.eval_every, train.steps) for e in probe_epochs(epochs, train.probes)]
        return "at initialisation and after steps " + ", ".join(f"{s:,}" for s in at)
    return "at initialisation and after epochs " + ", ".join(map(str, probe_epochs(train.epochs, train.probes)))


def settings_rows(grid) -> list[tuple[str, str]]:
    """The settings table of a grid whose task is not the post's sine."""
    tr = grid.train
    tasks = grid.tasks or (grid.task,)
    rows = [("cells x modes x seeds", f"{', '.join(grid.cells)} x {', '.join(grid.modes)} x {grid.seeds}")]
    # A task setting the sweep sets (task.length) is said to be swept, not shown at the value it
    # would have without the sweep: no run trained at that one.
    swept = {key.split(".", 1)[1] for key, _ in grid.sweep if key.startswith("task.")}
    for t in tasks:
        settings = ", ".join(f"{k} {'swept (below)' if k in swept else v}" for k, v in dataclasses.asdict(t).items())
        rows.append((f"task {task_name(t)}", settings))
    if grid.sweep:
        rows.append(("sweep", "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in grid.sweep)))
    if USER_MODEL in grid.modes:  # a user's model, trained by its own fit: what the callback knows of it
        return rows + [
            ("model", "a Keras model of your own: a row per recurrent layer, each with its own units"),
            ("training", f"model.fit: {tr.optimizer} lr {tr.learning_rate:g}, {tr.epochs} epochs, {tr.loss} loss, "
                         f"clipnorm {tr.clipnorm}, global_clipnorm {tr.global_clipnorm}"),
            ("probes", f"{probes_text(tr)}, on {tr.probe_batch} sequences of the callback's x"),
        ]
    rows += [
        ("model", f"{grid.units} units, a Dense head the task chooses"),
        ("training", f"{tr.optimizer} lr {tr.learning_rate:g}, batch {tr.batch_size}, {budget_text(tr)}, "
                     f"{tr.loss or 'the task’s own'} loss, clipnorm {tr.clipnorm}, "
                     f"global_clipnorm {tr.global_clipnorm}"),
        ("probes", f"{probes_text(tr)}, on {tr.probe_batch} training sequences"),
    ]
    return rows


def markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
