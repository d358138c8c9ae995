"""A run's model and data, from its resolved cell and mode specs."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from zoo.core import catalog
from zoo.core.config import RunConfig, TaskConfig
from zoo.core.registry import CellSpec, ModeSpec
from zoo.core.tasks import sine


@dataclass(frozen=True)
class Resolved:
    """A run with its cell and mode looked up once, passed down from there."""

    run: RunConfig
    cell: CellSpec
    mode: ModeSpec

    @classmethod
    def of(cls, run: RunConfig) -> "Resolved":
        return cls(run, catalog.get_cell(run.cell), catalog.get_mode(run.mode))


def _specs(cell: CellSpec | str, mode: ModeSpec | str) -> tuple[CellSpec, ModeSpec]:
    # Names are accepted for notebooks and tests; a run passes resolved specs.
    cell = catalog.get_cell(cell) if isinstance(cell, str) else cell
    mode = catalog.get_mode(mode) if isinstance(mode, str) else mode
    return cell, mode


def build_model(cell: CellSpec | str, mode: ModeSpec | str, units: int, window: int, horizon: int) -> keras.Model:
    """The Keras model of one cell in one mode."""
    cell, mode = _specs(cell, mode)
    return mode.builder(lambda: cell.builder(units), window, horizon)


def expected_param_count(cell: CellSpec | str, mode: ModeSpec | str, units: int, window: int, horizon: int) -> int:
    """Closed-form parameter count of ``build_model(...)``."""
    cell, mode = _specs(cell, mode)
    return mode.param_count(cell.param_count, units, window, horizon)


def make_data(task: TaskConfig, mode: ModeSpec | str) -> tuple[sine.Windows, sine.Windows]:
    """The training and test windows of the task, cut for the mode."""
    mode = catalog.get_mode(mode) if isinstance(mode, str) else mode
    train = sine.series(task.train_start, task.train_stop, task.train_points)
    test = sine.series(task.test_start, task.test_stop, task.test_points)

    def cut(values):
        return sine.make_windows(values, task.window, task.horizon, mode.layout, mode.target)

    return cut(train), cut(test)


def model_of(r: Resolved) -> keras.Model:
    t = r.run.task
    return build_model(r.cell, r.mode, r.run.units, t.window, t.horizon)


def weight_group(path: str) -> str:
    """Gradient group of a variable: ``<layer>.input_kernel`` and so on, or ``head``."""
    parts = path.split("/")
    layer, leaf = parts[0], parts[-1]
    if layer == "head":
        return "head"
    return f"{layer}.{'input_kernel' if leaf == 'kernel' else leaf}"
