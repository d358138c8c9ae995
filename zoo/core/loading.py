"""Reading grid files and checking every field before any work starts.

Every problem is a ``ConfigError`` whose message is one line naming the bad
value, what was expected and the nearest valid choice. Named configs ship in
the package (``zoo/configs/``), so they resolve from any working directory.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
import tomllib
from pathlib import Path

from zoo.core import catalog, horizon, registry, report_spec
from zoo.core.config import (
    DEFAULT_TASK,
    LOSSES,
    OPTIMIZERS,
    ConfigError,
    GridConfig,
    SearchSpec,
    TaskConfig,
    TrainConfig,
    nearest_safe_name,
    safe_name,
    show,
    task_name,
)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


# ----------------------------------------------------------------- validation


def _nearest_hint(name: str, choices) -> str:
    near = registry.closest(name, choices)
    return f" (did you mean {near!r}?)" if near else ""


# What people write for a field, and where the field lives ("" is the top
# level): an unknown key is answered with the field meant, in its place.
ALIASES = {
    **dict.fromkeys(("lr", "learningrate", "learn_rate", "step_size", "eta", "alpha"), ("train", "learning_rate")),
    **dict.fromkeys(("epoch", "n_epochs", "num_epochs", "nb_epochs", "max_epochs", "iterations"), ("train", "epochs")),
    **dict.fromkeys(("batch", "batchsize", "bs", "minibatch", "mini_batch", "batch_len"), ("train", "batch_size")),
    **dict.fromkeys(("optim", "opt", "optimiser", "solver"), ("train", "optimizer")),
    **dict.fromkeys(("loss_fn", "loss_function", "criterion", "objective", "metric"), ("train", "loss")),
    **dict.fromkeys(("clip", "clip_norm", "grad_clip", "gradient_clip", "clipvalue", "clip_value"),
                    ("train", "clipnorm")),
    **dict.fromkeys(("global_clip", "global_clip_norm", "clip_global", "max_norm"), ("train", "global_clipnorm")),
    **dict.fromkeys(("probe", "n_probes", "probe_epochs"), ("train", "probes")),
    **dict.fromkeys(("lookback", "look_back", "seq_len", "sequence_length", "seq_length", "timesteps", "time_steps",
                     "window_size", "lags", "steps", "history"), ("task", "window")),
    **dict.fromkeys(("output_steps", "forecast", "forecast_horizon", "future", "ahead"), ("task", "horizon")),
    **dict.fromkeys(("points", "n_points", "num_points", "samples", "n_samples", "length"), ("task", "train_points")),
    **dict.fromkeys(("cell", "model", "models", "rnn", "rnns", "cell_type", "cell_types", "arch"), ("", "cells")),
    **dict.fromkeys(("mode", "mapping", "mappings", "sequence_mode"), ("", "modes")),
    **dict.fromkeys(("seed", "n_seeds", "num_seeds", "repeats", "repetitions", "trials"), ("", "seeds")),
    **dict.fromkeys(("unit", "hidden", "hidden_size", "hidden_units", "hidden_dim", "num_units", "n_units", "size",
                     "width", "neurons", "state_size"), ("", "units")),
    **dict.fromkeys(("budget", "params", "parameters", "param_count", "n_params", "num_params"),
                    ("", "param_budget")),
    **dict.fromkeys(("title", "label", "id"), ("", "name")),
    **dict.fromkeys(("question", "description", "desc", "about"), ("", "experiment")),
    **dict.fromkeys(("grid", "sweeps", "vary"), ("", "sweep")),
    **dict.fromkeys(("ladder", "horizon_search", "searches"), ("", "search")),
    **dict.fromkeys(("training", "optimization", "optimisation", "fit"), ("", "train")),
    **dict.fromkeys(("data", "dataset", "series", "sine"), ("", "task")),
}


def _fields_by_table() -> dict[str, list[str]]:
    return {
        "": list(GRID_KEYS),
        "task": [f.name for f in dataclasses.fields(TaskConfig)],
        "train": [f.name for f in dataclasses.fields(TrainConfig)],
    }


def _place(table: str, field: str, here: str) -> str:
    """How to name ``field`` of ``table`` to someone writing in table ``here``."""
    if here == "sweep":
        return repr(f"{table}.{field}" if table else field)
    if table == here:
        return repr(field)
    return f"{field!r} at the top level" if not table else f"{field!r} under [{table}]"


def _meant(key: str, here: str) -> tuple[str, str] | None:
    """The (table, field) a key most likely means: a real field written in another
    place, or a common name for one (``lr``, ``epoch``)."""
    norm = str(key).strip().lower().replace("-", "_").replace(" ", "_")
    tables = _fields_by_table()
    if here == "sweep" and "." in norm:  # "train.lr", "task.seq_len"
        norm = norm.split(".")[-1]
    order = [here] + [t for t in tables if t != here] if here in tables else list(tables)
    for table in order:
        if norm in tables[table]:
            return table, norm
    return ALIASES.get(norm) or ALIASES.get(norm.rstrip("s"))


def _check_keys(where: str, given: dict, allowed, table: str | None = None) -> None:
    for key in given:
        if key not in allowed:
            meant = _meant(key, table) if table is not None else None
            if meant is not None and table == "sweep" and _place(*meant, "sweep").strip("'") not in allowed:
                meant = None  # not a sweepable field
            if meant is not None and meant[0] == table and meant[1] not in allowed:
                meant = None  # a field of another task (the sine's window is no setting of adding)
            if meant is not None:
                hint = f" (did you mean {_place(*meant, table)}?"
                if meant[0] == "" and table in ("task", "train"):
                    hint += " top-level keys go before the first [table]"
                hint += ")"
            else:
                hint = _nearest_hint(key, allowed)
            raise ConfigError(f"unknown key {show(key)} in {where}; valid keys: {', '.join(allowed)}" + hint)


def count(where: str, value, low: int | None = 1, high: int | None = None) -> int:
    """A whole number in ``low..high``: ``2``, ``2.0``, ``1e3`` or ``"2"`` (from a flag); nothing
    else. ``None`` bounds are left to the caller (the loader checks a grid's)."""
    number = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                number = float(value)
                if not math.isfinite(number):
                    raise ValueError
            except ValueError:
                raise ConfigError(f"{where} = {show(value)}: expected a whole number, such as 2") from None
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ConfigError(f"{where} = {show(value)}: expected a whole number, such as 2")
    if low is not None and number < low:
        raise ConfigError(f"{where} = {number}: expected a number greater than {low - 1}")
    if high is not None and number > high:
        raise ConfigError(f"{where} = {show(number)}: expected at most {high:,}")
    return number


def _check_type(where: str, value, kind: type):
    """Coerce ints to floats where a float is expected; refuse anything else.

    One rule for counts, in files, flags and the API alike: a whole number,
    however it is written (``1000``, ``1e3``, ``1000.0``); ``2.5`` is refused.
    """
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{where} = {show(value)}: expected a finite number") from None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        got = type(value).__name__
        if kind is int and isinstance(value, float):
            got = "a fraction" if math.isfinite(value) else "a non-finite number"
        raise ConfigError(f"{where} = {show(value)}: expected {kind.__name__}" + (
            " (a whole number)" if kind is int else "") + f", got {got}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where} = {show(value)}: expected a finite number")
    return value


def _type_name(f: dataclasses.Field) -> str:
    """A field's type as written (``int``, ``float | None``), whether or not its
    module postpones annotations (a plugin task's settings may not)."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _fill(cls, where: str, given: dict, keys_where: str | None = None):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _check_keys(keys_where or f"[{where}]", given, list(fields), table=where)
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
        raise ConfigError(f"{where} = {show(value)}: expected a number greater than 0")


SEPARATORS = re.compile(r"[\s;|/+:]+")


def _names(where: str, value, choices: list[str], kind: str) -> tuple[str, ...]:
    given = value
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} = {show(value)}: expected a list of {kind} names, or 'all'")
    if list(value) in (["all"], ["*"]):
        return tuple(choices)
    if not value:
        raise ConfigError(
            f"{where} = {show(given)}: expected at least one {kind} name; valid choices: {', '.join(choices)}"
        )
    for v in value:
        if v in choices:
            continue
        if v in ("all", "*"):
            raise ConfigError(f"{where}: {show(v)} stands alone (all the {kind}s); give it alone or list names")
        parts = [p for p in SEPARATORS.split(v) if p]
        if len(parts) > 1 and all(p in choices or p == "all" for p in parts):
            raise ConfigError(
                f"{where}: unknown {kind} {show(v)}; separate names with commas: {','.join(parts)!r}"
            )
        message = registry.unknown_name_message(kind, v if len(v) <= 60 else v[:57] + "...", choices)
        if "did you mean" not in message and registry.closest(v, [*choices, "all"]) == "all":
            message += " (did you mean 'all'?)"
        raise ConfigError(f"{where}: " + message)
    dupes = sorted({v for v in value if list(value).count(v) > 1})
    if dupes:
        raise ConfigError(f"{where}: {kind} {show(dupes[0])} is listed twice")
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
            raise ConfigError(f"{key} = {show(value)}: expected at most {limit:,}")
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
            f"train.loss = {show(tr.loss)}: expected one of {', '.join(losses)}"
            + (f" ({kind})" if tr.loss in LOSSES else _nearest_hint(tr.loss, losses))
        )
    if tr.steps is not None and tr.steps % tr.eval_every:
        below = tr.steps - tr.steps % tr.eval_every
        raise ConfigError(
            f"train.steps = {tr.steps}: expected a multiple of train.eval_every = {tr.eval_every} "
            f"(nearest: {below or tr.eval_every} or {below + tr.eval_every})"
        )
    if tr.stop is not None and tr.stop != "solved":
        raise ConfigError(f"train.stop = {show(tr.stop)}: expected 'solved' (end a run once it solves its task), "
                          "or leave it out to train every run to the end" + _nearest_hint(tr.stop, ["solved"]))
    if tr.optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"train.optimizer = {show(tr.optimizer)}: expected one of {', '.join(OPTIMIZERS)}"
            + _nearest_hint(tr.optimizer, OPTIMIZERS)
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


MAX_CONFIG_BYTES = 1_000_000  # a grid file is a few lines; a bigger file is not one


def _shipped() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def resolve_config_path(name_or_path) -> Path:
    """A path to a TOML file, or the name of one in ``configs/``.

    Says what is wrong with anything else: not found, a folder, a device or
    pipe, a file without the ``.toml`` suffix, a file too big to be a config.
    """
    if not isinstance(name_or_path, (str, Path)):
        raise ConfigError(f"config = {show(name_or_path)}: expected a .toml path or a shipped config's name")
    text, known = str(name_or_path), _shipped()
    choices = f"named configs: {', '.join(known)}"
    wanted = f"expected a .toml file or a shipped config's name; {choices}"
    if not text.strip() or "\0" in text:
        raise ConfigError(f"config {show(text)}: expected a .toml path or a shipped config's name; {choices}")
    path = Path(text)
    if not path.suffix and os.sep not in text:  # a bare name: NAME.toml here, then a shipped config
        for candidate in (path.with_suffix(".toml"), CONFIG_DIR / f"{text}.toml"):
            if os.path.lexists(candidate):
                return _checked_file(candidate)
        if path.exists():
            kind = "a folder" if path.is_dir() else "a file without the .toml suffix"
            raise ConfigError(f"config {show(text)} is {kind}; {wanted}")
        raise ConfigError(f"config {show(text)} not found; {choices}" + _nearest_hint(text, known))
    if path.suffix.lower() != ".toml":
        if path.is_dir():
            raise ConfigError(f"config {show(text)} is a folder; expected a .toml file")
        kind = f"a {path.suffix} file" if path.suffix else "a file without the .toml suffix"
        found = f"is {kind}" if path.exists() else f"not found ({kind})"
        raise ConfigError(f"config {show(text)} {found}; {wanted}")
    if not os.path.lexists(path):
        raise ConfigError(f"config {show(text)} not found; {wanted}")
    return _checked_file(path)


def _checked_file(path: Path) -> Path:
    """``path`` if it is a regular file of a config's size; else why not."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"config {show(str(path))}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"config {show(str(path))} is a folder; expected a .toml file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config {show(str(path))} is not a regular file (a device or pipe?); expected a .toml file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config {show(str(path))} is {info.st_size:,} bytes; a grid file is at most {MAX_CONFIG_BYTES:,}"
        )
    return path


def _read_toml(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config {show(str(path))} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "expected a TOML file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config {show(str(path))}: cannot read it ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if message.endswith("(at end of document)"):  # give the place as a line too
            lines = text.split("\n")
            where = f"(at the end: line {len(lines)}, column {len(lines[-1]) + 1})"
            message = message.replace("(at end of document)", where)
        raise ConfigError(f"{path}: malformed TOML: {message}") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(f"{path}: malformed TOML: {show(str(exc), 120)}") from None


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
        raw = _read_toml(path)
    unknown = [k for k in overrides if k not in ("cells", "modes", "seeds", "units", "epochs", "task")]
    if unknown:
        raise ConfigError(f"unknown override {show(unknown[0])}; expected cells, modes, seeds, units, epochs or task")
    if full:
        if quick:
            raise ConfigError("quick and full: give one of them (--quick is a smoke run, --full the config's "
                              "large form)")
        if not isinstance(raw.get("full"), dict):
            having = [n for n in _shipped() if isinstance(_read_toml(CONFIG_DIR / f"{n}.toml").get("full"), dict)]
            raise ConfigError(f"full: the {name} config has no [full] table; configs with one: "
                              f"{', '.join(having) or 'none'}")
        raw.pop("quick", None)
        raw, name = _quick(raw, name, form="full")
    own_quick = quick and isinstance(raw.get("quick"), dict)
    if own_quick:
        raw.pop("full", None)
        raw, name = _quick(raw, name)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    given = dict(overrides)
    if "epochs" in overrides:
        if "train" in raw and not isinstance(raw["train"], dict):
            raise ConfigError(f"train = {show(raw['train'])}: expected a table ([train])")
        raw.setdefault("train", {})["epochs"] = overrides.pop("epochs")
    if "task" in overrides:
        _switch_task(raw, overrides.pop("task"), "modes" in overrides)
    raw.update(overrides)
    grid = grid_from_dict(raw, name=name)
    _check_honoured(grid, given)
    return shrink(grid, keep=set(given)) if quick and not own_quick else grid


def _check_honoured(grid: GridConfig, given: dict) -> None:
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
    changed = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    for series in ("train", "test"):  # a shorter series at the same gap: its points say it
        if f"task.{series}_points" in changed:
            changed = [k for k in changed if k != f"task.{series}_stop"]
    if small.train.steps is not None and full.train.steps is not None:  # epochs are unused there
        changed = [k for k in changed if k != "train.epochs"]
    shown = [f"{k} {_short(before.get(k))} -> {_short(after.get(k))}" for k in changed]
    if source is None:
        what = "the shipped quick grid, not the default one"
    else:
        what = "the config's [quick] form" if not _shrunk(source) else f"{full.name} shrunk"
    line = f"quick (grid {small.name}, {what}): " + (", ".join(shown) if shown else "nothing to shrink")
    kept = [(f"--{k} {v}" if flag == "--" else f"{k}={v!r}") for k, v in overrides.items() if v is not None]
    return line + (f"; as given: {', '.join(kept)}" if kept else "")


def _shrunk(source) -> bool:
    """Whether --quick shrinks this config (it has no [quick] table of its own)."""
    return not isinstance(_read_toml(resolve_config_path(source)).get("quick"), dict)


def _flat(grid: GridConfig) -> dict:
    """A grid's settings as ``key: value`` pairs, to compare two grids by."""
    d = grid.to_dict()
    flat = {k: d.get(k) for k in ("cells", "modes", "seeds", "units", "param_budget")}
    flat.update({f"task.{k}": v for k, v in d["task"].items() if k != "name"} if not d.get("tasks") else {})
    for t in d.get("tasks", []):
        flat.update({f"task.{t['name']}.{k}": v for k, v in t.items() if k != "name"})
    flat.update({f"train.{k}": v for k, v in d["train"].items()})
    flat.update({f"sweep {k}": v for k, v in d["sweep"].items()})
    return flat


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        if len(value) > 4:  # a long list (every cell) by its size and first names
            return f"{len(value)} ({value[0]}, {value[1]}, ...)"
        return "[" + ", ".join(map(str, value)) + "]"
    return "none" if value is None else str(value)


def _quick(raw: dict, name: str, form: str = "quick") -> tuple[dict, str]:
    """The config with its ``[quick]`` (or ``[full]``) table laid over it (tables merge key by key)."""
    quick = raw.pop(form)
    _check_keys(f"[{form}]", quick, [k for k in GRID_KEYS if k not in ("quick", "full")], table="")
    merged = dict(raw)
    for key, value in quick.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged, f"{name}-{form}"


def _switch_task(raw: dict, name, modes_given: bool) -> None:
    """``--task NAME``: train the config's grid on another task.

    The config's [task] settings and its loss, when they are its own task's,
    give way to the new task's; its modes narrow to those the task supports.
    """
    if not isinstance(name, str):
        raise ConfigError(
            f"task = {show(name)}: expected a task name; valid choices: {', '.join(catalog.list_tasks())}"
        )
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


GRID_KEYS = ["cells", "modes", "seeds", "units", "param_budget", "task", "train", "sweep", "search", "name",
             "experiment", "report", "quick", "full"]
SEARCH_KEYS = [f.name for f in dataclasses.fields(SearchSpec)]


def _task_names(raw_task: dict, raw_sweep) -> list[str]:
    """The grid's tasks: [task] name, or the values of a task.name sweep."""
    tasks = catalog.list_tasks()
    swept = raw_sweep.get("task.name") if isinstance(raw_sweep, dict) else None
    if swept is not None:
        if not isinstance(swept, list) or not swept:
            raise ConfigError(f"sweep.task.name = {show(swept)}: expected a non-empty list of task names")
        names = list(_names("sweep.task.name", swept, tasks, "task"))
        if "name" in raw_task and raw_task["name"] not in names:
            raise ConfigError(f"task.name = {show(raw_task['name'])} is not among sweep.task.name = {names}")
        return names
    name = raw_task.get("name", DEFAULT_TASK)
    if not isinstance(name, str):
        raise ConfigError(f"task.name = {show(name)}: expected a task name; valid choices: {', '.join(tasks)}")
    if name not in tasks:
        raise ConfigError("task.name: " + registry.unknown_name_message("task", name[:60], tasks))
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
    where = "[task]" if name == DEFAULT_TASK else f"[task] (task {name})"
    _check_keys(where, {"name": name, **values}, keys, table="task")
    try:
        return _fill(cls, "task", values, keys_where=where)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"task: {exc}") from None


def _sweep_kinds(tasks: list | None = None) -> dict[str, tuple[type, bool]]:
    """Every sweepable key with its type and whether "none" is allowed.

    A task.* key must be a setting of every task of the grid (the sine task's by default).
    """
    kinds = {"units": (int, False), "param_budget": (int, True)}
    task_fields = [{f.name: f for f in dataclasses.fields(t)} for t in (tasks or [TaskConfig()])]
    common = [f for f in task_fields[0].values() if all(f.name in other for other in task_fields[1:])]
    for table, fields in (("task", common), ("train", dataclasses.fields(TrainConfig))):
        for f in fields:
            kind = _type_name(f)
            base = {"int": int, "float": float, "str": str}[kind.replace(" | None", "")]
            kinds[f"{table}.{f.name}"] = (base, "None" in kind)
    return kinds


def _parse_sweep(raw, tasks: list | None = None) -> tuple:
    if not isinstance(raw, dict):
        raise ConfigError(f"sweep = {show(raw)}: expected a table ([sweep])")
    kinds = _sweep_kinds(tasks)
    names = [task_name(t) for t in tasks or [TaskConfig()]]
    where = "[sweep]" if names == [DEFAULT_TASK] else f"[sweep] (task {', '.join(names)})"
    _check_keys(where, {k: v for k, v in raw.items() if k != "task.name"}, list(kinds) + ["task.name"],
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
                parsed.append(_check_type(f"sweep.{key}", v, kind))
        if len(set(parsed)) != len(parsed):
            raise ConfigError(f"sweep.{key} = {show(values)}: a value is listed twice")
        axes.append((key, tuple(parsed)))
    return tuple(axes)


def _check_name(value) -> str:
    value = _check_type("name", value, str)
    if not safe_name(value):
        raise ConfigError(
            f"name = {show(value)}: expected a plain file name (letters, digits, _ . + -, not starting with . or -, "
            f"at most 80 characters, no '/'), such as {show(nearest_safe_name(value))}"
        )
    return value


def grid_from_dict(raw: dict, name: str = "default") -> GridConfig:
    _check_keys("the config", raw, GRID_KEYS, table="")
    for table in ("task", "train", "quick", "full", "search"):
        if table in raw and not isinstance(raw[table], dict):
            raise ConfigError(f"{table} = {show(raw[table])}: expected a table ([{table}])")
    for form in ("quick", "full"):
        if form in raw:
            _check_keys(f"[{form}]", raw[form], [k for k in GRID_KEYS if k not in ("quick", "full")], table="")
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
    swept = isinstance(raw.get("sweep"), dict) and "task.name" in raw["sweep"]
    grid = GridConfig(
        cells=_names("cells", raw.get("cells", base.cells), catalog.list_cells(), "cell"),
        modes=_names("modes", modes, catalog.list_modes(), "mode"),
        seeds=_check_type("seeds", raw.get("seeds", base.seeds), int),
        units=_check_type("units", raw.get("units", base.units), int),
        task=tasks[0],
        train=train,
        param_budget=None if budget is None else _check_type("param_budget", budget, int),
        sweep=_parse_sweep(raw.get("sweep", {}), tasks),
        name=_check_name(raw.get("name", name)),
        experiment=_check_type("experiment", raw.get("experiment", ""), str),
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
    _check_keys("[search]", raw, SEARCH_KEYS)
    if "ladder" not in raw:
        raise ConfigError("[search] has no ladder: expected the lengths to climb, such as ladder = [25, 50, 100, 200]")
    ladder = raw["ladder"]
    if not isinstance(ladder, list) or not ladder:
        raise ConfigError(f"search.ladder = {show(ladder)}: expected a non-empty list of lengths, "
                          "such as [25, 50, 100]")
    axis = _check_type("search.axis", raw.get("axis", "task.length"), str)
    ints = [k for k, (kind, _) in _sweep_kinds(tasks).items() if kind is int and k.startswith("task.")]
    if axis not in ints:
        raise ConfigError(f"search.axis = {show(axis)}: expected a whole-number setting of every task of the grid; "
                          f"valid choices: {', '.join(ints)}" + _nearest_hint(axis, ints))
    spec = SearchSpec(
        ladder=tuple(count("search.ladder", v, low=1) for v in ladder),
        axis=axis,
        beyond=count("search.beyond", raw.get("beyond", 1), low=0, high=100),
        refine=count("search.refine", raw.get("refine", 0), low=0, high=20),
    )
    problems = horizon.check(spec)
    if problems:
        raise ConfigError(problems[0])
    limit = LIMITS.get(axis)
    if limit is not None and spec.ladder[-1] > limit:
        raise ConfigError(f"search.ladder: {spec.ladder[-1]:,} for {axis}, expected at most {limit:,}")
    return spec


def grid_to_dict(grid: GridConfig) -> dict:
    """The inverse of ``grid_from_dict``."""
    return grid.to_dict()
