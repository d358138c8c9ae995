"""The command line's flags laid over a config: ``--task`` switches its task, and every flag given is honoured."""

from __future__ import annotations

from zoo.core import catalog
from zoo.core.config import ConfigError, GridConfig, show, task_in


def switch_task(raw: dict, name, modes_given: bool) -> None:
    """``--task NAME``: train the config's grid on another task.

    The config's [task] settings and its loss, when they are its own task's,
    give way to the new task's; its modes narrow to those the task supports.
    A config that sweeps task.name, the new task among them, keeps its plain
    [task] keys and its loss (they apply to every task it sweeps) and the new
    task's own ``[task.<name>]`` table; the other tasks' tables are dropped,
    as they belong to tasks no longer trained. A table named for a task the
    grid does not train is refused, as it is without ``--task``.
    """
    if not isinstance(name, str):
        raise ConfigError(
            f"task = {show(name)}: expected a task name; valid choices: {', '.join(catalog.list_tasks())}"
        )
    if "," in name:  # several tasks are a config's task.name sweep, not a flag's
        raise ConfigError(
            f"task = {show(name)}: one task only; to compare several, sweep them in a config "
            "([sweep] \"task.name\" = [...], as zoo/configs/lineage.toml does)"
        )
    given = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    own = given.get(name) if isinstance(given.get(name), dict) else {}
    table = {k: v for k, v in given.items() if not isinstance(v, dict)}
    old = task_in(table)
    swept = raw["sweep"].get("task.name") if isinstance(raw.get("sweep"), dict) else None
    tasks = list(swept) if isinstance(swept, list) else [old]
    for key, value in given.items():
        if isinstance(value, dict) and key not in tasks:
            raise ConfigError(f"[task.{show(key).strip(chr(39))}]: a table of settings for one task, but {show(key)} "
                              f"is not a task of this grid ({', '.join(map(str, tasks))})")
    if name not in tasks:  # the settings and a loss of the config's own task(s) give way
        table = {}
        train = raw.get("train")
        if isinstance(train, dict) and any(t in catalog.list_tasks() and train.get("loss") == catalog.get_task(t).loss
                                           for t in tasks):
            raw["train"] = {k: v for k, v in train.items() if k != "loss"}
    raw["task"] = {**table, **own, "name": name}
    if isinstance(raw.get("sweep"), dict):
        raw["sweep"] = {k: v for k, v in raw["sweep"].items() if k != "task.name"}
    if not modes_given and name in catalog.list_tasks():
        supported = catalog.task_modes(catalog.get_task(name))
        modes = raw.get("modes", list(GridConfig().modes))
        modes = [m for m in modes if m in supported] if isinstance(modes, list) else modes
        raw["modes"] = modes or supported


def check_honoured(grid: GridConfig, given: dict) -> None:
    """Refuse an override that no run of the grid would use: one line naming the
    flag and the setting of the grid that takes its place."""
    variants = grid.variants()
    swept = dict(grid.sweep)
    if "epochs" in given:
        steps = sorted({v.train.steps for v in variants if v.train.steps is not None})
        if steps:
            raise ConfigError(
                f"epochs = {show(given['epochs'])}: the {grid.name} grid trains for train.steps = "
                f"{', '.join(map(str, steps))} optimizer steps, not epochs; leave out epochs "
                "(a budget in steps is set in the config's [train] table)")
        if "train.epochs" in swept:
            raise ConfigError(
                f"epochs = {show(given['epochs'])}: the {grid.name} grid sweeps train.epochs = "
                f"{list(swept['train.epochs'])}; leave out epochs, or use a config without that sweep")
    if "units" in given:
        if "units" in swept:
            raise ConfigError(
                f"units = {show(given['units'])}: the {grid.name} grid sweeps units = {list(swept['units'])}; "
                "leave out units, or use a config without that sweep")
        if all(v.param_budget is not None for v in variants):
            budgets = sorted({v.param_budget for v in variants})
            raise ConfigError(
                f"units = {show(given['units'])}: the {grid.name} grid sizes every cell to param_budget = "
                f"{', '.join(map(str, budgets))} weights, which sets its units; leave out units")
