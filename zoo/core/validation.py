"""The relations between a grid's fields, checked before any work starts.

Each field alone was checked as it was read (``zoo.core.values``); here are
the upper bounds that catch a typo, the loss and modes a task allows, and
what fits in memory.
"""

from __future__ import annotations

from zoo.core import catalog
from zoo.core.config import DEFAULT_TASK, LOSSES, OPTIMIZERS, ConfigError, GridConfig, show, task_name
from zoo.core.keys import nearest_hint
from zoo.core.values import positive

# Upper bounds: far above any sensible study on one machine, low enough that a
# typo (an extra zero or six) is an error before work starts, not a full memory.
LIMITS = {
    "seeds": 1000,
    "units": 2048,
    "param_budget": 10_000_000,
    "task.train_points": 10_000_000,
    "task.test_points": 1_000_000,
    "task.window": 10_000,
    "task.horizon": 10_000,
    "task.length": 100_000,
    "task.train_size": 10_000_000,
    "task.test_size": 1_000_000,
    "train.epochs": 100_000,
    "train.steps": 10_000_000,
    "train.eval_every": 1_000_000,
    "train.probes": 1000,
    "train.probe_batch": 10_000,
}
MAX_WINDOW_VALUES = 250_000_000  # training windows x their length: 1 GB of float32


def _value_of(grid: GridConfig, key: str):
    """A field's value, or None where the grid's task has no such setting."""
    table, _, name = key.rpartition(".")
    return getattr(getattr(grid, table) if table else grid, name, None)


def validate(grid: GridConfig) -> GridConfig:
    """Check the relations between fields; returns the grid unchanged."""
    t, tr = grid.task, grid.train
    task = catalog.get_task(task_name(t))
    sine = task.name == DEFAULT_TASK
    for key, limit in LIMITS.items():
        value = _value_of(grid, key)
        if value is not None and value > limit:
            raise ConfigError(f"{key} = {show(value)}: expected at most {limit:,}")
    if sine:
        for name in ("train_points", "test_points", "window", "horizon"):
            positive(f"task.{name}", getattr(t, name))
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
    for series in ("train", "test") if sine else ():
        start, stop = getattr(t, f"{series}_start"), getattr(t, f"{series}_stop")
        if stop <= start:
            raise ConfigError(
                f"task.{series}_stop = {show(stop)}: expected more than task.{series}_start = {show(start)} "
                f"(a series runs from start to stop)"
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
        if not sine:
            _check_footprint(task, t)
            continue
        span = t.window + (t.horizon if spec.target == "horizon" else 1)
        for series, points in (("train", t.train_points), ("test", t.test_points)):
            if points < span:
                raise ConfigError(
                    f"task.{series}_points = {points}: mode {mode} needs at least "
                    f"window + {'horizon' if spec.target == 'horizon' else '1'} = {span} points "
                    f"(window = {t.window}" + (f", horizon = {t.horizon})" if spec.target == "horizon" else ")")
                )
        n_train = t.train_points - span + 1
        if n_train * (t.window + t.horizon) > MAX_WINDOW_VALUES:
            raise ConfigError(
                f"task.train_points = {t.train_points} with window {t.window} and horizon {t.horizon}: "
                f"{n_train * (t.window + t.horizon):,} values in memory, expected at most {MAX_WINDOW_VALUES:,}"
            )
        if tr.batch_size > n_train:
            raise ConfigError(
                f"train.batch_size = {tr.batch_size}: larger than the {n_train} training windows of mode {mode}"
            )
    return grid


def _check_footprint(task, settings) -> None:
    """Training inputs in memory, for tasks that say how many examples they hold."""
    n = getattr(settings, "train_size", None) or getattr(settings, "train_points", None)
    if n is None:
        return
    values = n * task.steps(settings) * task.features
    if values > MAX_WINDOW_VALUES:
        raise ConfigError(
            f"task {task.name}: {n:,} training sequences of {task.steps(settings)} steps x {task.features} "
            f"features are {values:,} values in memory, expected at most {MAX_WINDOW_VALUES:,}"
        )
