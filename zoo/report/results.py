"""``Results``: a grid's stored runs as pandas tables and matplotlib figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from os import PathLike
from pathlib import Path

import pandas as pd

from zoo import store
from zoo.core.colors import shared_cells
from zoo.core.config import ConfigError, MissingPathError, show
from zoo.report import plots, table_text, tables, through_time_plots, training_plots


@dataclass
class Results:
    """The runs of one comparison, for notebooks and for the report."""

    runs: list = field(repr=False)
    missing: list = field(default_factory=list, repr=False)  # run ids of the grid not stored
    damaged: list = field(default_factory=list, repr=False)  # messages for unreadable folders
    foreign: list = field(default_factory=list, repr=False)  # another rnn-zoo version's folders and records
    answer: list = field(default_factory=list, repr=False)  # the report page's opening lines, once it is written

    @cached_property
    def summary(self) -> pd.DataFrame:
        """A row per cell x mode: the table of ``reports/summary.csv``."""
        return tables.summary_table(self.runs)

    @property
    def diverged(self) -> pd.DataFrame:
        """A row per diverged run: when, its peak gradient norm, and why (through time or step size)."""
        return tables.diverged_table(self.runs)

    @property
    def epochs(self) -> pd.DataFrame:
        """Every run's per-epoch numbers (``reports/epochs.csv``)."""
        return tables.long_table(self.runs, "history")

    @property
    def gradients(self) -> pd.DataFrame:
        """Per-epoch gradient norms per weight group, every run."""
        return tables.long_table(self.runs, "gradients")

    @property
    def probes(self) -> pd.DataFrame:
        """dL/dx and dh_T/dh_t by lag at the probed epochs (0: the initial weights), every
        run, with the one-step Jacobian's spectrum of each probed epoch on its rows."""
        return tables.long_table(self.runs, "probes")

    @property
    def gates(self) -> pd.DataFrame:
        """Mean gate activations at the probed epochs, every gated run."""
        return tables.long_table(self.runs, "gates")

    @property
    def predictions(self) -> pd.DataFrame:
        """Test-series truth and predictions, every run."""
        return tables.long_table(self.runs, "predictions")

    def summary_markdown(self) -> str:
        return table_text.summary_markdown(self.summary)

    @property
    def cells(self) -> list[str]:
        """The cells of these runs: every figure of them colours each the same (``shared_cells``)."""
        return sorted({r.config.cell for r in self.runs})

    def _drawn(self, draw, *tables):
        with shared_cells(self.cells):
            return plots.log_scale_where_possible(draw(*tables))

    def plot_loss(self):
        return self._drawn(training_plots.loss_curves, self.epochs, sorted({r.config.train.loss for r in self.runs}))

    def plot_gradient_norms(self):
        return self._drawn(training_plots.gradient_norms, self.epochs)

    def plot_gradient_by_lag(self):
        return self._drawn(through_time_plots.gradient_by_lag, self.probes, self.summary)

    def plot_predictions(self):
        return self._drawn(training_plots.predictions, self.predictions)


def load_runs(runs_dir: str | Path = "runs", run_ids: list[str] | None = None) -> Results:
    """Read stored runs: those named in ``run_ids``, or every run folder in ``runs_dir``.

    A ``runs_dir`` that is not a folder raises ``MissingPathError`` (a
    ``ConfigError`` and a ``FileNotFoundError``)."""
    if not isinstance(runs_dir, (str, PathLike)) or not str(runs_dir).strip() or "\0" in str(runs_dir):
        raise ConfigError(f"runs = {show(runs_dir)}: expected the path of a runs folder")
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        what = "is a file, not a runs folder" if runs_dir.exists() else "no such folder"
        raise MissingPathError(f"runs = {show(str(runs_dir))}: {what}")
    runs, missing, damaged, foreign = [], [], [], []
    if run_ids is None:
        folders = runs_dir.iterdir() if runs_dir.is_dir() else []
        paths = sorted(p for p in folders if p.is_dir() and not p.name.startswith("."))
    else:
        # Once each: two arms of a grid that resolve to one run share it.
        paths = [runs_dir / run_id for run_id in dict.fromkeys(run_ids)]
    for path in paths:
        if not path.exists():
            missing.append(path.name)
            continue
        try:
            runs.append(store.read_run(path))
        except store.CorruptRunError as exc:
            damaged.append(str(exc))
        except store.ForeignRunError as exc:
            foreign.append(str(exc))
    # A fit that continued another (ProbeCallback) holds it whole: the earlier folder is not a second run.
    continued = {r.metrics.get("continues") for r in runs} - {None}
    runs = [r for r in runs if r.path.name not in continued]
    return Results(runs, missing, damaged, foreign)
