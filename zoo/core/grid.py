"""A grid -> its runs, resolved against the registry once.

Each run gets its units (solved from the closed-form parameter counts when the
grid has a ``param_budget``), the Keras backend, and the fingerprints of its
cell's and mode's code, so that its id changes whenever its result could.
"""

from __future__ import annotations

from zoo.core import catalog
from zoo.core.config import GridConfig, RunConfig, keras_backend


def solve_units(cell: str, mode: str, budget: int, window: int, horizon: int) -> int:
    """The units whose closed-form parameter count of cell in mode is nearest ``budget``."""
    cell_count = catalog.get_cell(cell).param_count
    count = catalog.get_mode(mode).param_count
    return min(range(1, 4097), key=lambda u: (abs(count(cell_count, u, window, horizon) - budget), u))





def expand(grid: GridConfig) -> list[RunConfig]:
    """Every run of ``grid``: variant x cell x mode x seed, in that order.

    Two variants can resolve to the same run (a budget that sizes a cell to
    the grid's own units); the run is listed once.
    """
    backend = keras_backend()
    runs: dict[str, RunConfig] = {}
    for g in grid.variants():
        for cell in g.cells:
            cell_spec = catalog.get_cell(cell)
            for mode in g.modes:
                mode_spec = catalog.get_mode(mode)
                units = g.units
                if g.param_budget is not None:
                    units = solve_units(cell, mode, g.param_budget, g.task.window, g.task.horizon)
                code = (("cell", cell_spec.fingerprint), ("mode", mode_spec.fingerprint))
                for seed in range(g.seeds):
                    run = RunConfig(cell, mode, seed, units, g.task, g.train, backend, code)
                    runs.setdefault(run.run_id, run)
    return list(runs.values())
