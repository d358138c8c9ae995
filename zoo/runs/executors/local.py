"""The local executor: a pool of ``jobs`` worker processes, one or more.

The pool is a handful of spawned processes, each fed one run at a time over
its own pipe, so the driver always knows which run a worker holds. A worker
that dies (killed, out of memory, a crash in native code) is replaced, and its
run is sent once more; a run that kills two workers is recorded as failed.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from multiprocessing.connection import wait
from typing import Iterator

from zoo.core.config import RunConfig
from zoo.runs.executors import Finished, OnEpoch, Retry, prepare_worker, run_payload, task_payload

ATTEMPTS = 2  # a run whose worker dies is tried this many times in all


def _worker_main(conn, threads: int) -> None:
    """A worker's life: train what the driver sends until it sends ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    prepare_worker(threads)
    while True:
        payload = conn.recv()
        if payload is None:
            return
        result = run_payload(payload, lambda run_id, epoch, loss: conn.send(("epoch", run_id, epoch, loss)))
        conn.send(("done", *result))


class _Worker:
    def __init__(self, context, threads: int):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, threads), daemon=True)
        self.process.start()
        child.close()
        self.holding: RunConfig | None = None

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalExecutor:
    """Trains runs on this machine, ``jobs`` at a time."""

    def __init__(self, jobs: int, threads: int = 1):
        self.jobs = jobs
        self.threads = threads

    def map(self, configs: list[RunConfig], on_epoch: OnEpoch) -> Iterator[Retry | Finished | None]:
        # Even one job trains in a worker process: the same retry and crash
        # semantics as N, and a native crash never takes the driver down.
        context = multiprocessing.get_context("spawn")
        queue = deque(configs)
        attempts: dict[str, int] = {}
        workers = [_Worker(context, self.threads) for _ in range(min(self.jobs, len(configs)))]
        try:
            while queue or any(w.holding for w in workers):
                for w in workers:
                    if w.holding is None and queue and w.process.is_alive():
                        w.holding = queue.popleft()
                        attempts[w.holding.run_id] = attempts.get(w.holding.run_id, 0) + 1
                        try:
                            w.conn.send(task_payload(w.holding))
                        except OSError:
                            pass  # it died just now; the check below sends the run again
                ready = wait([w.conn for w in workers] + [w.process.sentinel for w in workers], timeout=0.5)
                if not ready:
                    yield None
                    continue
                for i, w in enumerate(workers):
                    yield from self._drain(w, on_epoch)  # also what it sent just before dying
                    if w.process.is_alive():
                        continue
                    config, code = w.holding, w.process.exitcode
                    w.stop()
                    workers[i] = _Worker(context, self.threads)
                    if config is None:
                        continue  # it died idle: nothing lost
                    reason = f"worker process died (exit code {code})"
                    if attempts[config.run_id] < ATTEMPTS:
                        queue.appendleft(config)
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

    @staticmethod
    def _drain(w: _Worker, on_epoch: OnEpoch):
        while w.holding is not None:
            try:
                if not w.conn.poll():
                    return
                message = w.conn.recv()
            except (EOFError, OSError):
                return  # the pipe closed: the worker died; the caller sees it
            if message[0] == "epoch":
                on_epoch(*message[1:])
            else:
                w.holding = None
                yield Finished(*message[1:])
