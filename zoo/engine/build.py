"""A run's model and data, from its resolved cell, mode and task specs."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from zoo.core import catalog
from zoo.core.config import RunConfig, TaskConfig, task_name
from zoo.core.registry import CellSpec, ModeSpec, TaskSpec
from zoo.core.tasks.data import TaskData
from zoo.models.parallel import with_parallel_forms


@dataclass(frozen=True)
class Resolved:
    """A run with its cell, mode and task looked up once, passed down from there."""

    run: RunConfig
    cell: CellSpec
    mode: ModeSpec
    task: TaskSpec

    @classmethod
    def of(cls, run: RunConfig) -> "Resolved":
        return cls(run, catalog.get_cell(run.cell), catalog.get_mode(run.mode), catalog.get_task(run.task_name))

    @property
    def loss(self) -> str:
        """The run's loss: its own, or its task's."""
        return self.run.train.loss or self.task.loss


def _specs(cell: CellSpec | str, mode: ModeSpec | str) -> tuple[CellSpec, ModeSpec]:
    # Names are accepted for notebooks and tests; a run passes resolved specs.
    cell = catalog.get_cell(cell) if isinstance(cell, str) else cell
    mode = catalog.get_mode(mode) if isinstance(mode, str) else mode
    return cell, mode


def build_model(cell: CellSpec | str, mode: ModeSpec | str, units: int, window: int, horizon: int,
                features: int = 1, outputs: int = 1, activation: str | None = None) -> keras.Model:
    """The Keras model of one cell in one mode (a task's input features and head, if not the sine's).

    A cell with a parallel form trains through it (``zoo.models.parallel``)."""
    cell, mode = _specs(cell, mode)
    head = {} if (features, outputs, activation) == (1, 1, None) else (
        {"features": features, "outputs": outputs, "activation": activation})
    return with_parallel_forms(mode.builder(lambda: cell.builder(units), window, horizon, **head))


def expected_param_count(cell: CellSpec | str, mode: ModeSpec | str, units: int, window: int, horizon: int,
                         features: int = 1, outputs: int = 1) -> int:
    """Closed-form parameter count of ``build_model(...)``."""
    cell, mode = _specs(cell, mode)
    return mode.param_count(cell.param_count, units, window, horizon, features, outputs)


def make_data(task: TaskConfig, mode: ModeSpec | str, seed: int = 0) -> tuple[TaskData, TaskData]:
    """The training and test sets of the task (any task's settings), cut for the mode."""
    mode = catalog.get_mode(mode) if isinstance(mode, str) else mode
    return catalog.get_task(task_name(task)).checked_data(task, seed, mode)


def model_shape(r: Resolved) -> dict:
    """The shape arguments of ``build_model`` for a resolved run."""
    t = r.run.task
    return {
        "window": r.task.steps(t),
        "horizon": getattr(t, "horizon", 1),
        "features": r.task.features,
        "outputs": r.task.head_units,
    }


def model_of(r: Resolved) -> keras.Model:
    return build_model(r.cell, r.mode, r.run.units, activation=r.task.head_activation, **model_shape(r))


def state_activation(model: keras.Model) -> str | None:
    """The activation whose output the first recurrent layer's state h is, where that is known:
    a cell's own ``state_activation`` attribute (a hand-written cell may set it), or a Keras
    ``SimpleRNNCell``'s activation; None for any other cell. The report says tanh' = 1 - h²
    only of a tanh state (for an LSTM's h = o tanh(c), a ReLU or a linear state it is not)."""
    for layer in model._flatten_layers(include_self=False):
        cell = getattr(layer, "cell", None)
        if cell is None:
            continue
        declared = getattr(cell, "state_activation", None)
        if isinstance(declared, str):
            return declared
        if isinstance(cell, keras.layers.SimpleRNNCell):
            return getattr(cell.activation, "__name__", None)
        return None
    return None


def weight_group(path: str, recurrent: bool = False) -> str:
    """Gradient group of a variable: ``<layer>.input_kernel`` and so on, or ``head``.

    ``recurrent``: a weight its cell declares its recurrence runs through (``RECURRENT_WEIGHTS``:
    LEM's z_kernel, the LRU's ν and θ, RG-LRU's a), which joins ``<layer>.recurrent_kernel``.
    """
    parts = path.split("/")
    layer, leaf = parts[0], parts[-1]
    if layer == "head":
        return "head"
    return f"{layer}.{group_kind(leaf, recurrent)}"


def group_kind(leaf: str, recurrent: bool = False) -> str:
    """A recurrent layer's weight's kind by its name: ``recurrent_kernel`` for a weight its cell declares
    recurrent, ``input_kernel`` for ``kernel``, else its own name (``recurrent_kernel``, ``bias``...)."""
    return "recurrent_kernel" if recurrent else "input_kernel" if leaf == "kernel" else leaf
