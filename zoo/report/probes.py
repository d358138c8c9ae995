"""The registered probes in the report: a table, a figure and a finding each, from their schema.

For every registered probe (``zoo.core.probe_registry``) whose table some run
of the section has: ``probe_<name>.csv`` (a row per cell x mode, the mean over
seeds of each run's summary numbers), the probe's figure and its finding.
Nothing here knows any probe by name.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from zoo import probes as probe_folders
from zoo.report import html as page


def long_table(runs, name: str) -> pd.DataFrame:
    """Every run's ``probe_<name>.csv`` rows, with its cell, mode and seed in front."""
    frames = [r.probe_tables[name].assign(cell=r.config.cell, mode=r.config.mode, seed=r.config.seed)
              for r in runs if name in getattr(r, "probe_tables", {}) and len(r.probe_tables[name])]
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    return table[["cell", "mode", "seed", *[c for c in table.columns if c not in ("cell", "mode", "seed")]]]


def run_summaries(runs, name: str) -> pd.DataFrame:
    """A row per finished run: its cell, mode, seed and the probe's summary numbers (its reducer)."""
    spec = probe_folders.get_probe(name)
    rows = [{"cell": r.config.cell, "mode": r.config.mode, "seed": r.config.seed,
             **spec.run_summary(r.probe_tables[name])}
            for r in runs if r.metrics.get("status") == "ok" and name in getattr(r, "probe_tables", {})]
    return pd.DataFrame(rows, columns=["cell", "mode", "seed", *spec.summary])


def summary_table(runs, name: str) -> pd.DataFrame:
    """A row per cell x mode: the mean over its finished runs of each summary number, and the run count."""
    per_run = run_summaries(runs, name)
    if per_run.empty:
        return per_run
    grouped = per_run.groupby(["cell", "mode"], sort=False)
    table = grouped[list(probe_folders.get_probe(name).summary)].mean().reset_index()
    return table.assign(runs=grouped.size().to_numpy())


def section(results, out: Path) -> str:
    """The probes' part of a report section, writing its files into ``out``."""
    parts = []
    for name in probe_folders.list_probes():
        runs = [r for r in results.runs if name in getattr(r, "probe_tables", {})]
        if not runs:
            continue
        spec = probe_folders.get_probe(name)
        table = summary_table(runs, name)
        table.to_csv(out / spec.file_name, index=False)
        lines = []
        if spec.finding is not None and not table.empty:
            line = spec.finding(run_summaries(runs, name))
            lines += [line] if line else []
        figures = []
        fig = spec.figure(long_table(runs, name)) if spec.figure is not None else None
        if fig is not None:
            path = out / f"probe_{name}.png"
            fig.savefig(path, dpi=110)
            figures.append(path)
        shown = table.copy()
        for col in spec.summary:
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else format(v, spec.fmt))
        parts.append(f"<h3>Probe: {html.escape(name)}</h3><p>{html.escape(spec.description)}</p>"
                     + page.findings_list(lines) + page.frame_table(shown)
                     + "".join(page.figure(f) for f in figures))
    return "\n".join(parts)
