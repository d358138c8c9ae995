"""The configuration schema: frozen dataclasses, run ids, sweep variants.

Reading and checking grid files is ``zoo.core.loading``; turning a grid into
its runs (which needs the registry) is ``zoo.core.grid``.

A grid file is TOML. Top-level keys choose what is compared; the ``[task]``
and ``[train]`` tables override the seed post's defaults. ``[task] name``
picks the task (``sine``, the post's, by default; ``python -m zoo list`` shows
them all); the rest of ``[task]`` are that task's settings::

    cells = ["simple_rnn", "gru", "lstm"]   # or "all"
    modes = ["one_to_one", "many_to_one", "one_to_many", "many_to_many"]
    seeds = 3
    units = 64

    [task]
    window = 5

    [train]
    epochs = 120

    [sweep]                   # optional: more grid axes, their product is run
    "task.window" = [5, 20]   # any task.* or train.* field, units, param_budget
    # "task.name" = ["adding", "sine_gap"] sweeps tasks; [task] settings apply to each

Each task has its own settings dataclass (``zoo.core.tasks``, one file per
task); ``RunConfig.task`` holds it. ``train.steps`` sets a budget in optimizer
steps instead of epochs.

``param_budget`` sizes each cell to about that many weights (units solved from
the closed-form counts) instead of using ``units``. ``experiment`` is a
one-line question; configs that have one get their own section in the report.
"none" in a sweep turns an optional setting (clipping, the budget) off.

Every problem is reported as a ``ConfigError`` whose message is one line naming
the bad value, what was expected, and the nearest valid choice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field

from zoo.core.horizon import SearchSpec
from zoo.core.process import (  # noqa: E402,F401  (re-exported: the process setup lives there)
    BACKENDS,
    CLASSIC_CPU_EMITTERS,
    COMPILE_CACHE,
    DEFAULT_BACKEND,
    compile_cache_dir,
    keep_tensorflow_out,
    keras_backend,
    with_xla_flags,
    xla_cpu_flags,
)
from zoo.core.report_spec import ReportSpec


class ConfigError(ValueError):
    """A configuration that cannot be run; the message is one line."""


class MissingPathError(ConfigError, FileNotFoundError):
    """A file or folder the user named that is not there (a ``FileNotFoundError`` too)."""


SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,79}")


def show(value, limit: int = 240) -> str:
    """``repr(value)`` for a one-line message: never a newline, never longer than
    about ``limit`` characters (a 10,000-digit number is named by its size)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(value.bit_length() * 0.30103) + 1  # exact after this correction
        digits -= 10 ** (digits - 1) > abs(value)
        return f"{'-' if value < 0 else ''}<a {digits}-digit number>"
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[: limit - 4] + "..." + (text[-1] if text[0] in "'\"" else "")


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 run", "4 runs"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def safe_name(name) -> bool:
    """Whether ``name`` can be a grid's file name: letters, digits, ``_ . + -``, no
    leading dot or dash, at most 80 characters, no ``/``, NUL or other control byte."""
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None and ".." not in name


def nearest_safe_name(name: str) -> str:
    """``name`` with every unsafe character replaced: the nearest valid choice."""
    out = re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(name)).replace("..", "_").lstrip("._-+")[:80]
    return out or "grid"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and instrumentation. Defaults are the seed post's."""

    epochs: int = 120
    batch_size: int = 64
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    loss: str = "mae"
    clipnorm: float | None = None  # per-variable norm clipping (Keras optimizer argument)
    global_clipnorm: float | None = None  # clipping of the global norm
    probes: int = 3  # probed epochs, spread from the first to the last
    probe_batch: int = 64
    # A budget in optimizer steps instead of epochs: training takes exactly
    # ``steps`` steps, evaluated (test metrics, a history row) every
    # ``eval_every`` of them; batches are drawn without replacement, pass after pass.
    steps: int | None = None
    eval_every: int = 100
    # "solved": end a run at the first evaluation whose test ratio is below its task's
    # solved threshold (a search needs to know that a length is solved, not how well).
    stop: str | None = None

    @property
    def periods(self) -> int:
        """Rows of a run's history: epochs, or evaluations of a step budget."""
        return self.epochs if self.steps is None else self.steps // self.eval_every


DEFAULT_TRAIN = TrainConfig()
# The TrainConfig fields only the training loop reads: how many times it calls
# the compiled functions, never what it calls them with (no array shape changes).
SCHEDULE_FIELDS = ("epochs", "probes")

LOSSES = ("mae", "mse", "cross_entropy")
OPTIMIZERS = ("adam", "sgd")
# The task of a grid whose [task] table names none: the one place that names it.
# Nothing else depends on which task it is; each task declares what it needs.
DEFAULT_TASK = "sine"
# The mode and task of the runs ``zoo.ProbeCallback`` writes for a user's own model
# trained with ``model.fit``: a run per recurrent layer, beside the zoo's runs.
USER_MODEL = "user_model"


def __getattr__(name: str):
    """``TaskConfig``: the old name of the sine task's settings (``zoo.core.tasks.sine.SineSettings``)."""
    if name == "TaskConfig":
        from zoo.core.tasks.sine import SineSettings

        return SineSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def task_in(table: dict) -> str:
    """The task a ``[task]`` table (or a stored task) names: its ``name``, else the default task."""
    return table.get("name", DEFAULT_TASK)


def default_task_settings():
    """The default task's settings with their defaults: the task of ``RunConfig()`` and ``GridConfig()``."""
    return task_settings(DEFAULT_TASK, {})


def task_spec(name: str):
    """The registered ``TaskSpec`` of task ``name``, or None for a task not registered here
    (a plugin not installed, a user's own model): what readers of stored runs ask a task."""
    from zoo.core import catalog
    from zoo.core.names import UnknownNameError

    try:
        return catalog.get_task(name)
    except UnknownNameError:
        return None


def task_name(settings) -> str:
    """The registered name of the task whose settings these are."""
    from zoo.core.registry import task_name_of

    return task_name_of(settings)


def task_settings(name: str, values: dict):
    """The settings object of task ``name`` from stored ``values``.

    A task no longer registered (a plugin not installed here) still reads
    back, as a plain dataclass with the same fields, so its runs stay readable.
    """
    spec = task_spec(name)
    if spec is not None:
        return spec.settings(**values)
    cls = dataclasses.make_dataclass(f"Unregistered_{name}", list(values), frozen=True)
    cls.task_name = name
    return cls(**values)


def task_to_dict(settings) -> dict:
    """A task's settings as a table: its ``name`` first, then its fields."""
    return {"name": task_name(settings), **dataclasses.asdict(settings)}


def task_from_dict(d: dict):
    """The inverse of ``task_to_dict``. (Tables without a name, written before every task
    stored its own, are read by ``zoo.store``, which knows that old format.)"""
    d = dict(d)
    return task_settings(d.pop("name"), d)


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run depends on; its hash names the run folder."""

    cell: str
    mode: str
    seed: int
    units: int = 64
    task: object = field(default_factory=default_task_settings)  # a registered task's settings
    train: TrainConfig = field(default_factory=TrainConfig)
    # What else a result depends on, so a run id is never stale: the Keras
    # backend, and fingerprints of the code of the cell, the mode and the task
    # (``zoo.core.specs.code_fingerprint``). Filled by ``zoo.core.grid``.
    backend: str = DEFAULT_BACKEND
    code: tuple[tuple[str, str], ...] = ()  # (("cell", hash), ("mode", hash), ("task", hash))

    @property
    def task_name(self) -> str:
        return task_name(self.task)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["task"] = task_to_dict(self.task)
        d["code"] = dict(self.code)
        if self.train.steps is None:  # the budget in steps came later: runs in epochs keep their ids
            del d["train"]["steps"], d["train"]["eval_every"]
        if self.train.stop is None:  # so did stopping early: runs that train to the end keep their ids
            del d["train"]["stop"]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        return cls(
            cell=d["cell"],
            mode=d["mode"],
            seed=d["seed"],
            units=d["units"],
            task=task_from_dict(d["task"]),
            train=TrainConfig(**d["train"]),
            backend=d.get("backend", DEFAULT_BACKEND),
            code=tuple(sorted(d.get("code", {}).items())),
        )

    def settings(self) -> dict:
        """Every setting besides cell, mode and seed, as flat ``name: value`` pairs."""
        flat = {"units": self.units, "task.name": self.task_name}
        flat.update({f"task.{k}": v for k, v in dataclasses.asdict(self.task).items()})
        flat.update({f"train.{k}": v for k, v in dataclasses.asdict(self.train).items()})
        return flat

    @property
    def run_id(self) -> str:
        return run_id_of(self.to_dict())

    @property
    def shape_key(self) -> tuple:
        """Runs with the same key differ only in seed: they train together as one batch of seeds."""
        return (self.cell, self.mode, self.units, self.task, self.train, self.backend, self.code)

    @property
    def engine_key(self) -> tuple:
        """Runs with the same key share compiled code: they differ at most in seed and in
        how many epochs and probes the Python loop runs (``SCHEDULE_FIELDS``)."""
        schedule = {name: getattr(DEFAULT_TRAIN, name) for name in SCHEDULE_FIELDS}
        return (self.cell, self.mode, self.units, self.task, dataclasses.replace(self.train, **schedule),
                self.backend, self.code)


@dataclass(frozen=True)
class GridConfig:
    """A grid of runs: every cell x mode x seed x sweep value."""

    cells: tuple[str, ...] = ("simple_rnn", "gru", "lstm")
    modes: tuple[str, ...] = ("one_to_one", "many_to_one", "one_to_many", "many_to_many")
    seeds: int = 3
    units: int = 64
    task: object = field(default_factory=default_task_settings)
    train: TrainConfig = field(default_factory=TrainConfig)
    param_budget: int | None = None  # when set, units are solved per cell x mode
    sweep: tuple[tuple[str, tuple], ...] = ()  # (("task.window", (5, 20)), ...)
    name: str = "default"
    experiment: str = ""  # the question an experiment config answers
    # With a "task.name" sweep: each swept task's settings, built from [task]
    # (``task`` is the first of them). A grid of one task leaves it empty.
    tasks: tuple = ()
    # A ``[search]`` table (``zoo.core.horizon.SearchSpec``): the grid searches
    # this axis (task.length) round by round instead of sweeping fixed values.
    search: SearchSpec | None = None
    # A ``[report]`` table (``zoo.core.report_spec``): the figures, findings and sections its report shows.
    report: ReportSpec | None = None

    def to_dict(self) -> dict:
        """The grid as a config file's table (``grid_from_dict`` reads it back)."""
        d = dataclasses.asdict(self)
        if self.search is None:
            del d["search"]
        else:
            d["search"] = self.search.to_dict()
        if self.report is None:
            del d["report"]
        else:
            d["report"] = self.report.to_dict()
        d["task"] = task_to_dict(self.task)
        d["sweep"] = {key: ["none" if v is None else v for v in values] for key, values in self.sweep}
        if d["param_budget"] is None:
            del d["param_budget"]
        if self.tasks:
            d["tasks"] = [{"name": task_name(t), **dataclasses.asdict(t)} for t in self.tasks]
        else:
            del d["tasks"]
        return d

    @classmethod
    def from_stored(cls, d: dict) -> "GridConfig":
        """A grid that rnn-zoo itself wrote with ``to_dict`` (a run record), read
        back without checking names against the registry, so readers of runs/
        need no Keras. Files a user writes go through ``zoo.core.loading``."""
        sweep = tuple(
            (key, tuple(None if v == "none" else v for v in values)) for key, values in d.get("sweep", {}).items()
        )
        return cls(
            cells=tuple(d["cells"]),
            modes=tuple(d["modes"]),
            seeds=d["seeds"],
            units=d["units"],
            task=task_from_dict(d["task"]),
            train=TrainConfig(**d["train"]),
            param_budget=d.get("param_budget"),
            sweep=sweep,
            name=d.get("name", "default"),
            experiment=d.get("experiment", ""),
            tasks=tuple(task_from_dict(t) for t in d.get("tasks", ())),
            search=SearchSpec.from_dict(d["search"]) if d.get("search") else None,
            report=ReportSpec.from_dict(d["report"]) if isinstance(d.get("report"), dict) else None,
        )

    @property
    def task_names(self) -> list[str]:
        """The tasks of the grid: its own, or those of a task.name sweep."""
        return [task_name(t) for t in self.tasks] or [task_name(self.task)]

    def at(self, key: str, value) -> "GridConfig":
        """This grid (sweep-free) with one setting changed: a searched length."""
        return _set(self, key, value)

    def variants(self) -> list["GridConfig"]:
        """One sweep-free grid per combination of the sweep's values.

        A task.name axis goes first, so the other task.* axes set the swept task's settings.
        """
        grids = [dataclasses.replace(self, sweep=())]
        for key, values in sorted(self.sweep, key=lambda axis: axis[0] != "task.name"):
            grids = [_set(g, key, v) for g in grids for v in values]
        return grids


def run_id_of(d: dict) -> str:
    """The run id of a run config's table (``RunConfig.to_dict``): its cell, mode, seed and a hash of all of it."""
    blob = json.dumps(d, sort_keys=True).encode()
    return f"{d['cell']}-{d['mode']}-s{d['seed']}-{hashlib.sha1(blob).hexdigest()[:8]}"


def varying_settings(configs) -> list[str]:
    """The settings that differ between runs (besides cell, mode, seed): a sweep's axes."""
    seen: dict[str, set] = {}
    for config in configs:
        for key, value in config.settings().items():
            seen.setdefault(key, set()).add(repr(value))
    return [key for key, values in seen.items() if len(values) > 1]


def short_name(key: str) -> str:
    """``task.window`` -> ``window``: the name a table column or label uses (``task.name`` -> ``task``)."""
    return "task" if key == "task.name" else key.split(".")[-1]


def _set(grid: GridConfig, key: str, value) -> GridConfig:
    if key == "task.name":
        (settings,) = [t for t in grid.tasks if task_name(t) == value]
        return dataclasses.replace(grid, task=settings, tasks=())
    if key.startswith(("task.", "train.")):
        table, name = key.split(".", 1)
        return dataclasses.replace(grid, **{table: dataclasses.replace(getattr(grid, table), **{name: value})})
    return dataclasses.replace(grid, **{key: value})


