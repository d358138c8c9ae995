"""Expand a grid into runs, train the missing ones, store them, resume.

Runs are independent tasks. Workers train and return results; only the driver
(this module, in the calling process) writes ``runs/``. So the executor, local
processes here, can be swapped without touching storage or reports.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import queue as queue_module
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from zoo import store
from zoo.config import GridConfig, RunConfig, short_name, varying_settings


class RunnerBusyError(RuntimeError):
    """Another compare holds the runs folder."""


@dataclass
class Plan:
    runs: list[RunConfig]
    done: list[RunConfig] = field(default_factory=list)
    todo: list[RunConfig] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # messages for folders to retrain


def plan(grid: GridConfig, runs_dir: Path) -> Plan:
    """Split the grid's runs into finished ones and ones still to train."""
    p = Plan(grid.runs())
    for run in p.runs:
        try:
            finished = store.finished_run(runs_dir, run)
        except store.CorruptRunError as exc:
            p.damaged.append(str(exc))
            finished = None
        (p.done if finished is not None else p.todo).append(run)
    # Same-shape runs next to each other, so a worker reuses its compiled code.
    p.todo.sort(key=lambda r: (r.cell, r.mode, str(r.shape_key), r.seed))
    return p


@contextmanager
def runs_lock(runs_dir: Path) -> Iterator[None]:
    """Hold ``runs_dir/.lock`` so two compares never write one runs folder."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / ".lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise RunnerBusyError(
                f"{runs_dir} is in use by another compare (pid {holder}); "
                "wait for it to finish or pass another --runs folder"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()


# ------------------------------------------------------------------- workers


def _pin_threads() -> None:
    """One compute thread per worker: the models are tiny, the cores are few."""
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def train_task(config: RunConfig, progress=None):
    """Train one run; returns ``(config, result, error)`` with one of the two set."""
    from zoo.training import train_run

    def report(epoch: int, loss: float) -> None:
        if progress is not None:
            progress.put((config.run_id, epoch, loss))

    try:
        return config, train_run(config, on_epoch=report), None
    except Exception as exc:  # a failed run is recorded; the grid goes on
        tail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return config, None, tail


class LocalExecutor:
    """Runs tasks in this process (``jobs=1``) or in a pool of worker processes."""

    def __init__(self, jobs: int):
        self.jobs = jobs

    def map(self, configs: list[RunConfig], progress) -> Iterator[tuple]:
        if self.jobs == 1:
            for config in configs:
                yield train_task(config, progress)
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_pin_threads) as pool:
            pending = {pool.submit(train_task, c, progress) for c in configs}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                    if not done:
                        yield None  # a tick, so the driver can refresh the display
            except BaseException:
                for future in pending:
                    future.cancel()
                raise


# ------------------------------------------------------------------- progress


class Progress:
    """Prints run k of N, cell, mode, seed, epoch, loss and ETA."""

    def __init__(self, todo: list[RunConfig], stream=sys.stderr):
        self.by_id = {r.run_id: r for r in todo}
        self.axes = varying_settings(todo)
        self.total_epochs = sum(r.train.epochs for r in todo)
        self.epochs = {r.run_id: 0 for r in todo}
        self.latest: tuple | None = None
        self.finished = 0
        self.started = time.monotonic()
        self.stream = stream
        self.tty = stream.isatty()
        self.last_print = 0.0

    def epoch(self, run_id: str, epoch: int, loss: float) -> None:
        self.epochs[run_id] = epoch
        self.latest = (run_id, epoch, loss)

    def label(self, r: RunConfig) -> str:
        settings = r.settings()
        extra = "".join(f" {short_name(a)}={settings[a]}" for a in self.axes)
        return f"{r.cell} {r.mode}{extra} seed {r.seed}"

    def eta(self) -> str:
        done = sum(self.epochs.values())
        if done == 0:
            return "?"
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
            f"epoch {epoch}/{r.train.epochs}  loss {loss:.4f}  ETA {self.eta()}"
        )
        print(f"\r\033[K{line}" if self.tty else line, end="" if self.tty else "\n", file=self.stream, flush=True)

    def run_done(self, config: RunConfig, metrics: dict | None, error: str | None) -> None:
        self.finished += 1
        self.epochs[config.run_id] = config.train.epochs
        if error is not None:
            what = f"FAILED: {error}"
        else:
            what = f"{metrics['status']}, loss {metrics['loss']:.4g}, test MAE {metrics['test_mae']:.4g}"
            if metrics["status"] == "diverged":
                what += f" (diverged at epoch {metrics['diverged_epoch']})"
            what += f", {metrics['seconds']:.1f}s"
        prefix = "\r\033[K" if self.tty else ""
        print(
            f"{prefix}[{self.finished}/{len(self.by_id)}] {self.label(config)}: {what}",
            file=self.stream,
            flush=True,
        )


class _Direct:
    """In-process stand-in for the workers' event queue: shows epochs as they end."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def put(self, event: tuple) -> None:
        self.progress.epoch(*event)
        self.progress.refresh()

    def get_nowait(self):
        raise queue_module.Empty


# ------------------------------------------------------------------- driver


@dataclass
class Outcome:
    trained: int
    skipped: int
    failed: list[str]
    diverged: list[str]
    seconds: float


def default_jobs() -> int:
    return len(os.sched_getaffinity(0))


def execute(
    grid: GridConfig,
    runs_dir: Path,
    jobs: int | None = None,
    executor=None,
    say: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr),
) -> Outcome:
    """Train every run of ``grid`` that ``runs_dir`` does not hold yet."""
    started = time.monotonic()
    runs_dir = Path(runs_dir)
    with runs_lock(runs_dir):
        store.remove_stale_tmp(runs_dir)
        p = plan(grid, runs_dir)
        for msg in p.damaged:
            say(f"damaged run folder, training it again: {msg}")
        say(
            f"{len(p.runs)} runs in the grid: {len(p.done)} finished already (skipped), "
            f"{len(p.todo)} to train"
        )
        if not p.todo:
            return Outcome(0, len(p.done), [], [], time.monotonic() - started)
        jobs = min(jobs or default_jobs(), len(p.todo))
        executor = executor or LocalExecutor(jobs)
        progress = Progress(p.todo)
        manager = multiprocessing.get_context("spawn").Manager() if jobs > 1 else None
        events = manager.Queue() if manager else _Direct(progress)
        failed, diverged = [], []
        try:
            for item in executor.map(p.todo, events):
                while True:
                    try:
                        progress.epoch(*events.get_nowait())
                    except queue_module.Empty:
                        break
                if item is None:
                    progress.refresh()
                    continue
                config, result, error = item
                if error is not None:
                    store.write_failed(runs_dir, config, error)
                    failed.append(f"{config.run_id}: {error}")
                else:
                    store.write_run(runs_dir, result)
                    if result.status == "diverged":
                        diverged.append(config.run_id)
                progress.run_done(config, result.metrics if result else None, error)
        finally:
            if manager is not None:
                manager.shutdown()
        return Outcome(len(p.todo), len(p.done), failed, diverged, time.monotonic() - started)
