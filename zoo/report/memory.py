"""The report's memory section: which cell learns which length, beside its gradient through time.

One part per memory task (every task but the post's ``sine``) with runs.
Everything comes from the runs' ``metrics.json`` and ``history.csv``: each
run stores its task's memoryless baseline, solved threshold and reason, its
final test loss over that baseline (the ratio), and ‖dh_T/dh_1‖ at
initialisation and at its last probed epoch. So the report needs no task code
and no Keras.

A cell *solves* a length when more than half of its seeds end below the
task's solved threshold; the tables say how many (k of n) at every length.
"""

from __future__ import annotations

import dataclasses
import html as html_escape
import math
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.core.analysis import mean_ci95
from zoo.core.config import USER_MODEL, task_name, task_spec
from zoo.core.stats import fisher_exact, min_fisher_p, spearman, wilson_interval
from zoo.report import html
from zoo.report.plots import Figure, cell_colors, subplots


def in_memory_section(task: str) -> bool:
    """Whether a task declares the memory section (``TaskSpec.section``); a task not registered here
    (a plugin not installed) is shown as before its tasks declared it."""
    spec = task_spec(task)
    return spec is None or spec.section == "memory"


# A user's own model (zoo.ProbeCallback's runs) is no memory task either: its data has no length to solve.
TEXTBOOK = ("lstm", "gru")  # the cells the textbook says carry memory furthest
REMEDIES = {
    "lstm": "a larger forget-gate bias at initialisation (Keras adds 1; chrono initialisation sets it "
            "near ln T, Tallec & Ollivier 2018)",
    "gru": "an update-gate bias that starts it carrying its state (the GRU analogue of a forget-gate bias)",
    "simple_rnn": "an identity or orthogonal recurrent initialisation (as irnn does) with gradient clipping",
}


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
        })
    return pd.DataFrame(rows)


def _cells(frame: pd.DataFrame) -> list[str]:
    order = ["simple_rnn", "irnn", "indrnn", "gru", "lstm"]
    found = list(dict.fromkeys(frame.cell))
    return [c for c in order if c in found] + sorted(c for c in found if c not in order)


def _log_mean(values) -> float:
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
    return f"{k} of {n} seeds, 95% Wilson interval {low:.0%}–{high:.0%}"


def _fmt_ratio(mean: float, low: float, high: float) -> str:
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
            row[f"length {length}"] = f"{_fmt_ratio(r.ratio, r.ratio_low, r.ratio_high)} ({r.solved}/{r.seeds})"
        length, k, n = best[cell]
        row["longest solved"] = (f"{length} ({k_of_n(k, n)})" if length
                                 else f"none (shortest: {k_of_n(k, n)})")
        rows.append(row)
    return pd.DataFrame(rows)


def headline_markdown(frames: dict[str, pd.DataFrame]) -> str:
    """Longest length solved per cell (rows) and task (columns), k of n seeds: the README's table."""
    tasks = list(frames)
    cells = list(dict.fromkeys(c for f in frames.values() for c in _cells(f)))
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


# ---------------------------------------------------------------------- plots


def _length_axis(ax, lengths) -> None:
    ax.set_xscale("log")
    ax.set_xticks(lengths, [str(v) for v in lengths])
    ax.minorticks_off()
    ax.set_xlabel("task length (log scale)")


CLIP = 100.0  # ratios above this (a run whose output exploded) are drawn at the edge, so the rest stay readable
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "D", "P", "X", "h")  # not ^ or v: those mark a value clipped at an edge


def _styles(cells: list[str]) -> dict[str, dict]:
    """A line style, marker and width per cell, so lines that coincide stay visible:
    the first cell's line is the widest, each later one narrower and dashed
    differently, so a line lying exactly on another shows inside it."""
    widths = np.linspace(3.2, 1.4, max(len(cells), 2))
    return {c: {"ls": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)], "lw": float(widths[i]),
                "order": i} for i, c in enumerate(cells)}


def _clipped(ax, xs, values, color) -> None:
    """Values above ``CLIP`` as a ▲ at the edge with the value written beside it."""
    for x, v in zip(xs, values):
        if np.isfinite(v) and v > CLIP:
            ax.scatter([x], [CLIP], color=color, marker="^", s=70, zorder=5, edgecolors="black", linewidths=0.6)
            ax.annotate(f"{v:.2g}".replace("e+0", "e").replace("e+", "e"), (x, CLIP), xytext=(-7, -4),
                        textcoords="offset points", fontsize=8, ha="right", va="top", color=color, fontweight="bold",
                        bbox={"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1})


def _seeds(ax, xs, ratios, color) -> None:
    """Each seed's ratio as a dot; one above ``CLIP`` as a triangle at the edge."""
    xs, ratios = np.asarray(xs, float), np.asarray(ratios, float)
    high = ratios > CLIP
    ax.scatter(xs[~high], ratios[~high], color=color, s=12, alpha=0.6, zorder=3)
    if high.any():
        ax.scatter(xs[high], np.full(high.sum(), CLIP), color=color, marker="^", s=40, zorder=4)


def ratio_plot(frame: pd.DataFrame, task: str) -> Figure:
    """Final test loss over the memoryless baseline against length, per cell."""
    cells, lengths = _cells(frame), sorted(frame.length.unique())
    colors = cell_colors(cells)
    threshold = frame.solved_below.iloc[0]
    fig, ax = subplots(figsize=(8, 4.6), constrained_layout=True)
    spread = {c: (i - (len(cells) - 1) / 2) * 0.025 for i, c in enumerate(cells)}  # dodge, in log-x units
    styles = _styles(cells)
    for cell in cells:
        g = frame[frame.cell == cell]
        x_of = {length: length * 10 ** spread[cell] for length in lengths}
        raw = g.groupby("length").ratio.agg([_log_mean, "min", "max"]).reindex(lengths)
        stats = raw.clip(upper=CLIP)
        xs = [x_of[v] for v in stats.index]
        st = styles[cell]
        ax.plot(xs, stats["_log_mean"], color=colors[cell], lw=st["lw"] * 0.7, ls=st["ls"], marker=st["marker"],
                ms=6, mfc="white", label=cell)
        _clipped(ax, xs, raw["_log_mean"], colors[cell])  # a clipped mean: ▲ with its value
        if g.seed.nunique() > 1:
            ax.fill_between(xs, stats["min"], stats["max"], color=colors[cell], alpha=0.15, lw=0)
        _seeds(ax, [x_of[v] for v in g.length], g.ratio, colors[cell])
    ax.axhline(1.0, color="black", lw=1.0, ls="--")
    ax.axhline(threshold, color="tab:green", lw=1.0, ls=":")
    ax.annotate("memoryless baseline (1)", (0.01, 1.0), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize=8)
    ax.annotate(f"solved below {threshold:g}", (0.01, threshold), xycoords=("axes fraction", "data"),
                xytext=(0, 3), textcoords="offset points", fontsize=8, color="tab:green")
    metric = frame.metric.iloc[0].removeprefix("test_")
    clipped = (frame.ratio > CLIP).any()  # a seed above CLIP (and so any mean above it)
    ax.set(yscale="log", ylabel=f"final test {'cross-entropy' if metric == 'ce' else metric.upper()} / baseline (log)",
           title=f"{task}: final test loss over the memoryless baseline\n"
                 "line: geometric mean over seeds, band: min..max, dots: seeds"
                 + (f"\n▲ at the edge: above {CLIP:g} (an output exploded); outlined ▲: a mean, with its value"
                    if clipped else ""))
    _length_axis(ax, lengths)
    fig.legend(loc="outside right center", frameon=False)
    return fig


def gradient_plot(frame: pd.DataFrame, task: str) -> Figure:
    """‖dh_T/dh_1‖ at initialisation and at the end against length; solved runs filled."""
    cells, lengths = _cells(frame), sorted(frame.length.unique())
    colors = cell_colors(cells)
    fig, axes = subplots(1, 2, figsize=(11, 4.4), sharey=True, constrained_layout=True)
    spread = {c: (i - (len(cells) - 1) / 2) * 0.025 for i, c in enumerate(cells)}
    floor = 1e-45
    for ax, column, title in ((axes[0], "dh_init", "at initialisation (before the first step)"),
                              (axes[1], "dh_end", "at the end (last probed epoch)")):
        for cell in cells:
            g = frame[frame.cell == cell]
            x = g.length * 10 ** spread[cell]
            y = g[column].clip(lower=floor)
            st = _styles(cells)[cell]
            ax.plot(sorted(set(x)), g.groupby("length")[column].apply(_log_mean).clip(lower=floor).values,
                    color=colors[cell], lw=st["lw"] * 0.6, ls=st["ls"], alpha=0.8, label=cell)
            ok = g.solved.to_numpy()
            ax.scatter(x[ok], y[ok], color=colors[cell], s=28, zorder=3)
            ax.scatter(x[~ok], y[~ok], facecolors="white", edgecolors=colors[cell], s=28, zorder=3)
        ax.set(yscale="log", title=title)
        _length_axis(ax, lengths)
    axes[0].set_ylabel("‖dh_T/dh_1‖ (log)\nwhole state, mean over the probe batch")
    axes[0].scatter([], [], color="0.3", s=28, label="solved run")
    axes[0].scatter([], [], facecolors="white", edgecolors="0.3", s=28, label="failed run")
    fig.suptitle(f"{task}: the gradient from the answer back to the first step, against the outcome")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", frameon=False)
    return fig


def curves_plot(curves: pd.DataFrame, frame: pd.DataFrame, task: str, length: int) -> Figure:
    """Test loss over baseline against optimizer steps at one length, per cell (thin: each seed)."""
    cells = _cells(frame)
    colors = cell_colors(cells)
    fig, ax = subplots(figsize=(8, 4.4), constrained_layout=True)
    styles = _styles(cells)
    highest = curves.test_ratio.max() if len(curves) else math.nan
    for cell in cells:
        c = curves[curves.cell == cell]
        st = styles[cell]
        for _, run in c.groupby("run_id"):
            ax.plot(run.step, run.test_ratio.clip(upper=CLIP), color=colors[cell], lw=0.7, alpha=0.45, ls=st["ls"])
        raw = c.groupby("step").test_ratio.apply(_log_mean)
        mean = raw.clip(upper=CLIP)
        # Lines that coincide (two cells stuck at the baseline) stay visible: widths, dashes and markers differ.
        every = max(1, len(mean) // 8)  # markers staggered by cell, so they do not sit on each other
        ax.plot(mean.index, mean.values, color=colors[cell], lw=st["lw"], ls=st["ls"], marker=st["marker"],
                ms=5, mfc="white", markevery=((st["order"] * every) // len(cells), every), label=cell)
        _clipped(ax, mean.index[raw > CLIP][-1:], raw[raw > CLIP][-1:], colors[cell])
    ax.axhline(1.0, color="black", lw=1.0, ls="--", label="memoryless baseline", zorder=1.5)
    ax.axhline(frame.solved_below.iloc[0], color="tab:green", lw=1.0, ls=":", label="solved threshold")
    ax.set(yscale="log", xlabel="optimizer steps", ylabel="test loss / baseline (log)",
           title=f"{task}, length {length}: test loss over the baseline during training\n"
                 "thick: geometric mean over seeds, thin: each seed"
                 + (f"\nvalues above {CLIP:g} cut at the edge (highest {highest:.2g}; "
                    "outlined ▲: a mean's last cut value)" if highest > CLIP else ""))
    fig.legend(loc="outside right center", frameon=False)
    return fig


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


# ------------------------------------------------------------------- findings


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
    per_cell = [f"{c} {n}" for c in _cells(frame) if (n := _auc(frame[frame.cell == c], "dh_init")[1])]
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
        per_cell = g.groupby("cell").agg(dh=("dh_init", _log_mean), solved=("solved", "mean"))
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
        return (f"With {most} seeds per cell{' at most' if outcomes.seeds.nunique() > 1 else ''} the seeds "
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


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _s(names: list[str]) -> str:
    """The verb ending for one name or several."""
    return "s" if len(names) == 1 else ""


def _lengths_text(best: dict, cells: list[str]) -> str:
    parts = []
    for cell in cells:
        length, k, n = best[cell]
        parts.append(f"{cell} up to length {length} ({k_of_n(k, n)})" if length
                     else f"{cell} at no length ({k} of {n} seeds at the shortest)")
    return "; ".join(parts)


def findings(frame: pd.DataFrame, curves: pd.DataFrame, task: str) -> list[str]:
    """Sentences computed from the numbers: who solves what, gradient against outcome, the textbook."""
    out = []
    outcomes = outcome_table(frame)
    cells, lengths = _cells(frame), sorted(frame.length.unique())
    best = longest_solved(outcomes)
    steps, batch = int(frame.steps.max()), int(frame.batch.iloc[0])
    out.append(f"At this budget ({steps:,} optimizer steps of batch {batch} per run, lengths "
               f"{', '.join(map(str, lengths))}), a majority of seeds solve {task}: "
               + _lengths_text(best, cells) + ".")
    shortest, longest = lengths[0], lengths[-1]
    at = outcomes.set_index(["cell", "length"])
    fail_short = [c for c in cells if 2 * at.loc[(c, shortest)].solved <= at.loc[(c, shortest)].seeds]
    fail_long = [c for c in cells if 2 * at.loc[(c, longest)].solved <= at.loc[(c, longest)].seeds]
    out.append(
        (f"Every cell solves the shortest length ({shortest})" + _split(at, cells, shortest) if not fail_short
         else f"At the shortest length ({shortest}) {_and(fail_short)} already fail{_s(fail_short)}")
        + (f"; at the longest ({longest}) {_and(fail_long)} fail{_s(fail_long)}"
           + (f" while {_and([c for c in cells if c not in fail_long])} still solve"
              f"{_s([c for c in cells if c not in fail_long])} it."
              if len(fail_long) < len(cells) else ": no cell solves it.")
           if fail_long else f"; every cell also solves the longest ({longest}): this budget does not "
                             "discriminate there.")
    )
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
        a, b = _log_mean(g.dh_init), _log_mean(g.dh_end)
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
        out.append(f"The gradient probes (at initialisation and at {probed.probes.iloc[0]} epochs, on "
                   f"{probed.probe_batch.iloc[0]} sequences, compile included) took {share:.1%} of a run's time "
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
                + (f"most seeds' learning curves of {_and(falling)} at length {longest} are still falling, so "
                   "more steps are the first thing to try." if falling else "more steps are the first thing to try.")]
    plain = [c for c in cells if c not in TEXTBOOK]
    gated = [c for c in cells if c in TEXTBOOK]
    out = []
    for g in gated:
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
            f"alone may not; {REMEDIES.get(g, 'a different initialisation')} would be the first thing to try"
            if falling is False else "more steps or " + REMEDIES.get(g, "a different initialisation")
            + " would be the first things to try"
        )
        mine = f"only up to length {reach[g]}" if reach[g] else "no length"
        out.append(f"Against the textbook: {g} solves {mine}, while {_and([f'{c} ({reach[c]})' for c in further])} "
                   f"{'reaches' if len(further) == 1 else 'reach'} further here; {why}.")
    for p in plain:
        if all(reach[p] >= reach[g] for g in gated) and gated and reach[p] > 0 and not any(
                p in line for line in out):
            out.append(f"Against the textbook, {p} holds as long a memory as the gated cells here "
                       f"(length {reach[p]}).")
    if not out and gated:
        out.append("As the textbook says: the gated cells (" + ", ".join(gated) + ") reach at least as far as "
                   + (", ".join(plain) if plain else "each other") + ".")
    return out


# -------------------------------------------------------------------- section


def budget_text(train) -> str:
    """How long a run trains, as its config states it."""
    if train.steps is not None:
        return f"{train.steps:,} optimizer steps (a test evaluation every {train.eval_every})"
    return f"{train.epochs} epochs"


def settings_rows(grid) -> list[tuple[str, str]]:
    """The settings table of a grid whose task is not the post's sine."""
    tr = grid.train
    tasks = grid.tasks or (grid.task,)
    rows = [("cells x modes x seeds", f"{', '.join(grid.cells)} x {', '.join(grid.modes)} x {grid.seeds}")]
    for t in tasks:
        settings = ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(t).items())
        rows.append((f"task {task_name(t)}", settings))
    if grid.sweep:
        rows.append(("sweep", "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in grid.sweep)))
    if USER_MODEL in grid.modes:  # a user's model, trained by its own fit: what the callback knows of it
        return rows + [
            ("model", "a Keras model of your own: a row per recurrent layer, each with its own units"),
            ("training", f"model.fit: {tr.optimizer} lr {tr.learning_rate:g}, {tr.epochs} epochs, {tr.loss} loss, "
                         f"clipnorm {tr.clipnorm}, global_clipnorm {tr.global_clipnorm}"),
            ("probes", f"{tr.probes} epochs and initialisation, on {tr.probe_batch} sequences of the callback's x"),
        ]
    rows += [
        ("model", f"{grid.units} units, a Dense head the task chooses"),
        ("training", f"{tr.optimizer} lr {tr.learning_rate:g}, batch {tr.batch_size}, {budget_text(tr)}, "
                     f"{tr.loss or 'the task’s own'} loss, clipnorm {tr.clipnorm}, "
                     f"global_clipnorm {tr.global_clipnorm}"),
        ("probes", f"{tr.probes} epochs and initialisation, on {tr.probe_batch} training sequences"),
    ]
    return rows


def section(results, out: Path) -> str:
    """Write each memory task's tables and figures into ``out``; return their HTML ("" if none)."""
    frame = memory_frame(results.runs)
    if frame.empty:
        return ""
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    frames = {task: f for task, f in frame.groupby("task", sort=False)}
    for task, f in frames.items():
        outcomes = outcome_table(f)
        cells = _cells(f)
        longest = int(f.length.max())
        curves = learning_curves(results.runs, f, longest)
        shown = display_outcomes(outcomes, cells)
        outcomes.to_csv(out / f"memory_{task}.csv", index=False)
        extra = int((f.sequence_steps - f.length).iloc[0])
        steps_text = f"length + {extra} input steps" if extra else "as many input steps as its length"
        note = (f"Length is the task's length setting (each sequence has {steps_text}). "
                f"Each cell: final test {f.metric.iloc[0].removeprefix('test_')} over the memoryless baseline "
                f"({f.baseline.iloc[0]:.4g}): the geometric mean over seeds [its 95% t-interval over seeds, "
                f"computed on log10 of the ratio], and (k/n) the seeds that solved it "
                f"(ratio below {f.solved_below.iloc[0]:g}). Why that threshold: "
                f"{f.solved_reason.iloc[0]} A cell solves a length when more than half its seeds do.")
        (out / f"memory_{task}.md").write_text(_markdown(shown) + "\n" + note + "\n")
        figures = {
            f"memory_{task}_ratio.png": ratio_plot(f, task),
            f"memory_{task}_gradient.png": gradient_plot(f, task),
        }
        if not curves.empty:
            figures[f"memory_{task}_curves.png"] = curves_plot(curves, f, task, longest)
        paths = []
        for name, fig in figures.items():
            fig.savefig(out / name, dpi=110)
            paths.append(out / name)
        parts.append(
            f"<h3>Memory: {html_escape.escape(task)}</h3>"
            + html.findings_list(findings(f, curves, task))
            + html.frame_table(shown, note)
            + "".join(html.figure(p) for p in paths)
        )
    (out / "memory_headline.md").write_text(headline_markdown(frames))
    return "\n".join(parts)


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
