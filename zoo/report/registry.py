"""What draws and writes each name of a ``[report]`` table (``zoo.core.report_spec``).

Three small registries keyed by the vocabulary's names:

- a *figure* ``(grid, results, column) -> Figure | None`` (None: the runs hold
  nothing to draw yet; ``column`` is the swept setting it reads, if any);
- a *finding* ``(grid, results, column) -> [sentence]``;
- a *section type* ``(grid, results, out) -> html`` that writes its own tables
  and figures into ``out`` and returns "" where its runs have nothing for it.

Registering a name that the vocabulary lacks is an error at import, and
``tests/test_report_registry.py`` checks that every name has its entry, so
the two cannot drift apart. No Keras here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from zoo.core import report_spec
from zoo.core.config import short_name
from zoo.report import (
    answer,
    clipping_plots,
    findings,
    horizon_section,
    lineage,
    memory_section,
    through_time_plots,
    training_plots,
)
from zoo.report import probes as probe_report

FIGURES: dict[str, Callable] = {}
FINDINGS: dict[str, Callable] = {}
SECTIONS: dict[str, Callable] = {}
_TABLES = {"figures": FIGURES, "findings": FINDINGS, "sections": SECTIONS}


def _register(kind: str, name: str):
    if name not in report_spec.KINDS[kind]:
        raise ValueError(f"report {kind} {name!r} is not in zoo.core.report_spec.{kind.upper()}; "
                         f"declare it there first (its one-line description and the settings it reads)")

    def decorate(fn):
        _TABLES[kind][name] = fn
        return fn

    return decorate


def column(kind: str, name: str, grid) -> str | None:
    """The summary column of the swept setting item ``name`` reads (``train.clipnorm`` -> ``clipnorm``)."""
    key = report_spec.axis(report_spec.KINDS[kind][name], [k for k, _ in grid.sweep])
    return short_name(key) if key else None


# ---------------------------------------------------------------------- figures


@_register("figures", "decay_by_window")
def _decay_by_window(grid, results, column):
    return through_time_plots.decay_by_window(results.probes) if column in results.probes.columns else None


@_register("figures", "clipping")
def _clipping(grid, results, column):
    return clipping_plots.clipping(results.epochs, column) if column in results.epochs.columns else None


@_register("figures", "explosion_by_lag")
def _explosion_by_lag(grid, results, column):
    if column not in results.epochs.columns:
        return None
    return clipping_plots.explosion_by_lag(results.probes, results.gradients, column)


@_register("figures", "params_vs_mae")
def _params_vs_mae(grid, results, column):
    return training_plots.params_vs_mae(results.summary) if "units" in results.summary.columns else None


@_register("figures", "gradient_by_lag")
def _gradient_by_lag(grid, results, column):
    return through_time_plots.gradient_by_lag(results.probes, results.summary) if not results.probes.empty else None


# --------------------------------------------------------------------- findings


@_register("findings", "window")
def _window(grid, results, column):
    return findings.window_findings(results.summary) if not results.probes.empty else []


@_register("findings", "clipping")
def _clip(grid, results, column):
    return findings.clipping_findings(results.summary, results.probes, column, results.diverged)


@_register("findings", "budget")
def _budget(grid, results, column):
    return findings.budget_findings(results.summary)


@_register("findings", "divergence")
def _divergence(grid, results, column):
    return findings.divergence_findings(results.summary, results.diverged)


@_register("findings", "gradient")
def _gradient(grid, results, column):
    return [answer.gradient_line(results.summary)]


# --------------------------------------------------------------------- sections


@_register("sections", "lineage")
def _lineage(grid, results, out: Path) -> str:
    return lineage.section(grid, results, out)


@_register("sections", "memory")
def _memory(grid, results, out: Path) -> str:
    return memory_section.section(results, out)


@_register("sections", "horizon")
def _horizon(grid, results, out: Path) -> str:
    return horizon_section.section(grid, results, out) if grid.search is not None else ""


@_register("sections", "probes")
def _probes(grid, results, out: Path) -> str:
    return probe_report.section(results, out, grid.search.axis if grid.search is not None else None)


# ------------------------------------------------------------------------- use


def figures(grid, results) -> dict:
    """``{file name: Figure}`` of the figures the grid declares, in its order, where its runs have them."""
    drawn = {}
    for name in report_spec.spec_of(grid).figures:
        fig = FIGURES[name](grid, results, column("figures", name, grid))
        if fig is not None:
            drawn[f"{name}.png"] = fig
    return drawn


def finding_lines(grid, results) -> list[str]:
    """The sentences of the findings the grid declares; whether runs diverged where they say nothing."""
    summary = results.summary
    if summary.empty or not (summary.ok.sum() + summary.diverged.sum()):
        return ["No finished runs yet."]
    lines = [line for name in report_spec.spec_of(grid).findings
             for line in FINDINGS[name](grid, results, column("findings", name, grid))]
    return lines or findings.divergence_findings(summary, results.diverged)


def sections(grid, results, out: Path) -> str:
    """The HTML of the section types the grid declares, in its order."""
    return "".join(SECTIONS[name](grid, results, out) for name in report_spec.spec_of(grid).sections)
