"""The Ray executor: each run is a Ray task; only the driver writes ``runs/``.

Without an address it starts a local Ray instance with ``jobs`` CPUs; with
one (``ray start --head`` printed it) it joins that cluster. A task asks for
``cpus_per_task`` CPUs and its worker process is started with that many
compute threads. Its result is the run folder's bytes, so nodes share no
filesystem. A task whose worker dies is retried once by Ray, then recorded as
failed. Epoch progress comes back through a small actor.
"""

from __future__ import annotations

from typing import Iterator

from zoo.core.config import ConfigError, RunConfig
from zoo.runs.executors import Finished, OnEpoch, prepare_worker, run_payload, task_payload, thread_env

INSTALL_HINT = "pip install 'rnn-zoo[ray]' (in a checkout: make extras)"


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


class _Inbox:
    """Epoch events from tasks to the driver: a tiny actor using no CPU."""

    def __init__(self):
        self.events: list = []

    def put(self, event: tuple) -> None:
        self.events.append(event)

    def take(self) -> list:
        events, self.events = self.events, []
        return events


def _train(payload: dict, inbox, threads: int) -> tuple:
    """The body of a Ray task: train one run, stream its epochs, return its files."""
    prepare_worker(threads)
    # Fire and forget: a task that waited on the actor would hand its CPU
    # back to Ray while it waits, and Ray would start another task on it.
    return run_payload(payload, lambda *event: inbox.put.remote(event))


class RayExecutor:
    """Sends each run to Ray as a task asking for ``cpus_per_task`` CPUs."""

    def __init__(self, address: str | None = None, jobs: int = 2, cpus_per_task: int = 1):
        self.ray = _import_ray()  # fail now, before any work, if Ray is missing
        if address is not None:
            _check_reachable(address)
        self.address = address
        self.jobs = jobs
        self.cpus_per_task = cpus_per_task

    def _connect(self) -> bool:
        """Join or start Ray; returns whether this call started it (and so must stop it)."""
        ray = self.ray
        if ray.is_initialized():
            return False
        options = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
        if self.address is None:
            ray.init(num_cpus=self.jobs * self.cpus_per_task, **options)
        else:
            try:
                ray.init(address=self.address, **options)
            except ConnectionError as exc:
                raise ConfigError(f"--address = {self.address!r}: no Ray cluster answers there ({exc})") from None
        return True

    def map(self, configs: list[RunConfig], on_epoch: OnEpoch) -> Iterator[Finished | None]:
        ray = self.ray
        started = self._connect()
        try:
            inbox = ray.remote(num_cpus=0)(_Inbox).remote()
            task = ray.remote(_train).options(
                num_cpus=self.cpus_per_task,
                max_retries=1,  # a dead worker is retried once by Ray; an exception is a result
                runtime_env={"env_vars": thread_env(self.cpus_per_task)},
            )
            pending = {task.remote(task_payload(c), inbox, self.cpus_per_task): c for c in configs}
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                self._drain(inbox, on_epoch)
                if not ready:
                    yield None
                for ref in ready:
                    config = pending.pop(ref)
                    try:
                        yield Finished(*ray.get(ref))
                    except ray.exceptions.RayError as exc:  # the worker died twice, or the node left
                        yield Finished(config, None, f"ray task failed: {type(exc).__name__}: {_first_line(exc)}")
            self._drain(inbox, on_epoch)
        finally:
            if started:
                ray.shutdown()

    def _drain(self, inbox, on_epoch: OnEpoch) -> None:
        for event in self.ray.get(inbox.take.remote()):
            on_epoch(*event)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not after Ray's minute of retries, when HOST:PORT does not answer."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms Ray resolves itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(
            f"--address = {address!r}: no Ray cluster answers there ({exc.strerror or exc}); "
            "start one with `ray start --head` and pass the address it prints"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
