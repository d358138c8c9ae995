"""Reading grid files and checking every field before any work starts: the front door.

Every problem is a ``ConfigError`` whose message is one line naming the bad
value, what was expected and the nearest valid choice. The jobs live beside it:

- ``zoo.core.config_files``: finding and reading a config (a path or a shipped name);
- ``zoo.core.keys``: the valid keys, and the field a typo or an alias means;
- ``zoo.core.values``: one value (a whole number, a typed field, a list of names);
- ``zoo.core.validation``: the relations between fields (limits, modes, memory);
- ``zoo.core.quick``: ``--quick`` (a smoke run) and the ``[quick]``/``[full]`` tables;
- ``zoo.core.overrides``: the command line's flags (``--task`` and the rest) laid over a config.

Here: ``load_grid``, which runs them in order, and ``grid_from_dict``, the schema of a grid file.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

from zoo.core import catalog, horizon, report_spec
from zoo.core.config import (
    ConfigError,
    GridConfig,
    SearchSpec,
    TrainConfig,
    default_task_settings,
    nearest_safe_name,
    safe_name,
    show,
    task_in,
    task_name,
)
from zoo.core.config_files import CONFIG_DIR, read_toml, resolve_config_path, shipped_configs
from zoo.core.keys import GRID_KEYS, SEARCH_KEYS, check_keys
from zoo.core.names import nearest_hint, unknown_name_message
from zoo.core.overrides import check_honoured, switch_task
from zoo.core.quick import overlay, shrink
from zoo.core.validation import task_limit, validate
from zoo.core.values import check_type, count, fill, name_list, type_name

__all__ = ["CONFIG_DIR", "count", "grid_from_dict", "grid_to_dict", "load_grid", "quick_note", "resolve_config_path",
           "shrink", "validate"]


def load_grid(source: str | Path | None = None, quick: bool = False, full: bool = False, **overrides) -> GridConfig:
    """Read a grid file (or the default grid), apply overrides, validate.

    ``overrides`` are the CLI's flags: ``cells``, ``modes`` (lists or comma
    strings), ``seeds``, ``units``, ``epochs`` (which goes to ``[train]``) and
    ``task`` (a task name: the config's [task] settings and loss stay only if
    they are that task's, and its modes narrow to those the task supports).
    A ``None`` override is ignored. ``quick`` shrinks the grid to a smoke run
    (``shrink``), or applies the file's ``[quick]`` table where it has one;
    with no ``source`` it is the shipped ``quick`` grid. A flag given is a flag
    honoured: the shrink and the ``[quick]`` table change only what the
    overrides leave alone (``quick_note`` says what they changed), and an
    override the grid would silently ignore (``--epochs`` on a grid that
    trains for a number of steps) is a ``ConfigError`` naming both.
    """
    raw: dict = {}
    name = "default"
    if source is None and quick:
        source = "quick"
    if source is not None:
        path = resolve_config_path(source)
        name = path.stem if safe_name(path.stem) else nearest_safe_name(path.stem)
        raw = read_toml(path)
    unknown = [k for k in overrides if k not in ("cells", "modes", "seeds", "units", "epochs", "task")]
    if unknown:
        raise ConfigError(f"unknown override {show(unknown[0])}; expected cells, modes, seeds, units, epochs or task")
    if full:
        if quick:
            raise ConfigError("quick and full: give one of them (--quick is a smoke run, --full the config's "
                              "large form)")
        if not isinstance(raw.get("full"), dict):
            having = [n for n in shipped_configs() if isinstance(read_toml(CONFIG_DIR / f"{n}.toml").get("full"), dict)]
            raise ConfigError(f"full: the {name} config has no [full] table; configs with one: "
                              f"{', '.join(having) or 'none'}")
        raw.pop("quick", None)
        raw, name = overlay(raw, name, form="full")
    own_quick = quick and isinstance(raw.get("quick"), dict)
    if own_quick:
        raw.pop("full", None)
        raw, name = overlay(raw, name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    given = dict(overrides)
    if "epochs" in overrides:
        if "train" in raw and not isinstance(raw["train"], dict):
            raise ConfigError(f"train = {show(raw['train'])}: expected a table ([train])")
        raw.setdefault("train", {})["epochs"] = overrides.pop("epochs")
    if "task" in overrides:
        switch_task(raw, overrides.pop("task"), "modes" in overrides)
    raw.update(overrides)
    grid = grid_from_dict(raw, name=name)
    check_honoured(grid, given)
    return shrink(grid, keep=set(given)) if quick and not own_quick else grid


def quick_note(source: str | Path | None = None, flag: str = "--", **overrides) -> str:
    """The line a quick compare starts with: what ``quick`` changed, against the
    same command without it, and the overrides it left as given. ``flag`` is how
    the caller names them (``--seeds 2`` on the command line, ``seeds=2`` in the API)."""
    small = load_grid(source, quick=True, **overrides)
    try:
        full = load_grid(source, **overrides)
    except ConfigError:  # flags only the quick form takes: nothing to compare it with
        full = small
    before, after = _flat(full), _flat(small)
    # A task the quick grid leaves out is said once, by the task list; its settings are not listed as gone.
    gone = {task_name(t) for t in full.tasks} - {task_name(t) for t in small.tasks}
    changed = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)
               and not any(k.startswith(f"task.{name}.") for name in gone)]
    if small.train.steps is not None and full.train.steps is not None:  # epochs are unused there
        changed = [k for k in changed if k != "train.epochs"]
    shown = {k: f"{k} {_short(before.get(k))} -> {_short(after.get(k))}" for k in changed}
    for series in ("train", "test"):  # a shorter series: one item, which says whether its gap is the same
        points, stop = f"task.{series}_points", f"task.{series}_stop"
        if points in shown and stop in shown:
            old, new = _gap(before, series), _gap(after, series)
            gap = (": the same sampling gap" if math.isclose(old, new, rel_tol=1e-9) else
                   f": about the same sampling gap ({old:.4g} -> {new:.4g})" if math.isclose(old, new, rel_tol=0.01)
                   else "")
            shown[points] += f" ({series}_stop {before[stop]:.4g} -> {after[stop]:.4g}{gap})"
            del shown[stop]
    shown = list(shown.values())
    if source is None:
        what = "the shipped quick grid, not the default one"
    else:
        what = "the config's [quick] form" if not _shrunk(source) else f"{full.name} shrunk"
    line = f"quick (grid {small.name}, {what}): " + (", ".join(shown) if shown else "nothing to shrink")
    kept = [(f"--{k} {v}" if flag == "--" else f"{k}={v!r}") for k, v in overrides.items() if v is not None]
    return line + (f"; as given: {', '.join(kept)}" if kept else "")


def _gap(flat: dict, series: str) -> float:
    """The sampling gap of a task's ``series`` ("train" or "test") from a flat grid; NaN if it has none."""
    try:
        start, stop, points = (flat[f"task.{series}_{k}"] for k in ("start", "stop", "points"))
        return (stop - start) / (points - 1)
    except (KeyError, TypeError, ZeroDivisionError):
        return math.nan


def _shrunk(source) -> bool:
    """Whether --quick shrinks this config (it has no [quick] table of its own)."""
    return not isinstance(read_toml(resolve_config_path(source)).get("quick"), dict)


def _flat(grid: GridConfig) -> dict:
    """A grid's settings as ``key: value`` pairs, to compare two grids by."""
    d = grid.to_dict()
    flat = {k: d.get(k) for k in ("cells", "modes", "seeds", "units", "param_budget")}
    flat.update({f"task.{k}": v for k, v in d["task"].items() if k != "name"} if not d.get("tasks") else {})
    for t in d.get("tasks", []):
        flat.update({f"task.{t['name']}.{k}": v for k, v in t.items() if k != "name"})
        # The loss each task's runs train with: train.loss, or (None, where the tasks' own differ) the task's.
        flat[f"task.{t['name']}.loss"] = d["train"]["loss"] or catalog.get_task(t["name"]).loss
    flat.update({f"train.{k}": v for k, v in d["train"].items() if not (d.get("tasks") and k == "loss")})
    flat.update({f"sweep {k}": v for k, v in d["sweep"].items()})
    return flat


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        if len(value) > 4:  # a long list (every cell) by its size and first names
            return f"{len(value)} ({value[0]}, {value[1]}, ...)"
        return "[" + ", ".join(map(str, value)) + "]"
    return "none" if value is None else str(value)


def _task_names(raw_task: dict, raw_sweep) -> list[str]:
    """The grid's tasks: [task] name, or the values of a task.name sweep."""
    tasks = catalog.list_tasks()
    swept = raw_sweep.get("task.name") if isinstance(raw_sweep, dict) else None
    if swept is not None:
        if not isinstance(swept, list) or not swept:
            raise ConfigError(f"sweep.task.name = {show(swept)}: expected a non-empty list of task names")
        names = list(name_list("sweep.task.name", swept, tasks, "task"))
        if "name" in raw_task and raw_task["name"] not in names:
            raise ConfigError(f"task.name = {show(raw_task['name'])} is not among sweep.task.name = {names}")
        return names
    name = task_in(raw_task)
    if not isinstance(name, str):
        raise ConfigError(f"task.name = {show(name)}: expected a task name; valid choices: {', '.join(tasks)}")
    if name not in tasks:
        raise ConfigError("task.name: " + unknown_name_message("task", name[:60], tasks))
    return [name]


def _task_settings(name: str, given: dict, names: list[str]):
    """Task ``name``'s settings from the [task] table; unknown keys name its valid ones.

    A sub-table ``[task.<name>]`` holds settings for one task of a task.name
    sweep; plain keys apply to every task of the grid.
    """
    for key, value in given.items():
        if isinstance(value, dict) and key not in names:
            raise ConfigError(
                f"[task.{show(key).strip(chr(39))}]: a table of settings for one task, but {show(key)} is not a "
                f"task of this grid ({', '.join(names)})"
            )
    plain = {k: v for k, v in given.items() if not isinstance(v, dict)}
    values = {**plain, **given.get(name, {})}
    cls = catalog.get_task(name).settings
    keys = ["name", *(f.name for f in dataclasses.fields(cls))]
    where = f"[task] (task {name})"
    check_keys(where, {"name": name, **values}, keys, table="task")
    try:
        return fill(cls, "task", values, keys_where=where)
    except ValueError as exc:  # the task's own checks (``require``): their message is the answer
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"task: {exc}") from None
    except Exception as exc:  # a bug in the task's settings class (a user's file): where, in one line
        raise ConfigError(_settings_bug(name, cls, exc)) from None


def _settings_bug(name: str, cls: type, exc: Exception) -> str:
    """``task 'x': its settings raised NameError: name 'requre' is not defined (zoo/core/tasks/x.py:31)``:
    the error and the line of the task's file that raised it (else the deepest line that did)."""
    module = sys.modules.get(cls.__module__)
    at = catalog.code_location(exc, getattr(module, "__file__", None))
    return f"task {name!r}: its settings raised {catalog.error_text(exc)}" + (f" ({at})" if at else "")


def _sweep_kinds(tasks: list | None = None) -> dict[str, tuple[type, bool]]:
    """Every sweepable key with its type and whether "none" is allowed.

    A task.* key must be a setting of every task of the grid (the default task's by default).
    """
    kinds = {"units": (int, False), "param_budget": (int, True)}
    task_fields = [{f.name: f for f in dataclasses.fields(t)} for t in (tasks or [default_task_settings()])]
    common = [f for f in task_fields[0].values() if all(f.name in other for other in task_fields[1:])]
    for table, fields in (("task", common), ("train", dataclasses.fields(TrainConfig))):
        for f in fields:
            kind = type_name(f)
            base = {"int": int, "float": float, "str": str}[kind.replace(" | None", "")]
            kinds[f"{table}.{f.name}"] = (base, "None" in kind)
    return kinds


def _parse_sweep(raw, tasks: list | None = None) -> tuple:
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep = {show(raw)}: expected a table ([sweep])")
    kinds = _sweep_kinds(tasks)
    names = [task_name(t) for t in tasks or [default_task_settings()]]
    where = f"[sweep] (task {', '.join(names)})"
    check_keys(where, {k: v for k, v in raw.items() if k != "task.name"}, list(kinds) + ["task.name"],
                table="sweep")
    axes = []
    for key, values in raw.items():
        if key == "task.name":
            axes.append((key, tuple(names)))
            continue
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key} = {show(values)}: expected a non-empty list of values")
        kind, optional = kinds[key]
        parsed = []
        for v in values:
            if optional and isinstance(v, str) and v.lower() == "none":
                parsed.append(None)
            else:
                parsed.append(check_type(f"sweep.{key}", v, kind))
        if len(set(parsed)) != len(parsed):
            raise ConfigError(f"sweep.{key} = {show(values)}: a value is listed twice")
        axes.append((key, tuple(parsed)))
    return tuple(axes)


def _check_name(value) -> str:
    value = check_type("name", value, str)
    if not safe_name(value):
        raise ConfigError(
            f"name = {show(value)}: expected a plain file name (letters, digits, _ . + -, not starting with . or -, "
            f"at most 80 characters, no '/'), such as {show(nearest_safe_name(value))}"
        )
    return value


def grid_from_dict(raw: dict, name: str = "default") -> GridConfig:
    check_keys("the config", raw, GRID_KEYS, table="")
    for table in ("task", "train", "quick", "full", "search"):
        if table in raw and not isinstance(raw[table], dict):
            raise ConfigError(f"{table} = {show(raw[table])}: expected a table ([{table}])")
    for form in ("quick", "full"):
        if form in raw:
            check_keys(f"[{form}]", raw[form], [k for k in GRID_KEYS if k not in ("quick", "full")], table="")
    raw_task = dict(raw.get("task", {}))
    names = _task_names(raw_task, raw.get("sweep", {}))
    raw_task.pop("name", None)
    tasks = [_task_settings(n, raw_task, names) for n in names]
    specs = [catalog.get_task(n) for n in names]
    base = GridConfig()
    train = fill(TrainConfig, "train", raw.get("train", {}))
    if "loss" not in raw.get("train", {}):  # the task's own loss, unless the swept tasks differ
        losses = {spec.loss for spec in specs}
        train = dataclasses.replace(train, loss=losses.pop() if len(losses) == 1 else None)
    modes = raw.get("modes")
    if modes is None:  # the default modes the tasks support, else every mode they support
        supported = [m for m in catalog.list_modes() if all(s.supports(catalog.get_mode(m)) for s in specs)]
        modes = [m for m in base.modes if m in supported] or supported
    budget = raw.get("param_budget")
    swept = isinstance(raw.get("sweep"), dict) and "task.name" in raw["sweep"]
    grid = GridConfig(
        cells=name_list("cells", raw.get("cells", base.cells), catalog.list_cells(), "cell"),
        modes=name_list("modes", modes, catalog.list_modes(), "mode"),
        seeds=check_type("seeds", raw.get("seeds", base.seeds), int),
        units=check_type("units", raw.get("units", base.units), int),
        task=tasks[0],
        train=train,
        param_budget=None if budget is None else check_type("param_budget", budget, int),
        sweep=_parse_sweep(raw.get("sweep", {}), tasks),
        name=_check_name(raw.get("name", name)),
        experiment=check_type("experiment", raw.get("experiment", ""), str),
        tasks=tuple(tasks) if swept else (),
        search=_parse_search(raw["search"], tasks) if "search" in raw else None,
    )
    if "report" in raw:  # checked against what the grid sweeps (zoo.core.report_spec)
        grid = dataclasses.replace(grid, report=report_spec.parse(raw["report"], grid))
    if grid.search is not None and grid.search.axis in dict(grid.sweep):
        raise ConfigError(f"sweep.{grid.search.axis}: the axis [search] searches; leave it out of [sweep] "
                          f"(the search chooses its values from search.ladder = {list(grid.search.ladder)})")
    if grid.search is not None:
        _check_search_grid(grid, tasks)
    try:
        variants = grid.variants()
        if grid.search is not None:  # every length the search may ask for, at the ends of its ladder
            ends = sorted({grid.search.ladder[0], grid.search.ladder[-1]})
            variants = [v.at(grid.search.axis, value) for v in variants for value in ends]
    except ValueError as exc:  # a swept task setting its own checks refuse
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{'search' if grid.search else 'sweep'}: {exc}") from None
    for variant in variants:
        validate(variant)
    return grid


SEARCH_SWEEPS = ("task.name", "train.learning_rate")  # what a search's report tells apart, beside the cell


def _check_search_grid(grid: GridConfig, tasks: list) -> None:
    """A search line is task x cell x learning rate at one mode, and it climbs the task's own length
    (what each run reports as its length): the horizon report reads exactly that."""
    if len(grid.modes) != 1:
        raise ConfigError(f"modes = {show(list(grid.modes))}: a [search] grid trains one mode "
                          "(its horizon is per task, cell and learning rate); compare modes in separate configs")
    other = [k for k, _ in grid.sweep if k not in SEARCH_SWEEPS]
    if other:
        raise ConfigError(f"sweep.{other[0]}: a [search] grid sweeps only {' and '.join(SEARCH_SWEEPS)}; "
                          "search each other setting in its own config")
    lengths = {f"task.{catalog.get_task(task_name(t)).length}" for t in tasks}
    if lengths != {grid.search.axis}:
        raise ConfigError(f"search.axis = {show(grid.search.axis)}: a search climbs its tasks' length setting "
                          f"({', '.join(sorted(lengths))})")


def _parse_search(raw, tasks: list) -> SearchSpec:
    """The ``[search]`` table: ``ladder`` (ascending lengths), ``axis`` (default task.length, a whole-number
    setting of every task), ``beyond`` and ``refine``."""
    check_keys("[search]", raw, SEARCH_KEYS)
    if "ladder" not in raw:
        raise ConfigError("[search] has no ladder: expected the lengths to climb, such as ladder = [25, 50, 100, 200]")
    ladder = raw["ladder"]
    if not isinstance(ladder, list) or not ladder:
        raise ConfigError(f"search.ladder = {show(ladder)}: expected a non-empty list of lengths, "
                          "such as [25, 50, 100]")
    axis = check_type("search.axis", raw.get("axis", "task.length"), str)
    ints = [k for k, (kind, _) in _sweep_kinds(tasks).items() if kind is int and k.startswith("task.")]
    if axis not in ints:
        raise ConfigError(f"search.axis = {show(axis)}: expected a whole-number setting of every task of the grid; "
                          f"valid choices: {', '.join(ints)}" + nearest_hint(axis, ints))
    spec = SearchSpec(
        ladder=tuple(count("search.ladder", v, low=1) for v in ladder),
        axis=axis,
        beyond=count("search.beyond", raw.get("beyond", 1), low=0, high=100),
        refine=count("search.refine", raw.get("refine", 0), low=0, high=20),
    )
    problems = horizon.check(spec)
    if problems:
        raise ConfigError(problems[0])
    limit = task_limit([catalog.get_task(task_name(t)) for t in tasks], axis.removeprefix("task."))
    if limit is not None and spec.ladder[-1] > limit:
        raise ConfigError(f"search.ladder: {spec.ladder[-1]:,} for {axis}, expected at most {limit:,}")
    return spec


def grid_to_dict(grid: GridConfig) -> dict:
    """The inverse of ``grid_from_dict``."""
    return grid.to_dict()
