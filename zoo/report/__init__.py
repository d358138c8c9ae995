"""runs/ -> pandas tables -> reports/ (tables, plots, index page).

The report reads only stored runs, so it can be rebuilt at any time.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from zoo.config import GridConfig, grid_to_dict
from zoo.report import plots
from zoo.report.results import Results, load_runs

__all__ = ["Results", "build", "load_runs", "GRID_FILE"]

GRID_FILE = "grid.json"  # the grid a report shows, so `zoo report` can rebuild it


def build(grid: GridConfig, runs_dir: Path, reports_dir: Path) -> Results:
    """Write the report of ``grid``'s stored runs into ``reports_dir``, whole or not at all."""
    results = load_runs(runs_dir, grid)
    reports_dir = Path(reports_dir)
    reports_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = reports_dir.parent / f".{reports_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_all(results, grid, tmp)
        old = reports_dir.parent / f".{reports_dir.name}.old-{uuid.uuid4().hex[:8]}"
        if reports_dir.exists():
            os.rename(reports_dir, old)
        os.rename(tmp, reports_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def _write_all(results: Results, grid: GridConfig, out: Path) -> None:
    (out / GRID_FILE).write_text(json.dumps(grid_to_dict(grid), indent=2))
    results.summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(results.summary_markdown())
    results.epochs.to_csv(out / "epochs.csv", index=False)
    if results.epochs.empty:
        return
    figures = {
        "loss_curves.png": results.plot_loss(),
        "gradient_norms.png": results.plot_gradient_norms(),
        "gradient_by_lag.png": plots.gradient_by_lag(results.probes),
        "weight_groups.png": plots.weight_groups(results.gradients),
        "predictions.png": plots.predictions(results.predictions),
        "test_mae.png": plots.test_mae_bars(results.summary),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
        plots.plt.close(fig)


