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
from zoo.core.config import LOSSES, OPTIMIZERS, ConfigError, GridConfig, TaskConfig, TrainConfig

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


def _fill(cls, where: str, given: dict):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(f"[{where}]", given, list(fields))
    values = {}
    for name, value in given.items():
        kind = fields[name].type
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
    "train.epochs": 100_000,
    "train.probes": 1000,
    "train.probe_batch": 10_000,
}
MAX_WINDOW_VALUES = 250_000_000  # training windows x their length: 1 GB of float32


def _value_of(grid: GridConfig, key: str):
    table, _, name = key.rpartition(".")
    return getattr(getattr(grid, table) if table else grid, name)


def validate(grid: GridConfig) -> GridConfig:
    """Check the relations between fields; returns the grid unchanged."""
    t, tr = grid.task, grid.train
    for key, limit in LIMITS.items():
        value = _value_of(grid, key)
        if value is not None and value > limit:
            raise ConfigError(f"{key} = {value!r}: expected at most {limit:,}")
    for name in ("train_points", "test_points", "window", "horizon"):
        _positive(f"task.{name}", getattr(t, name))
    for name in ("epochs", "batch_size", "learning_rate", "clipnorm", "global_clipnorm", "probes", "probe_batch"):
        _positive(f"train.{name}", getattr(tr, name))
    _positive("units", grid.units)
    _positive("param_budget", grid.param_budget)
    _positive("seeds", grid.seeds)
    if tr.loss not in LOSSES:
        raise ConfigError(
            f"train.loss = {tr.loss!r}: expected one of {', '.join(LOSSES)}" + _nearest_hint(tr.loss, LOSSES)
        )
    if tr.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"train.optimizer = {tr.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}"
            + _nearest_hint(tr.optimizer, OPTIMIZERS)
        )
    if t.train_stop <= t.train_start or t.test_stop <= t.test_start:
        raise ConfigError("task: each series needs stop > start")
    if tr.clipnorm is not None and tr.global_clipnorm is not None:
        raise ConfigError("train: set clipnorm or global_clipnorm, not both (Keras allows one)")
    for mode in grid.modes:
        spec = catalog.get_mode(mode)
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


def load_grid(source: str | Path | None = None, **overrides) -> GridConfig:
    """Read a grid file (or the default grid), apply overrides, validate.

    ``overrides`` are the CLI's flags: ``cells``, ``modes`` (lists or comma
    strings), ``seeds``, ``units``, and ``epochs`` (which goes to ``[train]``).
    A ``None`` override is ignored.
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
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "epochs" in overrides:
        raw.setdefault("train", {})["epochs"] = overrides.pop("epochs")
    raw.update(overrides)
    return grid_from_dict(raw, name=name)


GRID_KEYS = ["cells", "modes", "seeds", "units", "param_budget", "task", "train", "sweep", "name", "experiment"]


def _sweep_kinds() -> dict[str, tuple[type, bool]]:
    """Every sweepable key with its type and whether "none" is allowed."""
    kinds = {"units": (int, False), "param_budget": (int, True)}
    for table, cls in (("task", TaskConfig), ("train", TrainConfig)):
        for f in dataclasses.fields(cls):
            base = {"int": int, "float": float, "str": str}[f.type.replace(" | None", "")]
            kinds[f"{table}.{f.name}"] = (base, "None" in f.type)
    return kinds


def _parse_sweep(raw) -> tuple:
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep = {raw!r}: expected a table ([sweep])")
    kinds = _sweep_kinds()
    _check_keys("[sweep]", raw, list(kinds))
    axes = []
    for key, values in raw.items():
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
    for table in ("task", "train"):
        if table in raw and not isinstance(raw[table], dict):
            raise ConfigError(f"{table} = {raw[table]!r}: expected a table ([{table}])")
    base = GridConfig()
    budget = raw.get("param_budget")
    grid = GridConfig(
        cells=_names("cells", raw.get("cells", base.cells), catalog.list_cells(), "cell"),
        modes=_names("modes", raw.get("modes", base.modes), catalog.list_modes(), "mode"),
        seeds=_check_type("seeds", raw.get("seeds", base.seeds), int),
        units=_check_type("units", raw.get("units", base.units), int),
        task=_fill(TaskConfig, "task", raw.get("task", {})),
        train=_fill(TrainConfig, "train", raw.get("train", {})),
        param_budget=None if budget is None else _check_type("param_budget", budget, int),
        sweep=_parse_sweep(raw.get("sweep", {})),
        name=_check_type("name", raw.get("name", name), str),
        experiment=_check_type("experiment", raw.get("experiment", ""), str),
    )
    for variant in grid.variants():
        validate(variant)
    return grid


def grid_to_dict(grid: GridConfig) -> dict:
    """The inverse of ``grid_from_dict``."""
    return grid.to_dict()
