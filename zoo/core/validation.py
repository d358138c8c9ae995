"""The relations between a grid's fields, checked before any work starts.

Each field alone was checked as it was read (``zoo.core.values``); here are
the upper bounds that catch a typo, the loss and modes a task allows, and
what fits in memory. A task's own settings are checked by what the task
declares (``TaskSpec.limits`` and ``TaskSpec.check``), whatever its name.
"""

from __future__ import annotations

from zoo.core import catalog
from zoo.core.config import LOSSES, OPTIMIZERS, ConfigError, GridConfig, show, task_name
from zoo.core.names import nearest_hint
from zoo.core.tasks.data import MAX_INPUT_VALUES
from zoo.core.values import positive

# Upper bounds: far above any sensible study on one machine, low enough that a
# typo (an extra zero or six) is an error before work starts, not a full memory.
# A task's settings have the limits the task declares (``TaskSpec.limits``).
LIMITS = {
    "seeds": 1000,
    "units": 2048,
    "param_budget": 10_000_000,
    "train.epochs": 100_000,
    "train.steps": 10_000_000,
    "train.eval_every": 1_000_000,
    "train.probes": 1000,
    "train.probe_batch": 10_000,
}


def _value_of(grid: GridConfig, key: str):
    """A field's value (``units``, ``train.epochs``)."""
    table, _, name = key.rpartition(".")
    return getattr(getattr(grid, table) if table else grid, name, None)


def task_limit(tasks, setting: str) -> int | None:
    """The upper bound the grid's ``tasks`` (their specs) put on ``setting``: the lowest they declare."""
    highs = [spec.limit(setting)[1] for spec in tasks]
    highs = [h for h in highs if h is not None]
    return min(highs) if highs else None


def check_limits(task, settings) -> None:
    """Each setting within the bounds its task declares (``TaskSpec.limits``)."""
    for name, (low, high) in task.limits:
        value = getattr(settings, name, None)
        if value is None:
            continue
        if low is not None and value < low:
            expected = f"a number greater than {low - 1}" if isinstance(low, int) else f"at least {low}"
            raise ConfigError(f"task.{name} = {show(value)}: expected {expected} (task {task.name})")
        if high is not None and value > high:
            raise ConfigError(f"task.{name} = {show(value)}: expected at most {high:,} (task {task.name})")


def validate(grid: GridConfig) -> GridConfig:
    """Check the relations between fields; returns the grid unchanged."""
    t, tr = grid.task, grid.train
    task = catalog.get_task(task_name(t))
    for key, limit in LIMITS.items():
        value = _value_of(grid, key)
        if value is not None and value > limit:
            raise ConfigError(f"{key} = {show(value)}: expected at most {limit:,}")
    check_limits(task, t)
    for name in ("epochs", "batch_size", "learning_rate", "clipnorm", "global_clipnorm", "probes", "probe_batch",
                 "steps", "eval_every"):
        positive(f"train.{name}", getattr(tr, name))
    positive("units", grid.units)
    positive("param_budget", grid.param_budget)
    positive("seeds", grid.seeds)
    losses = [loss for loss in LOSSES if (loss == "cross_entropy") == bool(task.classes)]
    if tr.loss is not None and tr.loss not in losses:
        kind = f"task {task.name} is a {task.classes}-class classification" if task.classes else (
            f"task {task.name} is a regression")
        raise ConfigError(
            f"train.loss = {show(tr.loss)}: expected one of {', '.join(losses)}"
            + (f" ({kind})" if tr.loss in LOSSES else nearest_hint(tr.loss, losses))
        )
    if tr.steps is not None and tr.steps % tr.eval_every:
        below = tr.steps - tr.steps % tr.eval_every
        raise ConfigError(
            f"train.steps = {tr.steps}: expected a multiple of train.eval_every = {tr.eval_every} "
            f"(nearest: {below or tr.eval_every} or {below + tr.eval_every})"
        )
    if tr.stop is not None and tr.stop != "solved":
        raise ConfigError(f"train.stop = {show(tr.stop)}: expected 'solved' (end a run once it solves its task), "
                          "or leave it out to train every run to the end" + nearest_hint(tr.stop, ["solved"]))
    if tr.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"train.optimizer = {show(tr.optimizer)}: expected one of {', '.join(OPTIMIZERS)}"
            + nearest_hint(tr.optimizer, OPTIMIZERS)
        )
    if tr.clipnorm is not None and tr.global_clipnorm is not None:
        raise ConfigError(
            f"train.clipnorm = {show(tr.clipnorm)} and train.global_clipnorm = {show(tr.global_clipnorm)}: "
            "set one of them, not both (Keras allows one)"
        )
    for mode in grid.modes:
        spec = catalog.get_mode(mode)
        if not task.supports(spec):
            raise ConfigError(
                f"modes: task {task.name} does not support mode {mode}; "
                f"it supports: {', '.join(catalog.task_modes(task))}"
            )
        problem = task.check(t, spec, tr) if task.check is not None else _footprint(task, t)
        if problem:
            raise ConfigError(problem)
    return grid


def _footprint(task, settings) -> str | None:
    """Training inputs in memory, for tasks that say how many examples they hold
    (``train_size`` or ``train_points``): the check of a task that declares none."""
    n = getattr(settings, "train_size", None) or getattr(settings, "train_points", None)
    if n is None:
        return None
    values = n * task.steps(settings) * task.features
    if values > MAX_INPUT_VALUES:
        return (f"task {task.name}: {n:,} training sequences of {task.steps(settings)} steps x {task.features} "
                f"features are {values:,} values in memory, expected at most {MAX_INPUT_VALUES:,}")
    return None
