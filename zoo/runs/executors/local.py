"""The local executor: a pool of worker processes on this machine, as a device plan says.

The plan (``zoo.runs.devices``) fixes how many workers, on which device, and
each worker's environment (``plan.env_for(i)``), which worker ``i`` sets before
it imports Keras, so the backend starts on its device with its memory share.

On the JAX backend, a worker that starts alone, and every worker once this
process's forkserver runs, is forked from that server, which imported Keras
once (``start_context``, ``preload``): it starts in a fraction of a second
instead of importing Keras itself. Other workers are spawned.

A task is a group of runs sharing a shape: on a GPU (``plan.batch_seeds``)
all the seeds of a cell x mode, trained as one batched model; on a CPU one
run. Each worker is fed one task at a time over its own pipe, so the driver
always knows which runs a worker holds. A worker that dies (killed, out of
memory, a crash in native code) is replaced by one with the same index (the
same device and memory share), and each run it held is sent once more, alone;
a run that kills two workers is recorded as failed.

A worker never outlives the driver: it dies with it (Linux's parent-death
signal, and a watch on its parent everywhere). A worker that sends nothing
(no epoch ends) for ``run_timeout`` seconds is killed, and the runs it held
are recorded as failed with that reason; the grid goes on. The clock starts
when the worker has its task, and again when it reports that it is ready
(Keras and the engine imported): a run's own quiet time (building, compiling,
an epoch) is what ``run_timeout`` times. A worker's start has its own
allowance, ``start_timeout`` (by default ``run_timeout``): on a busy machine
importing Keras alone can take longer than a short run timeout, and a start
that never ends is still a hang.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Iterator

from zoo.core.config import ConfigError, RunConfig
from zoo.runs.devices import WorkerPlan, make_plan
from zoo.runs.executors import Finished, OnEpoch, Retry, prepare_worker, run_task, task_payload

ATTEMPTS = 2  # a run whose worker dies is tried this many times in all
RUN_TIMEOUT = 3 * 3600.0  # seconds without an epoch ending; a normal epoch, compiling included, takes far less
# A worker's exit code when starting it ran the user's script into ``zoo.compare``
# again (a script without ``if __name__ == "__main__":``): see ``zoo.api.compare``.
EXIT_NO_MAIN_GUARD = 86


class MainGuardError(ConfigError):
    """A script that calls ``zoo.compare`` without the main guard: every worker would run it again."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _die_with_parent(driver: int) -> None:
    """End this worker when the driver ends, however it ends (SIGKILL included).

    A spawned worker's parent is the driver; a forked one's is the forkserver,
    which ends when the driver does. Either way the parent's death ends the worker.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:  # everywhere (and should the driver die before prctl took effect)
        while os.getppid() == parent and _alive(driver):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="rnn-zoo parent watch").start()


def _worker_main(conn, threads: int, env: dict[str, str], driver: int) -> None:
    """A worker's life: train what the driver sends until it sends ``None``.

    ``env`` is the driver's environment as it is now, with the worker's own
    settings: a forked worker would otherwise have the forkserver's, as it was
    when the server started.
    """
    _die_with_parent(driver)
    os.environ.clear()
    os.environ.update(env)  # first: the backend reads its device and memory settings when it starts
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    prepare_worker(threads)
    import zoo.engine.run  # noqa: F401  (Keras and the engine: what every task needs, imported once)

    conn.send(("ready",))  # the driver starts the run's clock again: the start is not the run's time
    on_epoch = lambda run_id, epoch, loss: conn.send(("epoch", run_id, epoch, loss))  # noqa: E731
    try:
        while True:
            payload = conn.recv()
            if payload is None:
                return
            for result in run_task(payload, on_epoch):
                conn.send(("done", *result))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        os._exit(0)  # the driver is gone: nothing to report to, and no traceback to print


# What a forkserver's imports (``preload``) read from the environment: a
# forkserver started under other values would give workers the wrong Keras
# backend, JAX flags or thread counts, so then workers are spawned.
_IMPORT_ENV = ("KERAS_", "JAX_", "XLA_", "TF_", "OMP_", "OPENBLAS_", "MKL_", "MPL", "PYTHON", "LD_", "HOME")
_forkserver_env: dict[str, str] | None = None  # the environment this process's forkserver started with


def _import_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(_IMPORT_ENV)}


def start_context(threads: int, starting: int):
    """How workers start: forked from a server that imported Keras once, or spawned (each imports it).

    ``starting``: how many workers are about to start. The forkserver (see
    ``preload``) serves every later compare of this process, so a notebook's
    or a test session's later compares start their workers at once. Its own
    start imports Keras in one process, so it is started only where a single
    worker would import Keras anyway: several workers spawned import it in
    parallel, on as many cores (``make bench``, "worker start"). Spawned too:
    on TensorFlow (its import starts threads, and forking a threaded process
    is unsafe), with more than one thread per worker, where the platform has
    no forkserver, where something else in this process started the
    forkserver, or where the environment Keras reads at import has changed
    since ours started.
    """
    global _forkserver_env
    from zoo.core.process import keras_backend

    spawn = multiprocessing.get_context("spawn")
    if threads != 1 or keras_backend() != "jax" or "forkserver" not in multiprocessing.get_all_start_methods():
        return spawn
    if _forkserver_env is None:
        from multiprocessing import forkserver

        if starting != 1 or getattr(forkserver._forkserver, "_forkserver_pid", None) is not None:
            return spawn  # several workers import faster in parallel; a server not ours has unknown imports
        _forkserver_env = _import_env()
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["zoo.runs.executors.preload"])
        return context
    return multiprocessing.get_context("forkserver") if _import_env() == _forkserver_env else spawn


class _Worker:
    def __init__(self, context, index: int, threads: int, env: dict[str, str]):
        self.index = index
        self.conn, child = context.Pipe()
        env = {**os.environ, **env}
        self.process = context.Process(target=_worker_main, args=(child, threads, env, os.getpid()), daemon=True)
        self.process.start()
        child.close()
        self.holding: list[RunConfig] = []  # the runs of its task not yet finished
        self.heard = time.monotonic()  # when it last sent something (ready, an epoch, a run) or got its task
        self.ready = False  # whether it has said so: until then its start is timed, not a run

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def shape_groups(configs: list[RunConfig]) -> list[list[RunConfig]]:
    """The runs grouped by shape (runs that differ only in seed), in order of first appearance."""
    groups: dict[tuple, list[RunConfig]] = {}
    for config in configs:
        groups.setdefault(config.shape_key, []).append(config)
    return list(groups.values())


class LocalExecutor:
    """Trains runs on this machine in ``plan.jobs`` worker processes.

    ``LocalExecutor(jobs)`` plans for this machine with ``--device auto``
    (``zoo.runs.devices.make_plan``); pass ``plan`` to choose.
    """

    def __init__(
        self, jobs: int | None = None, threads: int = 1, plan: WorkerPlan | None = None,
        run_timeout: float = RUN_TIMEOUT, start_timeout: float | None = None,
    ):
        self.plan = plan or make_plan("auto", jobs)
        self.run_timeout = run_timeout
        self.start_timeout = run_timeout if start_timeout is None else start_timeout
        self.jobs = self.plan.jobs
        self.threads = threads
        self.note = self.plan.note
        if self.plan.device == "gpu":
            # Should this (driver) process ever start the backend, it must not
            # preallocate the memory the workers are planned to share.
            os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

    def with_plan(self, plan: WorkerPlan) -> "LocalExecutor":
        """The same executor under another plan (a search batches the seeds of each length)."""
        return LocalExecutor(threads=self.threads, plan=plan, run_timeout=self.run_timeout,
                             start_timeout=self.start_timeout)

    def tasks(self, configs: list[RunConfig]) -> list[list[RunConfig]]:
        """What one worker trains at a time: a shape's seeds together when batching, else one run."""
        return shape_groups(configs) if self.plan.batch_seeds else [[c] for c in configs]

    def map(self, configs: list[RunConfig], on_epoch: OnEpoch) -> Iterator[Retry | Finished | None]:
        # Even one job trains in a worker process: the same retry and crash
        # semantics as N, and a native crash never takes the driver down.
        queue = deque(self.tasks(configs))
        attempts: dict[str, int] = {}
        starting = min(self.jobs, len(queue))
        context = start_context(self.threads, starting)
        workers = [_Worker(context, i, self.threads, self.plan.env_for(i)) for i in range(starting)]
        # A replacement (for a dead or hung worker) starts alone: forked, where it can be.
        spawn = lambda i: _Worker(start_context(self.threads, 1), i, self.threads, self.plan.env_for(i))  # noqa: E731
        try:
            while queue or any(w.holding for w in workers):
                for w in workers:
                    if not w.holding and queue and w.process.is_alive():
                        w.holding = list(queue.popleft())
                        w.heard = time.monotonic()
                        for config in w.holding:
                            attempts[config.run_id] = attempts.get(config.run_id, 0) + 1
                        try:
                            w.conn.send(task_payload(w.holding, batched=self.plan.batch_seeds))
                        except OSError:
                            pass  # it died just now; the check below sends the runs again
                ready = wait([w.conn for w in workers] + [w.process.sentinel for w in workers], timeout=0.5)
                for i, w in enumerate(workers):
                    if w.holding and self._quiet_too_long(w):
                        yield from self._drain(w, on_epoch)
                        if w.holding and self._quiet_too_long(w):
                            lost, limit = w.holding, self._limit(w)
                            w.stop()  # a hung run cannot be asked to stop: its worker is ended
                            workers[i] = spawn(w.index)
                            for config in lost:
                                yield Finished(config, None, f"no progress for {limit:g} s "
                                               "(--run-timeout): its worker was ended")
                if not ready:
                    yield None
                    continue
                for i, w in enumerate(workers):
                    yield from self._drain(w, on_epoch)  # also what it sent just before dying
                    if w.process.is_alive():
                        continue
                    lost, code = w.holding, w.process.exitcode
                    w.stop()
                    if code == EXIT_NO_MAIN_GUARD:
                        raise MainGuardError(
                            "zoo.compare was called again by a worker starting: a worker process imports the "
                            "script that started it, so call zoo.compare under `if __name__ == \"__main__\":`"
                        )
                    workers[i] = spawn(w.index)  # the same index: the same device and memory share
                    reason = f"worker process died (exit code {code})"
                    # Sent again one by one: a batch that killed its worker (out of
                    # memory, say) is not tried whole twice.
                    for config in reversed(lost):
                        if attempts[config.run_id] < ATTEMPTS:
                            queue.appendleft([config])
                    for config in lost:
                        if attempts[config.run_id] < ATTEMPTS:
                            yield Retry(config, reason)
                        else:
                            yield Finished(config, None, f"{reason}, {ATTEMPTS} times")
            for w in workers:
                try:
                    w.conn.send(None)
                except OSError:
                    pass
        finally:
            for w in workers:
                w.stop()

    def _limit(self, w: _Worker) -> float:
        return self.run_timeout if w.ready else self.start_timeout

    def _quiet_too_long(self, w: _Worker) -> bool:
        return time.monotonic() - w.heard > self._limit(w)

    @staticmethod
    def _drain(w: _Worker, on_epoch: OnEpoch):
        while True:  # a worker without a task may have said it is ready: read that too, or wait() spins
            try:
                if not w.conn.poll():
                    return
                message = w.conn.recv()
            except (EOFError, OSError):
                return  # the pipe closed: the worker died; the caller sees it
            w.heard = time.monotonic()
            if message[0] == "ready":
                w.ready = True
                continue
            if message[0] == "epoch":
                on_epoch(*message[1:])
            else:
                config = message[1]
                w.holding = [c for c in w.holding if c.run_id != config.run_id]
                yield Finished(*message[1:])
