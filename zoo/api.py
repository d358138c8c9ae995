"""The notebook API: ``zoo.compare`` and ``zoo.load_runs``."""

from __future__ import annotations

from pathlib import Path

from zoo import report, runner
from zoo.config import load_grid
from zoo.report import Results, load_runs  # noqa: F401  (re-exported)
from zoo.store import load_model  # noqa: F401  (re-exported)


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
) -> Results:
    """Train the grid's missing runs and return its ``Results``.

    Example:
        res = zoo.compare(cells=["gru", "lstm"], modes=["many_to_one"], seeds=3, epochs=20)
        res.summary        # pandas DataFrame
        res.plot_loss()    # matplotlib Figure
    """
    grid = load_grid(config or "default", cells=cells, modes=modes, seeds=seeds, epochs=epochs, units=units)
    from zoo.executors import make_executor

    jobs = jobs or runner.default_jobs()
    runner.execute(grid, Path(runs), executor=make_executor(executor, jobs, address))
    if reports is not None:
        return report.build(Path(runs), Path(reports), grid)
    return load_runs(runs, grid)
