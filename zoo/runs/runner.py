"""Expand a grid into runs, train the missing ones, store them, resume.

Runs are independent. Executors (``zoo.runs.executors``) train them, one run or
a group of same-shape runs per task, and send back each run's files; only the
driver (this module, in the calling process) writes ``runs/``. So the executor
can be swapped without touching storage. The local executor follows a device
plan (``zoo.runs.devices``): which device, how many workers, batched seeds or not.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Protocol

from zoo import store
from zoo.core import catalog, horizon
from zoo.core.config import (
    ConfigError,
    GridConfig,
    RunConfig,
    counted,
    keras_backend,
    short_name,
    task_name,
    varying_settings,
)
from zoo.core.grid import Line, expand, search_lines
from zoo.core.horizon import Step
from zoo.core.loading import grid_to_dict
from zoo.runs.devices import make_plan
from zoo.runs.executors import Retry
from zoo.runs.executors.local import LocalExecutor
from zoo.store.atomic import atomic_file


class RunnerBusyError(RuntimeError):
    """Another compare holds the runs folder."""


class RunsView(Protocol):
    """What is kept beside the runs folder as the runner fills it (``zoo.views.tensorboard.Logs``).

    The runner knows no view: the caller hands one in. A run just stored reaches
    it from memory (``store.from_files``), so no view reads back a folder just written.
    """

    def grid(self, runs_dir: Path, runs: list[RunConfig], done: list[RunConfig]) -> None:
        """Before training: the grid's runs so far, and those of them stored before."""

    def stored(self, run: store.StoredRun) -> None:
        """A run that trained and was stored, as ``store.read_run`` would read it."""


@dataclass
class Plan:
    runs: list[RunConfig]
    done: list[RunConfig] = field(default_factory=list)
    todo: list[RunConfig] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # messages for folders to retrain
    foreign: list[str] = field(default_factory=list)  # another version's folders: neither trained nor read


def plan(grid: GridConfig, runs_dir: Path, runs: list[RunConfig] | None = None) -> Plan:
    """Split the grid's runs (``expand(grid)`` unless given) into finished ones and ones still to train."""
    p = Plan(runs if runs is not None else expand(grid))
    for run in p.runs:
        try:
            finished = store.is_finished(runs_dir, run)
        except store.CorruptRunError as exc:
            p.damaged.append(str(exc))
            finished = False
        except store.ForeignRunError as exc:
            p.foreign.append(str(exc))
            continue
        (p.done if finished else p.todo).append(run)
    # Same-shape runs next to each other, so a worker reuses its compiled code.
    p.todo.sort(key=lambda r: (r.cell, r.mode, str(r.shape_key), r.seed))
    return p


@contextmanager
def runs_lock(runs_dir: Path) -> Iterator[None]:
    """Hold the runs folder so two compares never write it.

    The lock is on the folder itself (``flock`` of its descriptor), so deleting
    a file cannot bypass it, and no file is opened to take it: a ``.lock`` that
    is a link is never followed. ``.lock`` only tells the next compare who holds
    the folder; it is replaced whole (never written through), and one that is
    not an rnn-zoo file (a link, a folder, a user's text) is refused, not touched.
    """
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    note = runs_dir / ".lock"
    if os.path.lexists(note) and not _is_pid_file(note):
        raise RunnerBusyError(
            f"{note} is not the pid file rnn-zoo writes there ({_kind(note)}); rnn-zoo never writes through it: "
            "remove or rename it, or pass another --runs folder"
        )
    fd = os.open(runs_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(note) or "unknown"
            raise RunnerBusyError(
                f"{runs_dir} is in use by another compare (pid {holder}); "
                "wait for it to finish or pass another --runs folder"
            ) from None
        try:
            with atomic_file(note) as tmp:  # a rename: replaces the name, writes through nothing
                tmp.write_text(str(os.getpid()))
        except OSError as exc:
            raise store.StorageError(
                f"cannot write {note}: {exc.strerror or exc}; nothing was trained: {store.storage_advice(exc)}"
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock; the pid stays, and only counts while the folder is locked


def _is_pid_file(path: Path) -> bool:
    """``.lock`` as a compare leaves it: a plain file holding a pid, or nothing."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    return text.strip() == "" or text.strip().isdigit()


def _kind(path: Path) -> str:
    if path.is_symlink():
        return f"a symbolic link to {os.readlink(path)}"
    return "a folder" if path.is_dir() else "a file that holds something else"


def _read_pid(path: Path) -> str:
    try:
        return path.read_text().strip() if _is_pid_file(path) else ""
    except OSError:
        return ""


# ------------------------------------------------------------------- progress


class Progress:
    """Prints run k of N, cell, mode, seed, epoch, loss and ETA."""

    def __init__(self, todo: list[RunConfig], stream=None):
        self.by_id = {r.run_id: r for r in todo}
        self.axes = varying_settings(todo)
        self.total_epochs = sum(r.train.periods for r in todo)
        self.epochs = {r.run_id: 0 for r in todo}
        self.latest: tuple | None = None
        self.finished = 0
        self.started = time.monotonic()
        self.stream = stream or sys.stderr  # looked up now: a redirected stderr (a notebook's) is respected
        self.tty = self.stream.isatty()
        self.last_print = 0.0

    def epoch(self, run_id: str, epoch: int, loss: float) -> None:
        self.epochs[run_id] = epoch
        self.latest = (run_id, epoch, loss)

    def label(self, r: RunConfig) -> str:
        settings = r.settings()
        extra = "".join(f" {short_name(a)}={settings[a]}" for a in self.axes)
        return f"{r.cell} {r.mode}{extra} seed {r.seed}"

    def eta(self) -> str:
        """Time left at the pace so far, once a run has finished: before that the time
        is mostly starting workers and compiling, a cost per run, not per epoch (an
        estimate after one epoch of a quick grid said 81 minutes for a 4-minute compare)."""
        done = sum(self.epochs.values())
        if self.finished == 0 or done == 0:
            return "after the first run"
        left = (self.total_epochs - done) * (time.monotonic() - self.started) / done
        return f"{int(left // 60)}m{int(left % 60):02d}s"

    def refresh(self) -> None:
        if self.latest is None or time.monotonic() - self.last_print < (0.2 if self.tty else 15):
            return
        self.last_print = time.monotonic()
        run_id, epoch, loss = self.latest
        r = self.by_id[run_id]
        line = (
            f"run {self.finished + 1}/{len(self.by_id)}  {self.label(r)}  "
            f"epoch {epoch}/{r.train.periods}  loss {loss:.4f}  ETA {self.eta()}"
        )
        print(f"\r\033[K{line}" if self.tty else line, end="" if self.tty else "\n", file=self.stream, flush=True)

    def retry(self, config: RunConfig, reason: str) -> None:
        prefix = "\r\033[K" if self.tty else ""
        print(f"{prefix}{self.label(config)}: {reason}; training it again", file=self.stream, flush=True)

    def run_done(self, config: RunConfig, metrics: dict | None, error: str | None) -> None:
        self.finished += 1
        self.epochs[config.run_id] = config.train.periods
        if self.latest is not None and self.latest[0] == config.run_id:
            self.latest = None  # the line names a run that is training, or nothing until one reports
        if error is not None:
            what = f"FAILED: {error}"
        else:
            what = f"{metrics['status']}, loss {metrics['loss']:.4g}, test MAE {metrics['test_mae']:.4g}"
            if metrics["status"] == "diverged":
                what += f" (NaN/inf in the {metrics.get('diverged_in', 'loss')} at epoch {metrics['diverged_epoch']})"
            what += f", {metrics['seconds']:.1f}s"
        prefix = "\r\033[K" if self.tty else ""
        print(
            f"{prefix}[{self.finished}/{len(self.by_id)}] {self.label(config)}: {what}",
            file=self.stream,
            flush=True,
        )


# ------------------------------------------------------------------- driver


@dataclass
class Outcome:
    trained: int
    skipped: int
    failed: list[str]
    diverged: list[str]
    seconds: float


def execute(
    grid: GridConfig,
    runs_dir: Path,
    jobs: int | None = None,
    executor=None,
    say: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
    view: RunsView | None = None,
    device: str = "auto",
) -> Outcome:
    """Train every run of ``grid`` that ``runs_dir`` does not hold yet.

    ``executor`` (default: local processes as the device plan for ``device``
    and ``jobs`` says) trains; this function alone writes ``runs_dir``, one
    whole run folder at a time. ``view`` (TensorBoard's logs) hears of the
    grid's runs, finished ones too, and of each run as it is stored.
    """
    started = time.monotonic()
    runs_dir = Path(runs_dir)
    if grid.search is not None:
        return _execute_search(grid, runs_dir, jobs, executor, say, view, device, started)
    runs = expand(grid)  # resolved before the lock and any folder: a bad name fails first
    check_task_data(runs)
    with runs_lock(runs_dir):
        store.remove_stale_tmp(runs_dir)
        store.write_grid(runs_dir, grid.name, grid_to_dict(grid), [r.run_id for r in runs])
        p = plan(grid, runs_dir, runs)
        for msg in p.damaged:
            say(f"damaged run folder, training it again: {msg}")
        for msg in p.foreign:
            say(f"run folder not trained: {msg}")
        say(
            f"{counted(len(p.runs), 'run')} in the grid: {len(p.done)} finished already (skipped), "
            f"{len(p.todo)} to train"
        )
        if view is not None:
            view.grid(runs_dir, p.runs, p.done)
        if not p.todo:
            return Outcome(0, len(p.done), [], [], time.monotonic() - started)
        executor = executor or LocalExecutor(threads=1, plan=make_plan(device, jobs))
        if getattr(executor, "note", None):
            say(executor.note)
        failed, diverged = _train(p.todo, runs_dir, executor, view)
        seconds = time.monotonic() - started
        say(f"trained {counted(len(p.todo), 'run')} in {seconds:.1f}s (training wall time: workers, compiling and "
            "storing)")
        return Outcome(len(p.todo), len(p.done), failed, diverged, seconds)


def check_task_data(runs: list[RunConfig]) -> None:
    """Each task's data, for each mode and settings of ``runs``, generated and checked once before
    any worker starts or any folder is written (``TaskSpec.check_data``): a task file whose data
    does not fit its declaration is one line naming it, not a grid of failed runs."""
    checked = set()
    for run in runs:
        key = (run.mode, repr(run.task))
        if key in checked:
            continue
        checked.add(key)
        spec = catalog.get_task(task_name(run.task))
        try:
            spec.check_data(run.task, catalog.get_mode(run.mode))
        except ValueError as exc:
            raise ConfigError(f"{exc}; nothing was trained") from None
        except Exception as exc:  # a bug in a task's generate (a user's file): where, in one line
            where = catalog.code_location(exc, sys.modules[spec.generate.__module__].__file__)
            raise ConfigError(f"task {spec.name!r}: making its data raised {catalog.error_text(exc)}"
                              + (f" ({where})" if where else "") + "; nothing was trained") from None


def _train(todo: list[RunConfig], runs_dir: Path, executor, view: RunsView | None) -> tuple[list[str], list[str]]:
    """Train ``todo`` with ``executor`` and store each run as it finishes; the failed and diverged ones."""
    progress = Progress(todo)

    def on_epoch(run_id: str, epoch: int, loss: float) -> None:
        progress.epoch(run_id, epoch, loss)
        progress.refresh()

    failed, diverged = [], []
    for event in executor.map(todo, on_epoch):
        if event is None:
            progress.refresh()
        elif isinstance(event, Retry):
            progress.retry(event.config, event.reason)
        else:
            config = event.config
            if event.error is not None:
                store.write_failed(runs_dir, config, event.error)
                failed.append(f"{config.run_id}: {event.error}")
            else:
                folder = store.write_files(runs_dir, config, event.files)
                if view is not None:
                    view.stored(store.from_files(folder, event.files))
                if event.metrics["status"] == "diverged":
                    diverged.append(config.run_id)
            progress.run_done(config, event.metrics, event.error)
    return failed, diverged


# ------------------------------------------------------------------- search


def search_round(lines: list[Line], runs_dir: Path, seeds: int, given_up: frozenset[str] = frozenset()
                 ) -> tuple[list[Step], list[RunConfig], list[RunConfig], list[str]]:
    """Where each line's search stands on the runs stored in ``runs_dir``: its step, the runs it has
    asked for so far (finished or not), those still to train for its next length, and messages
    about damaged or foreign folders. A line whose next runs include one in ``given_up`` (it failed
    in this compare) stops there: its next length is not trained again until the next compare."""
    steps, asked, todo, notes = [], [], [], []
    for line in lines:
        outcomes: dict[int, list[bool]] = {}
        while True:
            step = horizon.search(line.grid.search, line.grid.seeds, outcomes)
            if step.done:
                break
            runs = line.runs_at(step.next)
            solved, missing = [], []
            for run in runs:
                try:
                    finished = store.is_finished(runs_dir, run)
                except store.CorruptRunError as exc:
                    notes.append(f"damaged run folder, training it again: {exc}")
                    finished = False
                except store.ForeignRunError as exc:
                    notes.append(f"run folder not trained: {exc}")
                    finished = False
                if finished:
                    solved.append(store.solved(runs_dir, run))
                else:
                    missing.append(run)
            if missing:
                if not any(r.run_id in given_up for r in missing):
                    todo += missing
                break
            outcomes[step.next] = solved
        steps.append(step)
        for length in step.tried:
            asked += line.runs_at(length)
    return steps, asked, todo, list(dict.fromkeys(notes))


def _execute_search(grid: GridConfig, runs_dir: Path, jobs, executor, say, view: RunsView | None, device: str,
                    started: float) -> Outcome:
    """A searching grid (``[search]``): rounds of training, each round the next length of every line
    whose search goes on (``zoo.core.horizon``), until no line asks for more. Its runs are ordinary
    run folders; the grid record lists every run asked for so far, so the report finds them."""
    lines = search_lines(grid)  # resolved before the lock and any folder: a bad name fails first
    trained, skipped, failed, diverged, given_up = 0, None, [], [], set()
    with runs_lock(runs_dir):
        store.remove_stale_tmp(runs_dir)
        for round_no in range(1, 10_000):
            steps, asked, todo, notes = search_round(lines, runs_dir, grid.seeds, frozenset(given_up))
            store.write_grid(runs_dir, grid.name, grid_to_dict(grid), list(dict.fromkeys(r.run_id for r in asked)))
            if skipped is None:
                skipped = len(asked) - len(todo)
                for msg in notes:
                    say(msg)
            going = sum(not s.done for s in steps)
            if not todo:
                break
            check_task_data(todo)  # each round's lengths are new settings
            say(f"search round {round_no}: {len(todo)} runs at the next length of {going} of {len(lines)} lines "
                f"({len(lines) - going} done); {len(asked) - len(todo)} runs finished so far")
            if view is not None:
                waiting = {r.run_id for r in todo}
                view.grid(runs_dir, asked, [r for r in asked if r.run_id not in waiting])
            if executor is None:
                executor = LocalExecutor(threads=1, plan=make_plan(device, jobs))
            if isinstance(executor, LocalExecutor) and executor.plan != _search_plan(executor.plan):
                executor = executor.with_plan(_search_plan(executor.plan))
                say(executor.note)
            new_failed, new_diverged = _train(todo, runs_dir, executor, view)
            trained += len(todo)
            failed += new_failed
            diverged += new_diverged
            given_up |= {f.split(":", 1)[0] for f in new_failed}
        seconds = time.monotonic() - started
        found = ", ".join(f"{line.cell} {_line_label(line)}{s.horizon or 'none'}" for line, s in zip(lines, steps))
        say(f"search done: {len(lines)} lines, {trained} runs trained in {seconds:.1f}s, {skipped or 0} finished "
            f"already; horizons: {found}")
        return Outcome(trained, skipped or 0, failed, diverged, seconds)


def _search_plan(plan):
    """A search trains the seeds of each length together (``zoo.engine.batched``), on a CPU too:
    every length is a new shape, whose compiling costs more than its training on a small model,
    and the seeds of one length share it. JAX only (the batched engine's backend)."""
    if plan.batch_seeds or keras_backend() != "jax":
        return plan
    return dataclasses.replace(plan, batch_seeds=True, note=(plan.note + " " if plan.note else "") + (
        "A search trains the seeds of a length together, so each length compiles once."))


def _line_label(line: Line) -> str:
    """The settings that tell a line's horizon apart in the closing message (task and learning rate)."""
    return f"{line.grid.task_names[0]} lr {line.grid.train.learning_rate:g}: "
