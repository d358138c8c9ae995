"""Executors: where runs train. The driver (``zoo.runs.runner``) alone writes ``runs/``.

An executor's ``map(configs, on_epoch)`` trains the runs, calls ``on_epoch``
as epochs end, and yields events: ``Finished`` (a run's files, or its error),
``Retry`` (a worker died and its run is sent again), or ``None`` (nothing new;
the driver refreshes its display). A finished run travels as the bytes of its run
folder, so workers need no shared filesystem and nothing is pickled to disk.

``local`` trains in a pool of worker processes on this machine; ``ray``
sends each run to a Ray cluster as a task (``pip install 'rnn-zoo[ray]'``).
"""

from __future__ import annotations

import importlib
import json
import os
import traceback
from dataclasses import dataclass
from typing import Callable

from zoo.core import catalog, registry
from zoo.core.config import ConfigError, RunConfig

EXECUTORS = ("local", "ray")


def default_jobs() -> int:
    """Worker processes when ``--jobs`` is not given: one per core this process may use."""
    return len(os.sched_getaffinity(0))


OnEpoch = Callable[[str, int, float], None]  # (run_id, epoch, loss)


@dataclass(frozen=True)
class Retry:
    config: RunConfig
    reason: str


@dataclass(frozen=True)
class Finished:
    config: RunConfig
    files: dict[str, bytes] | None  # the run folder's files, when it trained
    error: str | None  # one line, when it raised or its worker died

    @property
    def metrics(self) -> dict | None:
        return json.loads(self.files["metrics.json"]) if self.files else None


def thread_env(threads: int = 1) -> dict[str, str]:
    """Environment that gives a worker ``threads`` compute threads.

    The models are tiny and the cores few: one thread per run, and as many
    runs as cores, is the fastest way through a grid (see ``make bench``).
    XLA and BLAS read these when the backend starts, so set them before.
    """
    env = {var: str(threads) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env["TF_NUM_INTRAOP_THREADS"] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    flags, single = os.environ.get("XLA_FLAGS", ""), "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    if threads == 1 and single not in flags:
        flags += " " + single
    env["XLA_FLAGS"] = flags.strip()
    return env


def prepare_worker(threads: int = 1) -> None:
    """Make this fresh process a lean worker; call it before Keras is imported.

    Pins its threads (``thread_env``). On the JAX backend it also keeps
    TensorFlow out: Keras imports TensorFlow whenever it is installed, only as
    an optional helper (seeding, file IO) that JAX runs do not need, and it
    doubles a worker's memory (about 0.5 GiB -> 1 GiB, see ``make bench``).
    """
    import sys
    import warnings

    # The driver has already said which plugins failed to load; once is enough.
    warnings.filterwarnings("ignore", message="rnn-zoo: plugin")
    os.environ.update(thread_env(threads))
    if os.environ.get("KERAS_BACKEND", "jax") == "jax" and "keras" not in sys.modules:
        sys.modules.setdefault("tensorflow", None)  # `import tensorflow` now raises ImportError


def task_payload(config: RunConfig) -> dict:
    """What a worker needs to train ``config``: plain data, no code objects.

    ``modules`` are where the run's cell, mode and task are registered, so a worker
    in a fresh process (or on another node) registers them before it trains.
    """
    modules = {
        catalog.get_cell(config.cell).builder.__module__,
        catalog.get_mode(config.mode).builder.__module__,
        catalog.get_task(config.task_name).generate.__module__,
    }
    return {"config": config.to_dict(), "modules": sorted(modules - {"__main__", "__mp_main__"})}


def run_payload(payload: dict, on_epoch: OnEpoch | None = None) -> tuple:
    """Train one run in a worker; returns ``(config, files, error)``, one of the last two set."""
    config = RunConfig.from_dict(payload["config"])
    try:
        for module in payload["modules"]:
            importlib.import_module(module)
        from zoo.engine.run import train_run
        from zoo.runs import store

        def report(epoch: int, loss: float) -> None:
            if on_epoch is not None:
                on_epoch(config.run_id, epoch, loss)

        return config, store.run_files(train_run(config, on_epoch=report)), None
    except Exception as exc:  # a failed run is recorded; the grid goes on
        return config, None, traceback.format_exception_only(type(exc), exc)[-1].strip()


def make_executor(name: str, jobs: int, address: str | None = None, cpus_per_task: int = 1):
    """The executor called ``name``; fails at once, before any work, if it cannot run."""
    if name == "local":
        if address is not None:
            raise ConfigError(f"--address = {address!r}: only the ray executor joins a cluster")
        from zoo.runs.executors.local import LocalExecutor

        return LocalExecutor(jobs, threads=cpus_per_task)
    if name == "ray":
        from zoo.runs.executors.ray_cluster import RayExecutor

        return RayExecutor(address=address, jobs=jobs, cpus_per_task=cpus_per_task)
    raise ConfigError(f"--executor = {name!r}: " + registry.unknown_name_message("executor", name, EXECUTORS))
