"""The memory-horizon section's numbers and findings: how far back each cell learns, found by a
search over lengths.

One part per task of a searching grid (a config with a ``[search]`` table).
The search itself (``zoo.core.horizon.search``) is run again here on the
stored outcomes, line by line (cell x task x learning rate), so the report's
horizon is by construction the one the runner's search reached. Everything
else comes from the runs' ``metrics.json`` through the memory section's frame
(``zoo.report.memory.memory_frame``): a run's ratio to the memoryless
baseline, whether it solved, and ‖dh_T/dh_1‖ at initialisation and at the end.

Per task: a table of cell x horizon with k of n seeds and a Wilson interval at
every length tried, the horizon at each learning rate, the best one and how
wide the window of learning rates is that reaches it; the Spearman rank
correlation across cells of the per-step gradient factor (at initialisation
and after training) with the horizon; and sentences computed from those
numbers. This module holds those numbers and sentences; ``horizon_plots``
draws the solve rate against length and the gradient factor against the
horizon, and ``horizon_section`` writes the section (with the memory
section's gradient against length).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.analysis import mean_ci95
from zoo.core.horizon import SearchSpec, search
from zoo.core.stats import fisher_exact, min_fisher_p, spearman, wilson_interval
from zoo.report import memory
from zoo.report.memory_findings import and_list


def horizon_frame(runs) -> pd.DataFrame:
    """The memory frame of a searching grid's runs, with each run's learning rate."""
    frame = memory.memory_frame(runs)
    if frame.empty:
        return frame
    lr = {r.path.name: r.config.train.learning_rate for r in runs}
    budget = {r.path.name: r.config.train.steps or int(r.metrics.get("steps", 0)) for r in runs}
    early = {r.path.name: bool(r.metrics.get("stopped_solved")) for r in runs}
    frame["lr"] = frame.run_id.map(lr)
    frame["budget"] = frame.run_id.map(budget)  # a run that stopped once solved took fewer steps than its budget
    frame["stopped"] = frame.run_id.map(early)
    frame["factor_init"] = _per_step(frame.dh_init, frame.sequence_steps)
    frame["factor_end"] = _per_step(frame.dh_end, frame.sequence_steps)
    return frame


def _per_step(norms: pd.Series, steps: pd.Series) -> pd.Series:
    """‖dh_T/dh_1‖ as a factor per step: its (T-1)-th root (T - 1 steps lie between h_1 and h_T)."""
    n = pd.to_numeric(norms, errors="coerce").astype(float)
    t = pd.to_numeric(steps, errors="coerce").astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pd.Series(np.exp(np.log(n.where(n > 0)) / (t - 1).where(t > 1)), index=norms.index)


def lines_table(frame: pd.DataFrame, spec: SearchSpec, seeds: int) -> pd.DataFrame:
    """A row per line (task x cell x learning rate): the search's horizon, first failure above it,
    whether it is done, and the lengths it tried."""
    rows = []
    for (task, cell, lr), g in frame.groupby(["task", "cell", "lr"], sort=False):
        outcomes = {int(n): list(s.sort_values("seed").solved) for n, s in g.groupby("length")}
        step = search(spec, seeds, outcomes)
        rows.append({"task": task, "cell": cell, "lr": lr, "horizon": step.horizon,
                     "failed_above": step.failed_above, "done": step.done, "tried": tuple(sorted(step.tried))})
    return pd.DataFrame(rows)


def _reach(h) -> float:
    """A horizon as a number to rank and compare: none is 0, below every length."""
    return 0.0 if h is None or (isinstance(h, float) and math.isnan(h)) else float(h)


def best_lr(lines: pd.DataFrame) -> pd.DataFrame:
    """Per task x cell: the best horizon over learning rates, the smallest learning rate that reaches
    it, and the window of learning rates that reach it (how many of how many)."""
    rows = []
    for (task, cell), g in lines.groupby(["task", "cell"], sort=False):
        g = g.sort_values("lr")
        reach = g.horizon.map(_reach)
        top = reach.max()
        hits = g[reach == top].lr.tolist()
        rows.append({"task": task, "cell": cell, "horizon": None if top == 0 else int(top), "best_lr": hits[0],
                     "window": hits, "lrs": g.lr.tolist(),
                     "by_lr": {lr: (None if _reach(h) == 0 else int(h)) for lr, h in zip(g.lr, g.horizon)}})
    out = pd.DataFrame(rows)
    if len(out):  # None stays None (not NaN): "none" in the tables
        out["horizon"] = pd.Series([r["horizon"] for r in rows], dtype=object)
    return out


def lr_text(v: float) -> str:
    return f"{v:.0e}".replace("e-0", "e-")


def _window_text(row) -> str:
    """The learning rates that reach the best horizon: a range and k of n."""
    hits, lrs = row.window, row.lrs
    if len(lrs) == 1:
        return f"{lr_text(lrs[0])} (the only one run)"
    span = lr_text(hits[0]) if len(hits) == 1 else f"{lr_text(hits[0])} to {lr_text(hits[-1])}"
    contiguous = [lr for lr in lrs if hits[0] <= lr <= hits[-1]] == hits
    return f"{span} ({len(hits)} of {len(lrs)}{'' if contiguous else ', not contiguous'})"


def length_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Per task x cell x learning rate x length: seeds solved (k of n), the Wilson interval, and the
    ratio's geometric mean with its 95% t-interval over seeds (on log10 of the ratio)."""
    rows = []
    for (task, cell, lr, length), g in frame.groupby(["task", "cell", "lr", "length"]):
        k, n = int(g.solved.sum()), len(g)
        low, high = wilson_interval(k, n)
        mean, half = mean_ci95(np.log10(g.ratio.where(g.ratio > 0)))
        rows.append({"task": task, "cell": cell, "lr": lr, "length": int(length), "solved": k, "seeds": n,
                     "wilson_low": low, "wilson_high": high, "ratio": 10**mean,
                     "ratio_low": 10 ** (mean - half), "ratio_high": 10 ** (mean + half)})
    return pd.DataFrame(rows)


def display_table(cells: list[str], best: pd.DataFrame, at: pd.DataFrame) -> pd.DataFrame:
    """Cells as rows: the horizon (at the best learning rate), the horizon at each learning rate,
    the window, then a column per length tried: k/n [Wilson 95%], ratio [t-interval]."""
    lengths = sorted(at.length.unique())
    rows = []
    for cell in cells:
        b = best[best.cell == cell]
        if b.empty:
            continue
        b = b.iloc[0]
        row = {"cell": cell, "horizon": b.horizon if b.horizon else "none", "best lr": lr_text(b.best_lr)}
        if len(b.lrs) > 1:
            for lr in b.lrs:
                h = b.by_lr[lr]
                row[f"horizon at lr {lr_text(lr)}"] = h if h else "none"
            row["lr window"] = _window_text(b)
        mine = at[(at.cell == cell) & (at.lr == b.best_lr)].set_index("length")
        for length in lengths:
            if length not in mine.index:
                row[f"T={length}"] = "–"
                continue
            r = mine.loc[length]
            ratio = memory.fmt_ratio(r.ratio, r.ratio_low, r.ratio_high)
            row[f"T={length}"] = f"{r.solved}/{r.seeds} [{r.wilson_low:.0%}–{r.wilson_high:.0%}], {ratio}"
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------- findings


def gradient_summary(frame: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """Per cell at its best learning rate: the horizon, and the per-step gradient factor at
    initialisation and after training (geometric means over its runs at every length tried)."""
    rows = []
    for _, b in best.iterrows():
        g = frame[(frame.cell == b.cell) & (frame.lr == b.best_lr)]
        rows.append({"cell": b.cell, "reach": _reach(b.horizon), "factor_init": memory.log_mean(g.factor_init),
                     "factor_end": memory.log_mean(g.factor_end)})
    out = pd.DataFrame(rows)
    shortest = frame.length.min()
    out["floor"] = shortest / 2  # where "none" is drawn on a log axis
    return out


def correlation(summary: pd.DataFrame, column: str) -> tuple[float, float, int]:
    """Spearman's rho of ``column`` against the horizon across cells, its permutation p, and n."""
    keep = summary[np.isfinite(summary[column])]
    rho, p = spearman(keep[column], keep.reach)
    return rho, p, len(keep)


def _rho_text(rho: float, p: float, n: int) -> str:
    if not np.isfinite(rho):
        return f"undefined over {n} cells (one side is constant)"
    return f"ρ = {rho:+.2f} over {n} cells (permutation p = {p:.2g})"


def _rho_words(rho: float, p: float) -> str:
    if not np.isfinite(rho):
        return "cannot be ranked against the horizon (a side is constant, or fewer than 3 cells)"
    strength = "strongly" if abs(rho) >= 0.7 else "moderately" if abs(rho) >= 0.4 else "hardly"
    sign = "the larger it is, the longer the horizon" if rho > 0 else "the larger it is, the shorter the horizon"
    verdict = "distinguishable from chance at 0.05" if p < 0.05 else "not distinguishable from chance at 0.05"
    if strength == "hardly":
        return f"is hardly ordered with the horizon, {verdict}"
    return f"is {strength} ordered with the horizon ({sign}), {verdict}"


def _fisher_text(at: pd.DataFrame, best: pd.DataFrame, cells: list[str]) -> str:
    """Fisher's exact test between the cells' solve counts, at each length where two cells differ."""
    seeds = int(at.seeds.max())
    floor = min_fisher_p(seeds, seeds)
    found, claims = [], 0
    rows = at.merge(best[["cell", "best_lr"]], on="cell")
    rows = rows[rows.lr == rows.best_lr].set_index(["cell", "length"])
    for length in sorted(at.length.unique()):
        here = [c for c in cells if (c, length) in rows.index]
        for i, a in enumerate(here):
            for b in here[i + 1:]:
                ra, rb = rows.loc[(a, length)], rows.loc[(b, length)]
                if 2 * ra.solved > ra.seeds and 2 * rb.solved <= rb.seeds or \
                        2 * rb.solved > rb.seeds and 2 * ra.solved <= ra.seeds:
                    claims += 1
                    p = fisher_exact(int(ra.solved), int(ra.seeds), int(rb.solved), int(rb.seeds))
                    if p < 0.05:
                        found.append(f"{a} vs {b} at T = {length} (p = {p:.2g})")
    pairs = f"{claims} such pair{'s' if claims != 1 else ''}"
    if not claims:
        return "No two cells differ in majority at any length tried, so there is no difference to test."
    if found:
        return (f"Where a majority of one cell solves a length and of another fails it ({pairs}), "
                f"Fisher's exact test on the solve counts separates {'; '.join(found)} at p < 0.05; no other pair.")
    return (f"Where a majority of one cell solves a length and of another fails it ({pairs}), no "
            f"difference is significant: with {seeds} seeds per cell even {seeds} of {seeds} against 0 of {seeds} "
            f"gives Fisher's exact p = {floor:.2g}" + (" > 0.05, so the horizons rank the cells descriptively, "
                                                        "not as tested differences." if floor > 0.05 else "."))


def findings(task: str, frame: pd.DataFrame, lines: pd.DataFrame, best: pd.DataFrame, at: pd.DataFrame,
             summary: pd.DataFrame, spec: SearchSpec, gated: set[str] = frozenset()) -> list[str]:
    out = []
    steps, batch = int(frame.budget.max()), int(frame.batch.iloc[0])
    cells = list(best.cell)
    reach = {r.cell: (int(_reach(r.horizon)) or None) for _, r in best.iterrows()}
    order = sorted(cells, key=lambda c: -_reach(reach[c]))
    top = spec.ladder[-1]
    out.append(f"Memory horizon on {task} at {steps:,} optimizer steps of batch {batch} (lengths searched: ladder "
               f"{', '.join(map(str, spec.ladder))}, {spec.beyond} rung{'s' if spec.beyond != 1 else ''} "
               "past the first failure, "
               f"{spec.refine} bisection"
               f"{'s' if spec.refine != 1 else ''} after): "
               + "; ".join(f"{c} {reach[c] or 'none'}" for c in order) + ".")
    if frame.stopped.any():
        solved = frame[frame.solved]
        out.append(f"{int(frame.stopped.sum())} of {len(solved)} solved runs ended at the first evaluation that "
                   f"solved (train.stop = 'solved'), after {int(solved.steps.median()):,} steps (median).")
    solvers = [c for c in cells if reach[c]]
    failers = [c for c in cells if not reach[c]]
    if failers:
        out.append(f"{and_list(failers)} solve{'s' if len(failers) == 1 else ''} no length at this budget "
                   f"(not even T = {spec.ladder[0]})" + (f", while {and_list(solvers)} do." if solvers else
                                                          ": no cell does."))
    at_top = [c for c in cells if reach[c] == top]
    if at_top:
        out.append(f"{and_list(at_top)} solve{'s' if len(at_top) == 1 else ''} the top of the ladder (T = {top}): "
                   "its horizon is at least that, not measured beyond.")
    undone = lines[~lines.done]
    if len(undone):
        out.append(f"{len(undone)} of {len(lines)} searches are not finished (runs missing or failed): "
                   + ", ".join(f"{r.cell} lr {lr_text(r.lr)}" for _, r in undone.iterrows())
                   + "; their horizon is the one reached so far.")
    if best.lrs.map(len).max() > 1:
        parts = [f"{r.cell} best at {lr_text(r.best_lr)}, window {_window_text(r)}" for _, r in best.iterrows()]
        out.append("Learning-rate robustness (the learning rates reaching each cell's best horizon): "
                   + "; ".join(parts) + ".")
    else:
        out.append(f"One learning rate ({lr_text(best.lrs.iloc[0][0])}) was run here, so this grid says nothing about "
                   "how narrow each cell's learning-rate window is; the [full] form runs three.")
    out.append(_fisher_text(at, best, cells))
    (ri, pi, ni), (re, pe, ne) = correlation(summary, "factor_init"), correlation(summary, "factor_end")
    out.append(f"Gradient against horizon, across cells (Spearman, the horizon of a cell that solves nothing "
               f"ranked lowest): the per-step factor of ‖dh_T/dh_1‖ at initialisation gives {_rho_text(ri, pi, ni)}; "
               f"after training {_rho_text(re, pe, ne)}. In words: at initialisation the factor "
               f"{_rho_words(ri, pi)}; after training it {_rho_words(re, pe)}.")
    if np.isfinite(ri) and pi < 0.05 and ri < 0:
        out.append("Against the textbook reading (a gradient that vanishes through time limits memory): here the "
                   "cells whose ‖dh_T/dh_1‖ shrinks fastest per step at initialisation reach the longest lengths; "
                   "training, not the starting gradient, decided who learns.")
    gated_cells = [c for c in cells if c in gated]
    plain = [c for c in cells if c not in gated]
    if gated_cells and plain:
        g_best = max(_reach(reach[c]) for c in gated_cells)
        beat = [c for c in plain if _reach(reach[c]) > g_best]
        if beat:
            out.append(f"Against the textbook: {and_list(beat)} reach{'es' if len(beat) == 1 else ''} further "
                       f"than every gated cell ({and_list(gated_cells)}) on {task} at this budget.")
        elif g_best > max(_reach(reach[p]) for p in plain):
            top_gated = and_list([c for c in gated_cells if _reach(reach[c]) == g_best])
            out.append(f"As the textbook says, a gated cell ({top_gated}) "
                       f"reaches further than every plain one ({and_list(plain)}) on {task}"
                       + (f"; not every gated cell does ({and_list(lag)} stop{'s' if len(lag) == 1 else ''} "
                          f"at or below a plain cell)." if (lag := [c for c in gated_cells if _reach(reach[c]) <= max(
                              _reach(reach[p]) for p in plain)]) else "."))
    # Not reproduced only where the search failed below its top rung: a cell at the top is unmeasured beyond.
    for c in cells:  # a horizon the cell's paper reports (CellSpec.published), where the search fell short of it
        claim = memory.published(frame, c)
        if not claim or claim[0] != task or _reach(reach[c]) >= min(claim[1], spec.ladder[-1]):
            continue
        out.append(f"Not reproduced at this budget: {claim[2]}; here {c} reaches "
                   f"{reach[c] or 'no length'} with {steps:,} steps of batch {batch}.")
    return out
