"""The registered probes in the report: a table, a figure and a finding each, from their schema.

For every registered probe (``zoo.core.probe_registry``) whose table some run
of the section has: ``probe_<name>.csv`` (a row per cell x mode, and per value of
each setting the runs vary in, such as a sweep's task and length: the mean over
seeds of each run's summary numbers), the probe's figure and its finding. Where
the runs vary in a setting, each combination of values (a condition) gets its own
figure and finding: a profile over 25 steps averaged with one over 100 describes
neither. Nothing here knows any probe by name.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pandas as pd

from zoo import probes as probe_folders
from zoo.core.config import short_name, varying_settings
from zoo.probes import run_table as probe_table


def run_summary(run, name: str) -> dict:
    """A run's summary numbers of probe ``name`` (its reducer); NaN where the run has no table."""
    spec, table = probe_folders.get_probe(name), probe_table(run, name)
    return spec.run_summary(table) if table is not None else {k: math.nan for k in spec.summary}


def combine(spec, column: str, ok: pd.DataFrame, trained: pd.DataFrame):
    """One summary column over the runs of a row, as ``spec`` declares: a name by the first given,
    a number by its combiner (mean, min, max) over the ok runs, or over every run that trained
    (``trained``, diverged ones too) for a column of ``spec.every_run``."""
    frame = trained if column in spec.every_run else ok
    values = frame[column] if len(frame) and column in frame.columns else pd.Series(dtype=float)
    names = [v for v in values if isinstance(v, str)]
    if names:
        given = [v for v in names if v]
        return given[0] if given else math.nan  # NaN, as a CSV reads an empty name back
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if not len(numbers):
        return math.nan
    return float({"mean": numbers.mean, "min": numbers.min, "max": numbers.max}[spec.combine.get(column, "mean")]())


def long_table(runs, name: str) -> pd.DataFrame:
    """Every run's ``probe_<name>.csv`` rows, with its cell, mode and seed in front and, last, its
    ``own_recurrent_weights`` (``own_recurrent_weights(run)``), for a figure that must leave out cells
    whose recurrent gradient is not comparable, and its ``optimizer_step``: the optimizer steps behind
    each probed "epoch" of a run trained for a budget of steps (an evaluation every ``eval_every`` of
    them, which divides the budget), NaN for a run trained in epochs, so a figure counts what was
    trained. (Not ``step``: a probe of ``unit="step"`` has a column of that name.)"""
    frames = []
    for r in runs:
        table = probe_table(r, name)
        if table is not None and len(table):
            train = getattr(r.config, "train", None)
            budget, every = getattr(train, "steps", None), getattr(train, "eval_every", None)
            frames.append(table.assign(cell=r.config.cell, mode=r.config.mode, seed=r.config.seed,
                                       own_recurrent_weights=own_recurrent_weights(r),
                                       optimizer_step=table.epoch * every if budget else math.nan))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    front = ("cell", "mode", "seed")
    return table[[*front, *[c for c in table.columns if c not in front]]]


def run_summaries(runs, name: str, statuses=("ok",)) -> pd.DataFrame:
    """A row per run of a status in ``statuses`` with the probe's table: its cell, mode, seed (and
    status) and the probe's summary numbers (its reducer)."""
    spec = probe_folders.get_probe(name)
    rows = [{"cell": r.config.cell, "mode": r.config.mode, "seed": r.config.seed, "status": r.metrics.get("status"),
             **run_summary(r, name)}
            for r in runs if r.metrics.get("status") in statuses and probe_table(r, name) is not None]
    return pd.DataFrame(rows, columns=["cell", "mode", "seed", "status", *spec.summary])


def own_recurrent_weights(run) -> float:
    """1.0 where the run's cell has weights its recurrence runs through apart from its input's (a
    recurrent_kernel weight group), 0.0 where not (minGRU, minLSTM; coRNN's one kernel reads both),
    NaN where the run does not say (stored before it did, or written by zoo.ProbeCallback)."""
    own = run.metrics.get("own_recurrent_weights")
    return float(own) if isinstance(own, bool) else math.nan


def finding_table(runs, name: str) -> pd.DataFrame:
    """What a probe's finding reads: ``run_summaries`` of the ok runs (without their status) and,
    row by row from the same run, what a finding may set its numbers against: the run's
    ``decay_factor`` (from its metrics) and ``own_recurrent_weights`` (``own_recurrent_weights(run)``).
    Row by row, not by (cell, mode, seed): a sweep has several runs of each."""
    ok = [r for r in runs if r.metrics.get("status") == "ok" and probe_table(r, name) is not None]
    return run_summaries(ok, name).drop(columns="status").assign(
        decay_factor=[r.metrics.get("decay_factor", math.nan) for r in ok],
        own_recurrent_weights=[own_recurrent_weights(r) for r in ok],
    )


def conditions(runs, axes: list[str]) -> list[tuple[tuple, list]]:
    """The runs by their values of the settings ``axes`` (``varying_settings``), in the order they
    come: ``[((value, ...), runs)]``, one ``((), runs)`` where nothing varies. Values are told apart
    as ``varying_settings`` tells them, by ``repr`` (1 and 1.0 are two; a list is a value)."""
    split: dict[tuple, tuple[tuple, list]] = {}
    for r in runs:
        settings = r.config.settings()
        values = tuple(settings.get(a) for a in axes)
        split.setdefault(tuple(map(repr, values)), (values, []))[1].append(r)
    return list(split.values())


def condition_text(axes: list[str], values: tuple) -> str:
    """``task adding, length 25``: a condition as a title or a finding names it (a setting the run's
    task does not have, None, is left out)."""
    return ", ".join(f"{short_name(a)} {f'{v:g}' if isinstance(v, float) else v}"
                     for a, v in zip(axes, values) if v is not None)


def summary_table(runs, name: str, axes: list[str] | None = None) -> pd.DataFrame:
    """A row per cell x mode and condition (the runs' values of the settings ``axes``, a column
    each, by their short names; by default those the runs vary in): each summary column combined
    over its runs as the probe declares (``combine``), and the count of its ok runs."""
    spec = probe_folders.get_probe(name)
    axes = varying_settings([r.config for r in runs]) if axes is None else axes
    named = [short_name(a) for a in axes]
    rows = []
    for values, members in conditions(runs, axes):
        per_run = run_summaries(members, name, statuses=("ok", "diverged"))
        for (cell, mode), group in per_run.groupby(["cell", "mode"], sort=False):
            ok = group[group.status == "ok"]
            rows.append({"cell": cell, "mode": mode, **dict(zip(named, values)),
                         **{c: combine(spec, c, ok, group) for c in spec.summary}, "runs": len(ok)})
    return pd.DataFrame(rows, columns=["cell", "mode", *named, *spec.summary, "runs"])


def _shown(value, fmt: str) -> str:
    """A summary value as the page shows it: a name as it is, a number in the probe's format."""
    return value if isinstance(value, str) else "" if pd.isna(value) else format(value, fmt)


def columns_legend(spec) -> str:
    """What the probe's summary columns mean, as it declares (``explain``), under its table."""
    said = [f"<code>{html.escape(c)}</code>: {html.escape(spec.explain[c])}" for c in spec.summary
            if c in spec.explain]
    if not said:
        return ""
    every = f" ({', '.join(spec.every_run)}: every run that trained, diverged ones too)" if spec.every_run else ""
    return (f'<p class="note">Columns: {"; ".join(said)}; <code>runs</code>: the ok runs the row combines'
            f"{every}.</p>")


def _titled(fig, condition: str):
    """The figure with its condition added to its title (or as its title, where it has none)."""
    title = fig._suptitle  # matplotlib's own handle on the suptitle: None where there is none
    if title is None or not title.get_text():
        fig.suptitle(condition, fontsize=10)
    else:
        title.set_text(f"{title.get_text()}\n{condition}")
    return fig


def _slug(condition: str, taken: set[str]) -> str:
    """A file-name part for ``condition`` (``task-adding-length-25``), signs kept (-5 and 5 differ),
    and a number added where another condition's already took it."""
    slug = re.sub(r"[^A-Za-z0-9._+-]+", "-", condition).strip("-")
    unique, n = slug, 2
    while unique in taken:
        unique, n = f"{slug}-{n}", n + 1
    taken.add(unique)
    return unique


def figure_conditions(runs, axes: list[str], searched: str | None) -> list[tuple[tuple, list, str]]:
    """The conditions that get a figure and a finding, each with a note on why it was chosen ("" but
    in a search). A search (``searched``, its axis) trains each cell at lengths of its own, so a
    condition per length would hold only the cells that got there: for each value of the other
    settings, the one searched value with runs of the most cells (the longest of those), where as
    many cells as can be are set against each other."""
    split = conditions(runs, axes)
    if searched not in axes:
        return [(values, members, "") for values, members in split]
    at = axes.index(searched)

    def rest(values: tuple) -> tuple:
        return tuple(map(repr, values[:at] + values[at + 1:]))

    def cells(members: list) -> set:
        return {r.config.cell for r in members}

    groups: dict[tuple, list] = {}  # the conditions of each value of the other settings, in order
    for values, members in split:
        groups.setdefault(rest(values), []).append((values, members))
    name, chosen = short_name(searched), []
    for options in groups.values():
        every = set().union(*(cells(members) for _, members in options))
        values, members = max(options, key=lambda option: (len(cells(option[1])), option[0][at]))
        count = len(cells(members))
        why = (f"the longest {name} every cell trained at" if count == len(every) else
               f"the longest {name} with runs of {count} of its {len(every)} cells, the most at any {name}")
        chosen.append((values, members, why))
    return chosen


def _condition_parts(spec, runs, axes: list[str], out: Path, searched: str | None = None
                     ) -> tuple[list[str], list[Path]]:
    """The probe's finding lines and figures: one of each per condition (``figure_conditions``), each
    named by it where the runs vary (the figure as ``probe_<name>_<condition>.png``)."""
    lines, figures, taken = [], [], set()
    for values, members, why in figure_conditions(runs, axes, searched):
        condition = condition_text(axes, values) + (f" ({why})" if why else "")
        if spec.finding is not None:
            line = spec.finding(finding_table(members, spec.name))
            lines += [f"{condition}: {line}" if condition else line] if line else []
        fig = spec.figure(long_table(members, spec.name)) if spec.figure is not None else None
        if fig is not None:
            slug = _slug(condition_text(axes, values), taken)
            path = out / (f"probe_{spec.name}_{slug}.png" if slug else f"probe_{spec.name}.png")
            (_titled(fig, condition) if condition else fig).savefig(path, dpi=110)
            figures.append(path)
    return lines, figures


def section(results, out: Path, searched: str | None = None) -> str:
    """The probes' part of a report section, writing its files into ``out``; ``searched``: the
    setting a search grid searched (``task.length``), if it is one."""
    # Imported here: the page's tables (zoo.report.html -> tables) read this module's run summaries.
    from zoo.report import html as page

    # The settings the section's runs vary in (a sweep's axes), as the summary table splits by them.
    axes = varying_settings([r.config for r in results.runs])
    parts = []
    for name in probe_folders.list_probes():
        runs = [r for r in results.runs if probe_table(r, name) is not None]
        if not runs:
            continue
        spec = probe_folders.get_probe(name)
        table = summary_table(runs, name, axes)
        table.to_csv(out / spec.file_name, index=False)
        lines, figures = _condition_parts(spec, runs, axes, out, searched) if not table.empty else ([], [])
        shown = table.copy()
        for col in spec.summary:
            shown[col] = shown[col].map(lambda v: _shown(v, spec.fmt))
        # A break opportunity after each "_" of a column name, so a probe of many summary columns
        # (the spectrum's ten) wraps its header instead of widening the page.
        shown.columns = [c.replace("_", "_\u200b") for c in shown.columns]
        description = spec.description
        if spec.during == "step" and any(r.metrics.get("written_by") == "zoo.ProbeCallback" for r in runs):
            # A callback cannot see fit's steps: it measures the probe batch's gradient at its probed epochs.
            description += (" For a fit's ProbeCallback runs: the gradient of the probe batch's loss at each "
                            "probed epoch (Keras's fit does not expose its steps).")
        parts.append(f"<h3>Probe: {html.escape(name)}</h3><p>{html.escape(description)}</p>"
                     + page.findings_list(lines) + page.frame_table(shown) + columns_legend(spec)
                     + "".join(page.figure(f) for f in figures))
    return "\n".join(parts)
