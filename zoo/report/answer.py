"""The report's first lines: the post's question answered in words, computed from the numbers.

The post asks one thing: do plain RNNs lose long-term dependencies to vanishing
gradients, and do gates fix it? The answer says, in at most ``MAX_LINES``
lines: what this grid can and cannot say about that; which cell keeps the
gradient alive through time, and by how much (the per-step factor of
‖dh_T/dh_t‖ in the summary); and where to look next.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.config import USER_MODEL
from zoo.core.loading import CONFIG_DIR
from zoo.report import memory
from zoo.report.table_text import factor_text

MAX_LINES = 5
CLAIM = "plain RNNs lose long-term dependencies to vanishing gradients, and gates fix it"
KEPT = 0.01  # "alive": the share of ‖dh_T/dh_t‖ a step-back factor keeps, and for how many steps
# The experiments that can test the claim, with what they run, where they are shipped.
NEXT = {
    "memory": "the adding problem and sine_gap at lengths 25 to 100",
    "horizon": "the longest adding and sine_gap length each cell learns, found by a search",
}


def _gated(summary: pd.DataFrame) -> set[str]:
    """The cells with a gate that carries the state (a carry share was measured)."""
    if "carry" not in summary:
        return set()
    return set(summary.loc[pd.to_numeric(summary.carry, errors="coerce").notna(), "cell"])


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def step_factors(summary: pd.DataFrame) -> tuple[pd.Series, str]:
    """Per cell, the per-step factor of ‖dh_T/dh_t‖ (mean over its rows), at the
    longest sequence the grid has (its longest window or length) and in many_to_one
    where it ran; and a few words on where that was measured."""
    s = summary[summary.ok > 0] if "ok" in summary else summary
    if "decay_factor" not in s:
        return pd.Series(dtype=float), ""
    s = s[pd.to_numeric(s.decay_factor, errors="coerce").notna()]
    where = []
    if "mode" in s and "many_to_one" in set(s["mode"]):
        s = s[s["mode"] == "many_to_one"]
        where.append("many_to_one")
    for column in ("length", "window"):
        if column in s and s[column].notna().any() and s[column].nunique() > 1:
            longest = s[column].max()
            s = s[s[column] == longest]
            where.append(f"{column} {longest:g}")
    factors = s.groupby("cell", sort=False).decay_factor.mean().sort_values(ascending=False)
    return factors, ", ".join([*where, "over lags 1-5"])


def _steps_kept(f: float) -> str:
    """For how many steps back a per-step factor keeps 1% of the gradient."""
    if not np.isfinite(f) or f <= 0:
        return "no step"
    if f >= 1:
        return "every step (it does not shrink)"
    return f"about {math.log(KEPT) / math.log(f):.0f} steps"


def gradient_line(summary: pd.DataFrame) -> str:
    """Which cell keeps the gradient alive through time, and by how much."""
    factors, where = step_factors(summary)
    if len(factors) < 2:
        return ""
    best, worst = factors.index[0], factors.index[-1]
    gated, cells = _gated(summary), list(factors.index)
    text = (f"Through time ({where or 'the probed runs'}, last probe, mean over seeds), each step back multiplies "
            f"‖dh_T/dh_t‖ by {factor_text(factors.iloc[0])} in {best}, the cell that keeps it alive longest, and by "
            f"{factor_text(factors.iloc[-1])} in {worst}: extrapolated at those rates (not measured past the "
            f"probed lags), 1% of it would be left after "
            f"{_steps_kept(factors.iloc[0])} in {best} and {_steps_kept(factors.iloc[-1])} in {worst}.")
    plain = [c for c in cells if c not in gated]
    if gated and plain:
        g = [factors[c] for c in cells if c in gated]
        p = [factors[c] for c in plain]
        if min(g) > max(p):
            text += (f" Every gated cell ({_and(sorted(gated & set(cells)))}) keeps more of it per step than "
                     "every plain one.")
        elif min(p) > max(g):
            text += (f" Here the plain {_and(plain)} keep{'s' if len(plain) == 1 else ''} more of it per step than "
                     f"every gated cell: by this measure the gates do not keep the gradient alive longer.")
        else:
            text += " Gates alone do not order them: plain and gated cells interleave."
    return text


def _ties(summary: pd.DataFrame) -> str:
    """Whether the cells differ in test error on this grid, beyond the seed-to-seed spread."""
    s = summary[summary.ok > 0]
    metric = "test_mae" if "test_mae" in s else None
    if metric is None or s.empty:
        return "no run finished"
    lo, hi = s[metric].min(), s[metric].max()
    one_seed = s[f"{metric}_ci95"].isna().all()
    if one_seed:
        return (f"with one seed no interval tells a tie from a lead (test MAE {lo:.3g} to {hi:.3g} over every cell "
                "and mode)")
    groups = [c for _, c in s.groupby("mode", sort=False) if len(c) > 1]
    tied = 0
    for g in groups:
        best = g.loc[g[metric].idxmin()]
        others = g.drop(index=best.name)
        tied += all(o[metric] - o[f"{metric}_ci95"] <= best[metric] + best[f"{metric}_ci95"]
                    for _, o in others.iterrows())
    if groups and tied == len(groups):
        return f"every cell ties in all {len(groups)} modes (each within the best's 95% interval over seeds)"
    return (f"every cell ties in {tied} of {len(groups)} modes; where one leads, it leads on a task that needs "
            "no long memory")


def _window(grid) -> int | None:
    windows = {getattr(v.task, "window", None) for v in grid.variants()}
    windows.discard(None)
    return max(windows) if windows else None


def _memory_verdict(frame: pd.DataFrame) -> str:
    """Longest length each cell solves, per task, and whether the gated cells reach further."""
    parts, further, shorter, tasks = [], 0, 0, 0
    gated_cells = memory.gated_cells(frame)  # measured: their runs recorded a carry gate
    for task, f in frame.groupby("task", sort=False):
        best = memory.longest_solved(memory.outcome_table(f))
        order = sorted(best, key=lambda c: -(best[c][0] or 0))
        parts.append(f"{task}: " + ", ".join(f"{c} {best[c][0] or 'none'}" for c in order))
        gated = [best[c][0] or 0 for c in best if c in gated_cells]
        plain = [best[c][0] or 0 for c in best if c not in gated_cells]
        if gated and plain:
            tasks += 1
            further += max(gated) > max(plain)
            shorter += max(gated) < max(plain)
    text = "Longest length a majority of seeds solve: " + "; ".join(parts) + "."
    if tasks:
        verdict = (", as the post says." if further == tasks else
                   ": here the post's claim does not hold everywhere." if shorter else
                   f": {'in the others' if further else 'in every task'} they reach as far, so this budget "
                   "and these lengths do not separate them.")
        text += (f" The better gated cell ({' or '.join(gated_cells)}) reaches further than every plain cell in "
                 f"{further} of {tasks} tasks, less far in {shorter}" + verdict)
    return text


def _next(shown: set[str], this: str, quick: bool = False) -> str:
    """Where to look next: the experiments that can test the claim, shipped or in this
    report, other than ``this`` grid."""
    parts = []
    if this in NEXT and quick:  # this grid is one of them, in its quick form: the full one is next
        parts.append(f"the full {this} grid: make compare CONFIG={this}")
    for name, what in NEXT.items():
        if name == this:
            continue
        if name in shown:
            parts.append(f"the {name} experiment ({what}) is below")
        elif (CONFIG_DIR / f"{name}.toml").is_file():
            parts.append(f"the {name} experiment ({what}): make compare CONFIG={name} "
                         f"(QUICK=1 for a smoke run)")
    return ("Where to look next: " + "; ".join(parts) + ".") if parts else ""


def answer(summary: pd.DataFrame, grid, runs, shown: set[str] = frozenset(),
           experiment_frame: pd.DataFrame | None = None) -> list[str]:
    """The page's first lines (at most ``MAX_LINES``), for the grid at the top of the report.

    ``runs`` are that grid's stored runs; ``shown`` names the experiments the
    report also holds; ``experiment_frame`` is the memory frame of an experiment
    shown below, whose verdict is given when the top grid cannot answer.
    """
    frame = memory.memory_frame(runs)
    lines = []
    if USER_MODEL in grid.modes and not summary.empty:  # a user's model (zoo.ProbeCallback): no claim to test
        lines.append(f"These are the runs zoo.ProbeCallback wrote for a model of your own ({grid.name}), a row per "
                     "recurrent layer: they show how its gradient fares through time, not the post's claim.")
    elif not frame.empty:
        lengths = ", ".join(map(str, sorted(frame.length.unique())))
        names = list(dict.fromkeys(frame.task))
        tasks = _and(names) + (" needs" if len(names) == 1 else " need")
        lines.append(f"Can this grid test the post's claim, that {CLAIM}? Yes: {tasks} a memory of "
                     f"{lengths} steps, and no cell can score below the memoryless baseline without it.")
        lines.append(_memory_verdict(frame))
    elif not summary.empty:
        window = _window(grid)
        span = f"its window of {window} steps" if window else "one step"
        lines.append(f"Can this grid test the post's claim, that {CLAIM}? No: the sine task's next values follow "
                     f"from the last few, so no dependency is longer than {span}, and {_ties(summary)}.")
        if experiment_frame is not None and not experiment_frame.empty:
            lines.append("The memory experiment below can. " + _memory_verdict(experiment_frame))
    else:
        return ["No finished runs yet."]
    lines.append(gradient_line(summary))
    lines.append(_next({name.removesuffix("-quick") for name in shown}, grid.name.removesuffix("-quick"),
                       quick=grid.name.endswith("-quick")))
    return [line for line in lines if line][:MAX_LINES]
