"""A grid -> its runs, resolved against the registry once.

Each run gets its units (solved from the closed-form parameter counts when the
grid has a ``param_budget``), its loss (the task's own unless the grid names
one), the Keras backend, and the fingerprints of its cell's, mode's and task's
code, so that its id changes whenever its result could.
"""

from __future__ import annotations

import dataclasses

from zoo.core import catalog
from zoo.core.config import GridConfig, RunConfig, keras_backend, task_name


def solve_units(cell: str, mode: str, budget: int, window: int, horizon: int, features: int = 1,
                outputs: int = 1) -> int:
    """The units whose closed-form parameter count of cell in mode is nearest ``budget``."""
    cell_count = catalog.get_cell(cell).param_count
    count = catalog.get_mode(mode).param_count
    shape = (window, horizon, features, outputs)
    return min(range(1, 4097), key=lambda u: (abs(count(cell_count, u, *shape) - budget), u))


def model_shape(task) -> tuple[int, int, int, int]:
    """(window, horizon, features, outputs) of the models of a task's settings.

    ``window`` is the number of input steps of a "many"-layout mode: the sine
    task's window, or a memory task's whole sequence.
    """
    spec = catalog.get_task(task_name(task))
    return spec.steps(task), getattr(task, "horizon", 1), spec.features, spec.head_units




def expand(grid: GridConfig) -> list[RunConfig]:
    """Every run of ``grid``: variant x cell x mode x seed, in that order.

    Two variants can resolve to the same run (a budget that sizes a cell to
    the grid's own units); the run is listed once.
    """
    backend = keras_backend()
    runs: dict[str, RunConfig] = {}
    for g in grid.variants():
        task_spec = catalog.get_task(task_name(g.task))
        train = g.train if g.train.loss else dataclasses.replace(g.train, loss=task_spec.loss)
        for cell in g.cells:
            cell_spec = catalog.get_cell(cell)
            for mode in g.modes:
                mode_spec = catalog.get_mode(mode)
                units = g.units
                if g.param_budget is not None:
                    units = solve_units(cell, mode, g.param_budget, *model_shape(g.task))
                code = (("cell", cell_spec.fingerprint), ("mode", mode_spec.fingerprint),
                        ("task", task_spec.fingerprint))
                for seed in range(g.seeds):
                    run = RunConfig(cell, mode, seed, units, g.task, train, backend, code)
                    runs.setdefault(run.run_id, run)
    return list(runs.values())
