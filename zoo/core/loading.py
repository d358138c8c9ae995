"""Reading grid files and checking every field before any work starts.

Every problem is a ``ConfigError`` whose message is one line naming the bad
value, what was expected and the nearest valid choice. Named configs ship in
the package (``zoo/configs/``), so they resolve from any working directory.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from pathlib import Path

from zoo.core import catalog, registry
from zoo.core.config import (
    DEFAULT_TASK,
    LOSSES,
    OPTIMIZERS,
    ConfigError,
    GridConfig,
    TrainConfig,
    task_name,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


# ----------------------------------------------------------------- validation


def _nearest_hint(name: str, choices) -> str:
    near = registry.closest(name, choices)
    return f" (did you mean {near!r}?)" if near else ""


def _check_keys(where: str, given: dict, allowed) -> None:
    for key in given:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} in {where}; valid keys: {', '.join(allowed)}"
                + _nearest_hint(key, allowed)
            )


def _check_type(where: str, value, kind: type):
    """Coerce ints to floats where a float is expected; refuse anything else."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)  # CLI and TOML users write 1e3 for a count
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f"{where} = {value!r}: expected {kind.__name__}, got {type(value).__name__}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where} = {value!r}: expected a finite number")
    return value


def _type_name(f: dataclasses.Field) -> str:
    """A field's type as written (``int``, ``float | None``), whether or not its
    module postpones annotations."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _fill(cls, where: str, given: dict, keys_where: str | None = None):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(keys_where or f"[{where}]", given, list(fields))
    values = {}
    for name, value in given.items():
        kind = _type_name(fields[name])
        optional = "None" in kind
        base = kind.replace(" | None", "")
        if optional and value is None:
            values[name] = None
        else:
            values[name] = _check_type(f"{where}.{name}", value, {"int": int, "float": float, "str": str}[base])
    return dataclasses.replace(cls(), **values)


def _positive(where: str, value) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{where} = {value!r}: expected a number greater than 0")


def _names(where: str, value, choices: list[str], kind: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} = {value!r}: expected a list of {kind} names")
    if list(value) in (["all"], ["*"]):
        return tuple(choices)
    if not value:
        raise ConfigError(f"{where} is empty; valid choices: {', '.join(choices)}")
    for v in value:
        if v not in choices:
            raise ConfigError(f"{where}: " + registry.unknown_name_message(kind, v, choices))
    dupes = sorted({v for v in value if list(value).count(v) > 1})
    if dupes:
        raise ConfigError(f"{where}: {kind} {dupes[0]!r} is listed twice")
    return tuple(value)


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
            raise ConfigError(f"{key} = {value!r}: expected at most {limit:,}")
    if sine:
        for name in ("train_points", "test_points", "window", "horizon"):
            _positive(f"task.{name}", getattr(t, name))
    for name in ("epochs", "batch_size", "learning_rate", "clipnorm", "global_clipnorm", "probes", "probe_batch",
                 "steps", "eval_every"):
        _positive(f"train.{name}", getattr(tr, name))
    _positive("units", grid.units)
    _positive("param_budget", grid.param_budget)
    _positive("seeds", grid.seeds)
    losses = [loss for loss in LOSSES if (loss == "cross_entropy") == bool(task.classes)]
    if tr.loss is not None and tr.loss not in losses:
        kind = f"task {task.name} is a {task.classes}-class classification" if task.classes else (
            f"task {task.name} is a regression")
        raise ConfigError(
            f"train.loss = {tr.loss!r}: expected one of {', '.join(losses)}"
            + (f" ({kind})" if tr.loss in LOSSES else _nearest_hint(tr.loss, losses))
        )
    if tr.steps is not None and tr.steps % tr.eval_every:
        below = tr.steps - tr.steps % tr.eval_every
        raise ConfigError(
            f"train.steps = {tr.steps}: expected a multiple of train.eval_every = {tr.eval_every} "
            f"(nearest: {below or tr.eval_every} or {below + tr.eval_every})"
        )
    if tr.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"train.optimizer = {tr.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}"
            + _nearest_hint(tr.optimizer, OPTIMIZERS)
        )
    if sine and (t.train_stop <= t.train_start or t.test_stop <= t.test_start):
        raise ConfigError("task: each series needs stop > start")
    if tr.clipnorm is not None and tr.global_clipnorm is not None:
        raise ConfigError("train: set clipnorm or global_clipnorm, not both (Keras allows one)")
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
                    f"window + {'horizon' if spec.target == 'horizon' else '1'} = {span} points"
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


def resolve_config_path(name_or_path: str) -> Path:
    """A path to a TOML file, or the name of one in ``configs/``."""
    path = Path(name_or_path)
    candidates = [path] if path.suffix else [path.with_suffix(".toml"), CONFIG_DIR / f"{name_or_path}.toml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    raise ConfigError(
        f"config {name_or_path!r} not found; named configs: {', '.join(known)}"
        + _nearest_hint(name_or_path, known)
    )


def load_grid(source: str | Path | None = None, *, quick: bool = False, **overrides) -> GridConfig:
    """Read a grid file (or the default grid), apply overrides, validate.

    ``overrides`` are the CLI's flags: ``cells``, ``modes`` (lists or comma
    strings), ``seeds``, ``units``, ``epochs`` (which goes to ``[train]``) and
    ``task`` (a task name: the config's [task] settings stay only if they are
    that task's, and its modes narrow to those the task supports). A ``None``
    override is ignored. ``quick`` applies the file's ``[quick]`` table, a
    reduced form of its grid, named ``<name>-quick``.
    """
    raw: dict = {}
    name = "default"
    if source is not None:
        path = resolve_config_path(str(source))
        name = path.stem
        try:
            text = path.read_text()
            raw = tomllib.loads(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            if message.endswith("(at end of document)"):  # give the place as a line too
                lines = text.split("\n")
                where = f"(at the end: line {len(lines)}, column {len(lines[-1]) + 1})"
                message = message.replace("(at end of document)", where)
            raise ConfigError(f"{path}: malformed TOML: {message}") from None
    if quick:
        raw, name = _quick(raw, name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "epochs" in overrides:
        raw.setdefault("train", {})["epochs"] = overrides.pop("epochs")
    if "task" in overrides:
        _switch_task(raw, overrides.pop("task"), "modes" in overrides)
    raw.update(overrides)
    return grid_from_dict(raw, name=name)


def _quick(raw: dict, name: str) -> tuple[dict, str]:
    """The config with its ``[quick]`` table laid over it (tables merge key by key)."""
    quick = raw.pop("quick", None)
    if not isinstance(quick, dict):
        raise ConfigError(
            f"config {name!r} has no [quick] table, so it has no quick form; "
            "--quick alone runs the quick smoke grid (zoo/configs/quick.toml)"
        )
    _check_keys("[quick]", quick, [k for k in GRID_KEYS if k != "quick"])
    merged = dict(raw)
    for key, value in quick.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged, f"{name}-quick"


def _switch_task(raw: dict, name, modes_given: bool) -> None:
    """``--task NAME``: train the config's grid on another task.

    The config's [task] settings and its loss, when they are its own task's,
    give way to the new task's; its modes narrow to those the task supports.
    """
    if not isinstance(name, str):
        raise ConfigError(f"task = {name!r}: expected a task name")
    table = raw.get("task") if isinstance(raw.get("task"), dict) else {}
    old = table.get("name", DEFAULT_TASK)
    if old != name:  # the config's settings belong to its own task, and so does a loss that is its task's
        table = {}
        train = raw.get("train")
        if isinstance(train, dict) and old in catalog.list_tasks() and train.get("loss") == catalog.get_task(old).loss:
            raw["train"] = {k: v for k, v in train.items() if k != "loss"}
    raw["task"] = {**table, "name": name}
    if isinstance(raw.get("sweep"), dict):
        raw["sweep"] = {k: v for k, v in raw["sweep"].items() if k != "task.name"}
    if not modes_given and name in catalog.list_tasks():
        supported = catalog.task_modes(catalog.get_task(name))
        modes = raw.get("modes", list(GridConfig().modes))
        modes = [m for m in modes if m in supported] if isinstance(modes, list) else modes
        raw["modes"] = modes or supported


GRID_KEYS = ["cells", "modes", "seeds", "units", "param_budget", "task", "train", "sweep", "name", "experiment",
             "quick"]


def _task_names(raw_task: dict, raw_sweep) -> list[str]:
    """The grid's tasks: [task] name, or the values of a task.name sweep."""
    tasks = catalog.list_tasks()
    swept = raw_sweep.get("task.name") if isinstance(raw_sweep, dict) else None
    if swept is not None:
        if not isinstance(swept, list) or not swept:
            raise ConfigError(f"sweep.task.name = {swept!r}: expected a non-empty list of task names")
        names = list(_names("sweep.task.name", swept, tasks, "task"))
        if "name" in raw_task and raw_task["name"] not in names:
            raise ConfigError(f"task.name = {raw_task['name']!r} is not among sweep.task.name = {names}")
        return names
    name = raw_task.get("name", DEFAULT_TASK)
    if not isinstance(name, str):
        raise ConfigError(f"task.name = {name!r}: expected a task name; valid choices: {', '.join(tasks)}")
    if name not in tasks:
        raise ConfigError("task.name: " + registry.unknown_name_message("task", name, tasks))
    return [name]


def _task_settings(name: str, given: dict, names: list[str]):
    """Task ``name``'s settings from the [task] table; unknown keys name its valid ones.

    A sub-table ``[task.<name>]`` holds settings for one task of a task.name
    sweep; plain keys apply to every task of the grid.
    """
    for key, value in given.items():
        if isinstance(value, dict) and key not in names:
            raise ConfigError(
                f"[task.{key}]: a table of settings for one task, but {key!r} is not a task of this grid "
                f"({', '.join(names)})"
            )
    plain = {k: v for k, v in given.items() if not isinstance(v, dict)}
    values = {**plain, **given.get(name, {})}
    cls = catalog.get_task(name).settings
    keys = ["name", *(f.name for f in dataclasses.fields(cls))]
    _check_keys(f"[task] (task {name})", {"name": name, **values}, keys)
    try:
        return _fill(cls, "task", values, keys_where=f"[task] (task {name})")
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"task: {exc}") from None


def _sweep_kinds(tasks: list) -> dict[str, tuple[type, bool]]:
    """Every sweepable key with its type and whether "none" is allowed.

    A task.* key must be a setting of every task of the grid.
    """
    kinds = {"units": (int, False), "param_budget": (int, True)}
    task_fields = [{f.name: f for f in dataclasses.fields(t)} for t in tasks]
    common = [f for f in task_fields[0].values() if all(f.name in other for other in task_fields[1:])]
    for table, fields in (("task", common), ("train", dataclasses.fields(TrainConfig))):
        for f in fields:
            kind = _type_name(f)
            base = {"int": int, "float": float, "str": str}[kind.replace(" | None", "")]
            kinds[f"{table}.{f.name}"] = (base, "None" in kind)
    return kinds


def _parse_sweep(raw, tasks: list) -> tuple:
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep = {raw!r}: expected a table ([sweep])")
    kinds = _sweep_kinds(tasks)
    names = [task_name(t) for t in tasks]
    _check_keys(f"[sweep] (task {', '.join(names)})", {k: v for k, v in raw.items() if k != "task.name"},
                list(kinds) + ["task.name"])
    axes = []
    for key, values in raw.items():
        if key == "task.name":
            axes.append((key, tuple(names)))
            continue
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{key} = {values!r}: expected a non-empty list of values")
        kind, optional = kinds[key]
        parsed = []
        for v in values:
            if optional and isinstance(v, str) and v.lower() == "none":
                parsed.append(None)
            else:
                parsed.append(_check_type(f"sweep.{key}", v, kind))
        if len(set(parsed)) != len(parsed):
            raise ConfigError(f"sweep.{key} = {values!r}: a value is listed twice")
        axes.append((key, tuple(parsed)))
    return tuple(axes)


def grid_from_dict(raw: dict, name: str = "default") -> GridConfig:
    _check_keys("the config", raw, GRID_KEYS)
    for table in ("task", "train", "quick"):
        if table in raw and not isinstance(raw[table], dict):
            raise ConfigError(f"{table} = {raw[table]!r}: expected a table ([{table}])")
    if "quick" in raw:
        _check_keys("[quick]", raw["quick"], [k for k in GRID_KEYS if k != "quick"])
    raw_task = dict(raw.get("task", {}))
    names = _task_names(raw_task, raw.get("sweep", {}))
    raw_task.pop("name", None)
    tasks = [_task_settings(n, raw_task, names) for n in names]
    specs = [catalog.get_task(n) for n in names]
    base = GridConfig()
    train = _fill(TrainConfig, "train", raw.get("train", {}))
    if "loss" not in raw.get("train", {}):  # the task's own loss, unless the swept tasks differ
        losses = {spec.loss for spec in specs}
        train = dataclasses.replace(train, loss=losses.pop() if len(losses) == 1 else None)
    modes = raw.get("modes")
    if modes is None:  # the default modes the tasks support, else every mode they support
        supported = [m for m in catalog.list_modes() if all(s.supports(catalog.get_mode(m)) for s in specs)]
        modes = [m for m in base.modes if m in supported] or supported
    budget = raw.get("param_budget")
    grid = GridConfig(
        cells=_names("cells", raw.get("cells", base.cells), catalog.list_cells(), "cell"),
        modes=_names("modes", modes, catalog.list_modes(), "mode"),
        seeds=_check_type("seeds", raw.get("seeds", base.seeds), int),
        units=_check_type("units", raw.get("units", base.units), int),
        task=tasks[0],
        train=train,
        param_budget=None if budget is None else _check_type("param_budget", budget, int),
        sweep=_parse_sweep(raw.get("sweep", {}), tasks),
        name=_check_type("name", raw.get("name", name), str),
        experiment=_check_type("experiment", raw.get("experiment", ""), str),
        tasks=tuple(tasks) if len(tasks) > 1 or "task.name" in raw.get("sweep", {}) else (),
    )
    try:
        variants = grid.variants()
    except ValueError as exc:  # a swept task setting its own checks refuse
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"sweep: {exc}") from None
    for variant in variants:
        validate(variant)
    return grid


def grid_to_dict(grid: GridConfig) -> dict:
    """The inverse of ``grid_from_dict``."""
    return grid.to_dict()
