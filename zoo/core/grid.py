"""A grid -> its runs, resolved against the registry once.

Each run gets its units (solved from the closed-form parameter counts when the
grid has a ``param_budget``), its loss (the task's own unless the grid names
one), the Keras backend, and the fingerprints of its cell's, mode's and task's
code, so that its id changes whenever its result could.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

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




def _runs_of(g: GridConfig, cell: str, mode: str) -> list[RunConfig]:
    """The seeds of one cell x mode of a sweep-free grid ``g``, resolved."""
    task_spec = catalog.get_task(task_name(g.task))
    train = g.train if g.train.loss else dataclasses.replace(g.train, loss=task_spec.loss)
    cell_spec = catalog.get_cell(cell)
    mode_spec = catalog.get_mode(mode)
    units = g.units
    if g.param_budget is not None:
        units = solve_units(cell, mode, g.param_budget, *model_shape(g.task))
    code = (("cell", cell_spec.fingerprint), ("mode", mode_spec.fingerprint), ("task", task_spec.fingerprint))
    return [RunConfig(cell, mode, seed, units, g.task, train, keras_backend(), code) for seed in range(g.seeds)]


def expand(grid: GridConfig) -> list[RunConfig]:
    """Every run of ``grid``: variant x cell x mode x seed, in that order.

    Two variants can resolve to the same run (a budget that sizes a cell to
    the grid's own units); the run is listed once. A searching grid's runs
    depend on its outcomes: ``search_lines`` gives them, line by line; here
    it lists none.
    """
    if grid.search is not None:
        return []
    runs: dict[str, RunConfig] = {}
    for g in grid.variants():
        for cell in g.cells:
            for mode in g.modes:
                for run in _runs_of(g, cell, mode):
                    runs.setdefault(run.run_id, run)
    return list(runs.values())


@dataclass(frozen=True)
class Line:
    """One line of a search (``zoo.core.horizon``): a sweep-free grid of one cell x mode whose
    searched axis the search sets, length by length."""

    grid: GridConfig
    cell: str
    mode: str

    def runs_at(self, value: int) -> list[RunConfig]:
        """Its seeds at one value of the searched axis."""
        return _runs_of(self.grid.at(self.grid.search.axis, value), self.cell, self.mode)

    @property
    def key(self) -> tuple:
        return (self.cell, self.mode, self.grid.task, self.grid.train, self.grid.units, self.grid.param_budget)


def search_lines(grid: GridConfig) -> list[Line]:
    """The lines of a searching grid: variant x cell x mode, each searched on its own.

    Resolved once against the registry (a bad name fails here, before any work)."""
    lines = []
    for g in grid.variants():
        for cell in g.cells:
            for mode in g.modes:
                line = Line(dataclasses.replace(g, search=grid.search), cell, mode)
                line.runs_at(grid.search.ladder[0])
                lines.append(line)
    return lines
