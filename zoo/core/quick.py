"""``--quick`` and ``--full``: a grid as a smoke run of the same shape, or a config's large form."""

from __future__ import annotations

import dataclasses

from zoo.core.config import DEFAULT_TASK, GridConfig, TaskConfig, task_name
from zoo.core.keys import GRID_KEYS, check_keys
from zoo.core.validation import validate


def overlay(raw: dict, name: str, form: str = "quick") -> tuple[dict, str]:
    """The config with its ``[quick]`` (or ``[full]``) table laid over it (tables merge key by key)."""
    quick = raw.pop(form)
    check_keys(f"[{form}]", quick, [k for k in GRID_KEYS if k not in ("quick", "full")], table="")
    merged = dict(raw)
    for key, value in quick.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged, f"{name}-{form}"


# What --quick makes of any grid: one seed, a few epochs, short series.
QUICK_EPOCHS, QUICK_TRAIN_POINTS, QUICK_TEST_POINTS, QUICK_STEPS = 5, 2000, 200, 200


def _short_series(t: TaskConfig, horizon: int, window: int, batch: int) -> TaskConfig:
    """The task's series cut short at the same sampling gaps, still long enough
    for the largest window and batch of the grid."""
    train = min(t.train_points, max(QUICK_TRAIN_POINTS, window + horizon + batch))
    test = min(t.test_points, max(QUICK_TEST_POINTS, window + horizon + 1))
    return dataclasses.replace(
        t,
        train_points=train,
        train_stop=t.train_start + t.train_gap * (train - 1),
        test_points=test,
        test_stop=t.test_start + t.test_gap * (test - 1),
    )


def shrink(grid: GridConfig, keep=frozenset()) -> GridConfig:
    """``--quick``: any grid as a smoke run of the same shape. One seed, at most
    5 epochs, series of at most 2,000 training and 200 test points at the
    same sampling gaps; cells, modes, sizes and sweep axes stay. The name gets
    ``-quick`` when anything changed, so its runs never pass for the full grid's.
    A grid of other tasks keeps their settings and trains one seed for at
    most 5 epochs or 200 steps (a config can say better in a ``[quick]`` table).
    ``keep`` names what the user set (``seeds``, ``epochs``): it stays as given."""
    seeds = grid.seeds if "seeds" in keep else 1
    epochs = grid.train.epochs if "epochs" in keep else min(grid.train.epochs, QUICK_EPOCHS)
    variants = grid.variants()
    if any(task_name(v.task) != DEFAULT_TASK for v in variants):
        train = dataclasses.replace(grid.train, epochs=epochs)
        if train.steps is not None:
            train = dataclasses.replace(train, steps=min(train.steps, QUICK_STEPS),
                                        eval_every=min(train.eval_every, QUICK_STEPS))
        small = dataclasses.replace(grid, seeds=seeds, train=train)
        if small == grid:
            return grid
        small = dataclasses.replace(small, name=grid.name + "-quick")
        for variant in small.variants():
            validate(variant)
        return small
    window = max(v.task.window for v in variants)
    horizon = max(v.task.horizon for v in variants)
    batch = max(v.train.batch_size for v in variants)
    sweep = []
    for key, values in grid.sweep:
        if key == "train.epochs":
            values = tuple(dict.fromkeys(min(v, QUICK_EPOCHS) for v in values))
        elif key in ("task.train_points", "task.test_points"):
            cap = QUICK_TRAIN_POINTS if key == "task.train_points" else QUICK_TEST_POINTS
            values = tuple(dict.fromkeys(min(v, max(cap, window + horizon + batch)) for v in values))
        sweep.append((key, values))
    small = dataclasses.replace(
        grid,
        seeds=seeds,
        task=_short_series(grid.task, horizon, window, batch),
        train=dataclasses.replace(grid.train, epochs=epochs),
        sweep=tuple(sweep),
    )
    if small == grid:
        return grid
    small = dataclasses.replace(small, name=grid.name + "-quick" if grid.name != "quick" else grid.name)
    for variant in small.variants():
        validate(variant)
    return small
