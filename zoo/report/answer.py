"""The report's first lines: the post's question answered in words, computed from the numbers.

The post asks one thing: do plain RNNs lose long-term dependencies to vanishing
gradients, and do gates fix it? The answer says, in at most ``MAX_LINES``
lines: what this grid can and cannot say about that; which cell keeps the
gradient alive through time, and by how much (the per-step factor of
‖dh_T/dh_t‖ in the summary: below 1 it vanishes, above 1 it grows, and a
growing one is named as such, never as the one that keeps it alive); and where
to look next.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from zoo.core.config import USER_MODEL
from zoo.core.loading import CONFIG_DIR
from zoo.core.quick import full_form
from zoo.report import memory
from zoo.report.table_text import factor_text, metric_label, setting_columns

MAX_LINES = 5
CLAIM = "plain RNNs lose long-term dependencies to vanishing gradients, and gates fix it"
KEPT = 0.01  # "alive": the share of ‖dh_T/dh_t‖ a step-back factor keeps, and for how many steps
STEADY = 1000  # steps: a factor that takes longer than this to reach 1% (or 100 times) keeps about its size
# A cell whose test metric is at least this share of its task's baseline (the best prediction without
# memory: for sine, a constant) has barely learned the task, so a gradient it keeps is not yet one it uses.
UNLEARNED = 0.5
MAX_SLOPE = 50.0  # ln of a per-step factor: e^50 grows 100 times within a step; larger would overflow
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


def _probed_rows(summary: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The rows whose gradient through time the answer reads: ok, probed, in many_to_one where it
    ran, at the longest sequence the grid has (its longest window or length); and where that is."""
    s = summary[summary.ok > 0] if "ok" in summary else summary
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
    # Any other setting the rows still differ in (a sweep's tasks): each cell's factor is the mean over
    # its values, and the words say so rather than pass it off as one condition's.
    for column in setting_columns(summary):
        if column in s and column not in ("length", "window") and s[column].nunique() > 1:
            where.append(f"mean over {column}s {_and([str(v) for v in dict.fromkeys(s[column])])}")
    seeds = pd.to_numeric(s.ok, errors="coerce").max() if "ok" in s and len(s) else math.nan
    where.append("one seed" if seeds == 1 else "mean over seeds")
    return s, where


def step_factors(summary: pd.DataFrame) -> tuple[pd.Series, str]:
    """Per cell, the per-step factor of ‖dh_T/dh_t‖ over lags 1-5 (mean over its rows), largest
    first (``_probed_rows``); and a few words on where that was measured."""
    if "decay_factor" not in summary:
        return pd.Series(dtype=float), ""
    s, where = _probed_rows(summary)
    factors = s.groupby("cell", sort=False).decay_factor.mean().sort_values(ascending=False)
    return factors, ", ".join(where)


def extrapolation_factors(summary: pd.DataFrame) -> pd.Series:
    """Per cell, the per-step factor to extrapolate past the probed lags with: e^slope of ln‖dh_T/dh_t‖
    against lag, fitted over lags 1 on (``decay_rate``; mean slope over its rows), where it was stored.

    Not the factor over lags 1-5: that one starts at lag 0, the identity, and the first step can be
    a one-off jump. coRNN's norm jumps ×2.9 in it and then falls ×0.77 a step, so its factor over
    lags 1-5 is ×1.0, and extrapolating that would keep its gradient for 1,000+ steps where the slope
    leaves 1% after about 17. A row without a slope (a run stored before it) keeps its factor.
    """
    s, _ = _probed_rows(summary)
    factors = s.groupby("cell", sort=False).decay_factor.mean()
    if "decay_rate" not in s:
        return factors
    slopes = pd.to_numeric(s.decay_rate, errors="coerce").groupby(s.cell, sort=False).mean()
    return pd.Series([rate_past_first_step(slopes.get(c, math.nan), factors[c]) for c in factors.index],
                     index=factors.index)


def rate_past_first_step(slope: float, factor: float) -> float:
    """e^``slope`` (of ln‖dh_T/dh_t‖ from lag 1 on, clamped below overflow), or ``factor`` (over
    lags 1-5) where no slope was stored."""
    return float(np.exp(min(slope, MAX_SLOPE))) if np.isfinite(slope) else factor


def trend(f: float) -> str:
    """What a per-step factor does to the gradient: "vanishes" (below 1), "grows" (above 1), or
    "holds" where it is so close to 1 that neither 1% nor 100 times is reached within ``STEADY`` steps."""
    if not np.isfinite(f) or f <= 0:
        return "vanishes"
    if abs(math.log(f)) < math.log(1 / KEPT) / STEADY:
        return "holds"
    return "grows" if f > 1 else "vanishes"


def _steps(f: float) -> float:
    """Steps at a per-step factor until 1% of the gradient is left (below 1) or it is 100 times larger."""
    return math.log(KEPT if f < 1 else 1 / KEPT) / math.log(f)


def _fates(factors: pd.Series, cells: list[str], measured: pd.Series | None = None) -> str:
    """What would be left of the gradient in each of ``cells``, extrapolated at its per-step factor:
    100 times larger after so many steps (growing, the start of an explosion), about its size, or 1%
    after so many steps (vanishing; those last, in one clause, as the factors are sorted). Where the
    factor differs from the one ``measured`` over lags 1-5 (as the text shows it), it is given."""
    parts, vanishing = [], []
    for c in cells:
        f, way = factors[c], trend(factors[c])
        shown = measured is not None and factor_text(f) != factor_text(measured[c])
        at = f" (at {factor_text(f)} a step)" if shown and np.isfinite(f) and f > 0 else ""
        if not np.isfinite(f) or f <= 0:
            parts.append(f"nothing of it would be left after one step in {c}")
        elif way == "grows":
            parts.append(f"in {c}{at} it would be 100 times larger after about {_steps(f):.0f} steps (it explodes)")
        elif way == "holds":
            parts.append(f"in {c}{at} it would keep about its size (1% of it, or 100 times it, only after "
                         f"{STEADY:,}+ steps)")
        else:
            vanishing.append(f"about {_steps(f):.0f} steps in {c}{at}")
    if vanishing:
        parts.append("1% of it would be left after " + _and(vanishing))
    return _and(parts)


def _longest_alive(factors: pd.Series) -> str | None:
    """The cell with the largest factor among those whose gradient does not grow: a factor above 1
    keeps nothing alive, it explodes."""
    steady = [c for c in factors.index if trend(factors[c]) != "grows"]
    return steady[0] if steady else None  # factors are sorted, largest first


def _gates_order(summary: pd.DataFrame, factors: pd.Series) -> str:
    """Whether the gated cells keep more of the gradient per step than the plain ones, among the
    cells whose gradient does not grow (a growing one keeps more only by exploding)."""
    gated = _gated(summary)
    cells = [c for c in factors.index if trend(factors[c]) != "grows"]
    plain = [c for c in cells if c not in gated]
    kept = [c for c in cells if c in gated]
    if not kept or not plain:
        return ""
    g, p = [factors[c] for c in kept], [factors[c] for c in plain]
    among = "of the cells where it does not grow, " if len(cells) < len(factors) else ""
    if min(g) > max(p):
        text = f"{among}every gated cell ({_and(sorted(kept))}) keeps more of it per step than every plain one."
    elif min(p) > max(g):
        text = (f"{among or 'here '}the plain {_and(plain)} keep{'s' if len(plain) == 1 else ''} more of it per "
                "step than every gated cell: by this measure the gates do not keep the gradient alive longer.")
    else:
        text = f"{among}gates alone do not order them: plain and gated cells interleave."
    return " " + text[0].upper() + text[1:]


def _unlearned(summary: pd.DataFrame, cell: str) -> str:
    """", though it has barely learned the task (…)" where ``cell``'s rows the line reads have a mean
    ``ratio`` (test metric over the task's baseline) of at least ``UNLEARNED``; else ""."""
    s, _ = _probed_rows(summary)
    if "ratio" not in s:
        return ""
    rows = s[s.cell == cell]
    ratio = pd.to_numeric(rows.ratio, errors="coerce").mean()
    if not np.isfinite(ratio) or ratio < UNLEARNED:
        return ""
    metric = rows.metric.iloc[0] if "metric" in rows and isinstance(rows.metric.iloc[0], str) else "test metric"
    how = "has not learned the task" if ratio >= 1 else "has barely learned the task"
    return (f", though it {how} (its test {metric_label(metric)} is {ratio:.2f} of the task's baseline: the ratio in "
            "summary.csv), so this is the gradient of a network that has not fit it")


def _bottom_role(factors: pd.Series, alive: str | None) -> str:
    """What the smallest factor does, in a few words after its cell's name."""
    bottom = factors.index[-1]
    if trend(factors[bottom]) == "grows":
        return ", where it grows least"
    if bottom == alive:  # every other cell's gradient grows
        return ", the only cell where it does not grow"
    return ", where it vanishes fastest" if trend(factors[bottom]) == "vanishes" else ", where it keeps about its size"


def _passed_over(factors: pd.Series, rates: pd.Series, alive: str) -> str:
    """Why a cell with a larger factor over lags 1-5 than ``alive`` (and not growing) does not keep
    the gradient longer: its factor owes to its first step, and past it the
    gradient falls faster: "; c's ×0.999 is ×0.77 a step on its slope from lag 1 on"."""
    passed = [c for c in factors.index if factors[c] > factors[alive] and trend(factors[c]) != "grows"
              and rates[c] < rates[alive]]
    said = [f"{c}'s {factor_text(factors[c])} is {factor_text(rates[c])} a step on its slope from lag 1 on"
            for c in passed]
    return "; " + _and(said) if said else ""


def gradient_line(summary: pd.DataFrame) -> str:
    """Which cell keeps the gradient alive through time, and by how much; and where it grows instead."""
    factors, where = step_factors(summary)
    if len(factors) < 2:
        return ""
    # The measured extremes are the factors over lags 1-5; how long a cell keeps the gradient, and
    # whether gates keep more of it a step, go by the rate past the first step (extrapolation_factors).
    rates = extrapolation_factors(summary).reindex(factors.index).sort_values(ascending=False)
    slope = "decay_rate" in summary and not rates.equals(factors.reindex(rates.index))
    top, bottom = factors.index[0], factors.index[-1]
    alive = _longest_alive(rates)
    if trend(factors[top]) == "grows":
        top_role = ", where it grows most"
    elif top == alive:
        top_role = ", the cell that keeps it alive longest"
    else:
        top_role = ", the most over lags 1-5"
    text = (f"Through time ({where}, over lags 1-5, last probe), each step back multiplies "
            f"‖dh_T/dh_t‖ by {factor_text(factors[top])} in {top}{top_role}{_unlearned(summary, top)}, and by "
            f"{factor_text(factors[bottom])} in {bottom}{_bottom_role(factors, alive)} (below 1 it vanishes, "
            "above 1 it grows).")
    shown = [top, bottom]
    if alive not in (None, top, bottom):  # the top cell's gradient grows, or falls faster past its first step
        among = "Of the cells where it does not grow, " if any(trend(r) == "grows" for r in rates) else ""
        text += (f" {among}{alive} keeps it alive longest ({factor_text(factors[alive])}"
                 f" over lags 1-5{_passed_over(factors, rates, alive)}){_unlearned(summary, alive)}.")
        shown.insert(1, alive)
    how = ("at each cell's fitted slope of ln‖dh_T/dh_t‖ from lag 1 on (lag 0, the identity, left out)"
           if slope else "at those rates")
    text += f" Extrapolated {how}, not measured past the probed lags: {_fates(rates, shown, factors)}."
    return text + _gates_order(summary, rates)


def _lowest(s: pd.DataFrame, metric: str) -> str:
    """Which cell has the lowest ``metric`` in each mode: "c has the lowest test MAE in every mode"."""
    s = s.dropna(subset=[metric])
    if s.empty or (s.groupby("mode").size() == 1).all():  # no metric, or one cell per mode: nothing to rank
        return ""
    best = s.loc[s.groupby("mode", sort=False)[metric].idxmin()]
    leaders = best.cell.value_counts(sort=True)
    if len(leaders) == 1:
        where = "every mode" if len(best) > 1 else best["mode"].iloc[0]
        return f"{leaders.index[0]} has the lowest test MAE in {where}"
    return "the lowest test MAE goes to " + _and([f"{c} in {n} mode{'s' if n > 1 else ''}" for c, n in leaders.items()])


def _ties(summary: pd.DataFrame) -> str:
    """Whether the cells differ in test error on this grid, beyond the seed-to-seed spread."""
    s = summary[summary.ok > 0]
    metric = "test_mae" if "test_mae" in s else None
    if metric is None or s.empty:
        return "no run finished"
    lo, hi = s[metric].min(), s[metric].max()
    one_seed = s[f"{metric}_ci95"].isna().all()
    if one_seed:
        lowest = _lowest(s, metric)
        if not lowest:
            return f"with one seed no interval tells a tie from a lead (test MAE {lo:.3g} to {hi:.3g})"
        return (f"with one seed no interval tells a tie from a lead: {lowest}, from one run each (the test MAE "
                f"of every cell and mode spans {lo:.3g} to {hi:.3g})")
    compared = [c for _, c in s.groupby("mode", sort=False) if len(c) > 1]
    if not compared:
        return f"it has one cell per mode, so nothing to tell apart (test MAE {lo:.3g} to {hi:.3g})"
    # A cell with one ok run has no interval: no tie or lead is claimed in its mode.
    groups = [g for g in compared if g[f"{metric}_ci95"].notna().all()]
    if not groups:
        return (f"a cell with one ok run has no interval, so nothing tells a tie from a lead (test MAE {lo:.3g} to "
                f"{hi:.3g} over every cell and mode)")
    tied = 0
    for g in groups:
        best = g.loc[g[metric].idxmin()]
        others = g.drop(index=best.name)
        tied += all(o[metric] - o[f"{metric}_ci95"] <= best[metric] + best[f"{metric}_ci95"]
                    for _, o in others.iterrows())
    unsure = len(compared) - len(groups)
    if unsure:
        none = f"in {unsure} more, a cell with one ok run has none"
        if len(groups) == 1:
            lead = "every cell ties" if tied else "the best cell leads another beyond the seed-to-seed spread"
            return f"{lead} in {groups[0]['mode'].iloc[0]}, the one mode where each cell has an interval ({none})"
        return f"every cell ties in {tied} of the {len(groups)} modes where each cell has an interval ({none})"
    if tied == len(groups):
        where = f"in all {len(groups)} modes" if len(groups) > 1 else f"in {groups[0]['mode'].iloc[0]}"
        return f"every cell ties {where} (each within the best's 95% interval over seeds)"
    if len(groups) == 1:
        return (f"in {groups[0]['mode'].iloc[0]} the best cell leads another beyond the seed-to-seed spread, on a "
                "task that needs no long memory")
    return (f"every cell ties in {tied} of {len(groups)} modes; where one leads, it leads on a task that needs "
            "no long memory")


def _window(grid) -> int | None:
    windows = {getattr(v.task, "window", None) for v in grid.variants()}
    windows.discard(None)
    return max(windows) if windows else None


def _memory_verdict(frame: pd.DataFrame) -> str:
    """Longest length each cell solves, per task, and whether the gated cells reach further."""
    parts, further, shorter, tasks, alike = [], 0, 0, 0, []
    gated_cells = memory.gated_cells(frame)  # measured: their runs recorded a carry gate
    for task, f in frame.groupby("task", sort=False):
        best = memory.longest_solved(memory.outcome_table(f))
        order = sorted(best, key=lambda c: -(best[c][0] or 0))
        parts.append(f"{task}: " + ", ".join(f"{c} {best[c][0] or 'none'}" for c in order))
        reached = {best[c][0] for c in best}
        if reached == {None}:
            alike.append(f"in {task} no cell solves any length")
        elif reached == {f.length.max()}:
            alike.append(f"in {task} every cell solves every length")
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
                   f": {'in the others' if further else 'in every task'} they reach as far"
                   + (f" ({'; '.join(alike)})" if alike else "") + ", so this budget and these lengths do not "
                   "separate them.")
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
           experiment_frame: pd.DataFrame | None = None, fitted: tuple[str, ...] = ()) -> list[str]:
    """The page's first lines (at most ``MAX_LINES``), for the grid at the top of the report.

    ``runs`` are that grid's stored runs; ``shown`` names the experiments the
    report also holds; ``experiment_frame`` is the memory frame of an experiment
    shown below, whose verdict is given when the top grid cannot answer;
    ``fitted`` names the other models of the user's (zoo.ProbeCallback) it holds.
    """
    frame = memory.memory_frame(runs)
    lines = []
    if USER_MODEL in grid.modes and not summary.empty:  # a user's model (zoo.ProbeCallback): no claim to test
        others = [name for name in fitted if name != grid.name]
        also = (f" The report also holds {len(others)} other model{'s' if len(others) > 1 else ''} of yours "
                f"fitted with it ({', '.join(others)}): each has its own section below." if others else "")
        lines.append(f"These are the runs zoo.ProbeCallback wrote for a model of your own ({grid.name}), a row per "
                     "recurrent layer: they show how its gradient fares through time, not the post's claim." + also)
    elif not frame.empty:
        lengths = ", ".join(map(str, sorted(frame.length.unique())))
        names = list(dict.fromkeys(frame.task))
        tasks = _and(names) + (" needs" if len(names) == 1 else " need")
        full, quick = full_form(grid.name)
        smoke = (f" But this is its quick form, a smoke run too short to settle it: make compare CONFIG={full} "
                 "trains the full one." if quick else "")
        lines.append(f"Can this grid test the post's claim, that {CLAIM}? Yes: {tasks} a memory of "
                     f"{lengths} steps, and no cell can score below the memoryless baseline without it.{smoke}")
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
    full, quick = full_form(grid.name)
    lines.append(_next({full_form(name)[0] for name in shown}, full, quick=quick))
    return [line for line in lines if line][:MAX_LINES]
