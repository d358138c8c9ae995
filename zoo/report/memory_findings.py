"""The memory section's sentences, computed from the numbers: who solves which length, the
gradient against the outcome, and where the data contradicts the textbook (gated cells, as
measured, carry memory further than plain ones) with what each cell declares to try next."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.stats import fisher_exact, min_fisher_p, spearman
from zoo.report.memory import cell_order, gated_cells, k_of_n, log_mean, longest_solved, outcome_table, remedy


def _auc(frame: pd.DataFrame, column: str) -> tuple[float, int]:
    """Over pairs of a solved and a failed run of the same cell at the same length, the
    share where the solved run has the larger ``column`` (ties count half), and the
    number of pairs.

    Within a cell: ‖dh_T/dh_1‖ at initialisation is close to a per-cell constant, so
    pairs across cells would compare cell types, not gradients. Within a length:
    across lengths the gradient shrinks and the task gets harder at once.
    """
    wins, pairs = 0.0, 0
    for _, g in frame.groupby(["cell", "length"]):
        v = np.log(g[column].clip(lower=1e-300).to_numpy(float))
        s = g.solved.to_numpy(bool)
        a, b = v[s], v[~s]
        wins += (a[:, None] > b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum()
        pairs += len(a) * len(b)
    return (float(wins / pairs) if pairs else math.nan), pairs


MIN_PAIRS = 10  # fewer solved-failed pairs within cells than this: too few for a statement


def _gradient_within_cells(frame: pd.DataFrame) -> str:
    """Gradient against outcome within each cell and length, pooled over cells."""
    (auc_init, pairs), (auc_end, _) = _auc(frame, "dh_init"), _auc(frame, "dh_end")
    per_cell = [f"{c} {n}" for c in cell_order(frame) if (n := _auc(frame[frame.cell == c], "dh_init")[1])]
    if not pairs:
        return ("Gradient against outcome within a cell: no cell has both a solved and a failed run at one "
                "length, so the data cannot say whether ‖dh_T/dh_1‖ tells them apart.")
    text = (f"Gradient against outcome, within a cell: over the {pairs} pairs of a solved and a failed run of "
            f"the same cell at the same length ({', '.join(per_cell)}), the solved run has the larger "
            f"‖dh_T/dh_1‖ in {auc_init:.0%} of them at initialisation and in {auc_end:.0%} after training "
            "(50% = no relation, 100% = it separates them).")
    if pairs < MIN_PAIRS:
        return text + f" That is fewer than {MIN_PAIRS} pairs: too few to tell either share from 50%."
    if auc_end > auc_init + 0.05:
        return text + (" After training it tracks success better than at initialisation: where a run "
                       "succeeded, training opened the path back to the first step.")
    return text


def _gradient_across_cells(frame: pd.DataFrame) -> str:
    """Across cells only as a rank statement: per length, do the cells with the larger
    gradient at initialisation solve more often?"""
    parts = []
    for length, g in frame.groupby("length"):
        per_cell = g.groupby("cell").agg(dh=("dh_init", log_mean), solved=("solved", "mean"))
        if len(per_cell) < 3 or per_cell.solved.nunique() < 2:
            continue
        rho, p = spearman(np.log(per_cell.dh.clip(lower=1e-300)), per_cell.solved)
        if np.isfinite(rho):
            parts.append(f"length {length}: ρ = {rho:+.2f} (permutation p = {p:.2g})")
    if not parts:
        return ""
    return ("Across cells, as a rank statement only (the cells differ in more than their gradient): Spearman "
            f"correlation over the {frame.cell.nunique()} cells between ‖dh_T/dh_1‖ at initialisation (geometric "
            "mean over seeds) and the share of seeds solved, " + "; ".join(parts) + ".")


def _separable(outcomes: pd.DataFrame, lengths: list[int]) -> str:
    """Whether the seeds can separate any two cells' solve counts (Fisher's exact test, 0.05)."""
    most = int(outcomes.seeds.max())
    best_p = min_fisher_p(most, most)
    if best_p > 0.05:
        return (f"With {most} seed{'s' * (most != 1)} per cell{' at most' if outcomes.seeds.nunique() > 1 else ''} "
                "the seeds "
                "cannot separate any two cells: even all solved against none gives Fisher's exact p = "
                f"{best_p:.2g} > 0.05, so every ranking here is descriptive.")
    found = []
    for length in lengths:
        at = outcomes[outcomes.length == length].set_index("cell")
        cells = list(at.index)
        for i, a in enumerate(cells):
            for b in cells[i + 1:]:
                p = fisher_exact(int(at.loc[a].solved), int(at.loc[a].seeds), int(at.loc[b].solved),
                                 int(at.loc[b].seeds))
                if p < 0.05:
                    found.append(f"{a} and {b} at length {length} (p = {p:.2g})")
    if not found:
        return ("The seeds separate no two cells at any length (Fisher's exact test on solve counts, p < 0.05): "
                "every ranking here is descriptive.")
    return ("The seeds separate " + "; ".join(found) + " (Fisher's exact test on solve counts, p < 0.05); "
            "no other two cells.")


def _split(at: pd.DataFrame, cells: list[str], length: int) -> str:
    """", not every seed: x 2 of 3" for the cells whose seeds did not all agree at ``length``."""
    split = [f"{c} {int(at.loc[(c, length)].solved)} of {int(at.loc[(c, length)].seeds)}" for c in cells
             if 0 < at.loc[(c, length)].solved < at.loc[(c, length)].seeds]
    return f" (by a majority of seeds; not all: {', '.join(split)})" if split else ""


def and_list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _s(names: list[str]) -> str:
    """The verb ending for one name or several."""
    return "s" if len(names) == 1 else ""


def _lengths_text(best: dict, cells: list[str]) -> str:
    parts = []
    for cell in cells:
        length, k, n = best[cell]
        parts.append(f"{cell} up to length {length} ({k_of_n(k, n)})" if length
                     else f"{cell} at no length ({k} of {n} seed{'s' * (n != 1)} at the shortest)")
    return "; ".join(parts)


def findings(frame: pd.DataFrame, curves: pd.DataFrame, task: str) -> list[str]:
    """Sentences computed from the numbers: who solves what, gradient against outcome, the textbook."""
    out = []
    outcomes = outcome_table(frame)
    cells, lengths = cell_order(frame), sorted(frame.length.unique())
    best = longest_solved(outcomes)
    steps, batch = int(frame.steps.max()), int(frame.batch.iloc[0])
    out.append(f"At this budget ({steps:,} optimizer steps of batch {batch} per run, length{'s' * (len(lengths) > 1)} "
               f"{', '.join(map(str, lengths))}), a majority of seeds solve {task}: "
               + _lengths_text(best, cells) + ".")
    shortest, longest = lengths[0], lengths[-1]
    at = outcomes.set_index(["cell", "length"])
    fail_short = [c for c in cells if 2 * at.loc[(c, shortest)].solved <= at.loc[(c, shortest)].seeds]
    fail_long = [c for c in cells if 2 * at.loc[(c, longest)].solved <= at.loc[(c, longest)].seeds]
    solving_short = [c for c in cells if c not in fail_short]
    solving_long = [c for c in cells if c not in fail_long]
    if shortest == longest:  # one length: said once, not as both ends of a range
        sentence = f"At length {shortest} " + (
            "every cell solves the task." if not fail_short else
            f"{and_list(fail_short)} fail{_s(fail_short)}"
            + (f" while {and_list(solving_short)} solve{_s(solving_short)} it." if solving_short else "."))
    else:
        sentence = (
            (f"Every cell solves the shortest length ({shortest})" + _split(at, cells, shortest) if not fail_short
             else f"At the shortest length ({shortest}) {and_list(fail_short)} already fail{_s(fail_short)}")
            + (f"; at the longest ({longest}) {and_list(fail_long)} fail{_s(fail_long)}"
               + (f" while {and_list(solving_long)} still solve{_s(solving_long)} it."
                  if solving_long else ": no cell solves it.")
               if fail_long else f"; every cell also solves the longest ({longest}): this budget does not "
                                 "discriminate there."))
    out.append(sentence)
    for cell in cells:
        g = outcomes[outcomes.cell == cell].sort_values("length")
        won = (2 * g.solved > g.seeds).to_numpy()
        if best[cell][0] is not None and not won[: list(g.length).index(best[cell][0]) + 1].all():
            out.append(f"{cell} is not monotonic in length: it fails a shorter length than the longest it "
                       "solves, so seed noise is of the size of the effect there.")

    out.append(_separable(outcomes, lengths))
    out.append(_gradient_within_cells(frame))
    across = _gradient_across_cells(frame)
    if across:
        out.append(across)
    at_long = frame[frame.length == longest]
    moves = []
    for cell in cells:
        g = at_long[at_long.cell == cell]
        a, b = log_mean(g.dh_init), log_mean(g.dh_end)
        if np.isfinite(a) and np.isfinite(b):
            moves.append(f"{cell} {a:.2g} → {b:.2g}")
        elif np.isfinite(b):
            moves.append(f"{cell} below 1e-300 → {b:.2g}")
    if moves:
        out.append(f"‖dh_T/dh_1‖ at length {longest}, initialisation → end (geometric mean over seeds): "
                   + "; ".join(moves) + ".")

    out += _textbook(best, cells, curves, frame, longest)
    probed = frame[frame.length == longest]
    shares = probed.probe_seconds / probed.seconds
    share = shares.mean()
    if np.isfinite(share):
        out.append(f"The gradient probes (on {probed.probe_batch.iloc[0]} sequences, compile included) took "
                   f"{share:.1%} of a run's time "
                   f"at length {longest} (mean over its runs; at most {shares.max():.1%}).")
    if frame.recall_accuracy.notna().any():
        acc = frame.groupby(["cell", "length"]).recall_accuracy.mean().unstack()
        out.append("Recall accuracy on the 10 copied symbols (mean over seeds; 1/8 = chance): "
                   + "; ".join(f"{cell} " + ", ".join(f"length {t}: {acc.loc[cell, t]:.2f}" for t in acc.columns)
                               for cell in cells if cell in acc.index) + ".")
    return out


def _still_falling(curves: pd.DataFrame, cell: str) -> tuple[int, int] | None:
    """How many of a cell's seeds had a learning curve still going down at the end of
    the budget (its last quarter ends below 0.8 of where it began), of how many."""
    c = curves[curves.cell == cell]
    if c.empty:
        return None
    falling, seeds = 0, 0
    for _, run in c.groupby("run_id"):
        ratio = run.sort_values("step").test_ratio.dropna()
        if len(ratio) < 4:
            continue
        tail = ratio.iloc[-max(2, len(ratio) // 4):]
        seeds += 1
        falling += bool(tail.iloc[-1] < 0.8 * tail.iloc[0])
    return (falling, seeds) if seeds else None


def _majority_falling(found: tuple[int, int] | None) -> bool | None:
    """True when most of at least 2 seeds are still falling, False when most are not, None when
    it cannot be said (no curves, or one seed: no claim rests on one seed)."""
    if found is None or found[1] < 2:
        return None
    return 2 * found[0] > found[1]


def _textbook(best: dict, cells: list[str], curves: pd.DataFrame, frame: pd.DataFrame, longest: int) -> list[str]:
    """Where the data contradicts 'gated cells carry memory further than plain ones', and what would change it."""
    reach = {c: (best[c][0] or 0) for c in cells}
    if not any(reach.values()):
        falling = [c for c in cells if _majority_falling(_still_falling(curves, c))]
        return ["No cell solves any length at this budget, so it cannot rank them against the textbook; "
                + (f"most seeds' learning curves of {and_list(falling)} at length {longest} are still falling, so "
                   "more steps are the first thing to try." if falling else "more steps are the first thing to try.")]
    gated = gated_cells(frame)  # measured: their runs recorded a carry gate
    plain = [c for c in cells if c not in gated]
    out = []
    for g in gated:
        fix = remedy(frame, g) or "a different initialisation"  # what the cell declares to try
        beaten_by = [p for p in plain if reach[p] > reach[g]]
        rival = [o for o in gated if o != g and reach[o] > reach[g]]
        if not beaten_by and not rival:
            continue
        further = beaten_by + rival
        found = _still_falling(curves, g) if reach[g] < longest else None
        falling = _majority_falling(found)
        seeds = f" ({found[0]} of {found[1]} seeds' curves)" if found else ""
        why = (
            f"its learning curve at length {longest} is still falling at the end of the budget{seeds}, so more "
            "steps would likely change this" if falling else
            f"its learning curve at length {longest} stays near where it was to the end{seeds}, so more steps "
            f"alone may not; {fix} would be the first thing to try"
            if falling is False else f"more steps or {fix} would be the first things to try"
        )
        mine = f"only up to length {reach[g]}" if reach[g] else "no length"
        out.append(f"Against the textbook: {g} solves {mine}, while {and_list([f'{c} ({reach[c]})' for c in further])} "
                   f"{'reaches' if len(further) == 1 else 'reach'} further here; {why}.")
    # Where every cell solves the longest length, a plain cell matching the gated ones is the lengths'
    # ceiling, not evidence against the textbook (the sentence before says this budget cannot tell).
    ceiling = all(reach[c] >= longest for c in cells)
    for p in plain:
        if all(reach[p] >= reach[g] for g in gated) and gated and reach[p] > 0 and not ceiling and not any(
                p in line for line in out):
            out.append(f"Against the textbook, {p} holds as long a memory as the gated cells here "
                       f"(length {reach[p]}).")
    if not out and gated and not ceiling:
        out.append("As the textbook says: the gated cells (" + ", ".join(gated) + ") reach at least as far as "
                   + (", ".join(plain) if plain else "each other") + ".")
    return out
