"""The notebook API: ``zoo.compare`` and ``zoo.load_runs``."""

from __future__ import annotations

from pathlib import Path

from zoo import report
from zoo.core.loading import load_grid
from zoo.engine.saving import load_model  # noqa: F401  (re-exported)
from zoo.report import Results, load_runs  # noqa: F401  (re-exported)
from zoo.runs import runner, store
from zoo.runs.executors import make_executor


def compare(
    cells=None,
    modes=None,
    seeds: int | None = None,
    epochs: int | None = None,
    units: int | None = None,
    config: str | None = None,
    runs: str | Path = "runs",
    reports: str | Path | None = "reports",
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    device: str = "auto",
) -> Results:
    """Train the grid's missing runs and return its ``Results``.

    Example:
        res = zoo.compare(cells=["gru", "lstm"], modes=["many_to_one"], seeds=3, epochs=20)
        res.summary        # pandas DataFrame
        res.plot_loss()    # matplotlib Figure
    """
    grid = load_grid(config or "default", cells=cells, modes=modes, seeds=seeds, epochs=epochs, units=units)
    if reports is not None:
        report.check_folders(Path(runs), Path(reports))
    runner.execute(grid, Path(runs), executor=make_executor(executor, jobs, address, device=device))
    if reports is not None:
        return report.build(Path(runs), Path(reports), compared=grid.name)
    return load_runs(runs, store.read_grids(Path(runs))[grid.name]["run_ids"])
