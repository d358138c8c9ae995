"""``--quick`` and ``--full``: a grid as a smoke run of the same shape, or a config's large form."""

from __future__ import annotations

import dataclasses

from zoo.core import catalog
from zoo.core.config import GridConfig, task_name
from zoo.core.keys import GRID_KEYS, check_keys
from zoo.core.validation import validate

QUICK_SUFFIX = "-quick"  # a grid's quick form is named so, and its runs never pass for the full grid's


def full_form(name: str) -> tuple[str, bool]:
    """The name of the grid whose quick form ``name`` is (``name`` itself where it is none), and
    whether it is one: ("memory", True) for "memory-quick"."""
    return name.removesuffix(QUICK_SUFFIX), name.endswith(QUICK_SUFFIX)


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


# What --quick makes of any grid: one seed, a few epochs or steps (and less data, where its task says how).
QUICK_EPOCHS, QUICK_STEPS = 5, 200


def shrink(grid: GridConfig, keep=frozenset()) -> GridConfig:
    """``--quick``: any grid as a smoke run of the same shape. One seed, at most
    5 epochs or 200 steps; cells, modes, sizes and sweep axes stay. A grid of
    one task that declares how to shrink its data (``TaskSpec.quick``: the sine
    task keeps at most 2,000 training and 200 test points, at the same sampling
    gaps) gets that too, swept values included. The name gets ``-quick`` when
    anything changed, so its runs never pass for the full grid's (a config can
    say better in a ``[quick]`` table). ``keep`` names what the user set
    (``seeds``, ``epochs``): it stays as given."""
    seeds = grid.seeds if "seeds" in keep else 1
    epochs = grid.train.epochs if "epochs" in keep else min(grid.train.epochs, QUICK_EPOCHS)
    train = dataclasses.replace(grid.train, epochs=epochs)
    if train.steps is not None:
        train = dataclasses.replace(train, steps=min(train.steps, QUICK_STEPS),
                                    eval_every=min(train.eval_every, QUICK_STEPS))
    variants = grid.variants()
    spec = None if grid.tasks else catalog.get_task(task_name(grid.task))
    shrink_data = spec.quick if spec is not None and spec.quick is not None else None
    task, sweep = grid.task, []
    if shrink_data is not None:
        need = [v.task for v in variants]
        batch = max(v.train.batch_size for v in variants)
        task = shrink_data(grid.task, need, batch)
    for key, values in grid.sweep:
        if key == "train.epochs":
            values = tuple(dict.fromkeys(min(v, QUICK_EPOCHS) for v in values))
        elif shrink_data is not None and key.startswith("task."):  # each swept value as the task shrinks it
            setting = key.removeprefix("task.")
            values = tuple(dict.fromkeys(
                getattr(shrink_data(dataclasses.replace(grid.task, **{setting: v}), need, batch), setting)
                for v in values))
        sweep.append((key, values))
    small = dataclasses.replace(grid, seeds=seeds, task=task, train=train, sweep=tuple(sweep))
    if small == grid:
        return grid
    small = dataclasses.replace(small, name=grid.name + QUICK_SUFFIX if grid.name != "quick" else grid.name)
    for variant in small.variants():
        validate(variant)
    return small
