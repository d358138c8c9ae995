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
import re
import sys
from dataclasses import dataclass
from typing import Callable, Iterator

from zoo.core import catalog
from zoo.core.config import ConfigError, RunConfig, keep_tensorflow_out, with_xla_flags, xla_cpu_flags
from zoo.core.names import unknown_name_message
from zoo.core.process import prepare_for_keras

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
    It also picks XLA's classic CPU emitters (``xla_cpu_flags``).
    XLA and BLAS read these when the backend starts, so set them before.
    """
    env = {var: str(threads) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env["TF_NUM_INTRAOP_THREADS"] = str(threads)
    env["TF_NUM_INTEROP_THREADS"] = "1"
    single = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" if threads == 1 else ""
    env["XLA_FLAGS"] = with_xla_flags(os.environ.get("XLA_FLAGS", ""), f"{single} {xla_cpu_flags()}")
    return env


# What Keras imports only for helpers a worker never calls (its image galleries
# draw with matplotlib), each import guarded, so hidden they are left out.
# Importing the forkserver's preload took 3.9 CPU-s without matplotlib, 5.2 with it.
KERAS_EXTRAS_A_WORKER_SKIPS = ("matplotlib",)


def import_keras_for_a_worker() -> None:
    """Import Keras in a worker without ``KERAS_EXTRAS_A_WORKER_SKIPS``; those import as usual afterwards
    (a user's cell file may use them). Call it after ``keep_tensorflow_out`` and the thread settings."""
    if "keras" in sys.modules:
        return
    prepare_for_keras()  # rnn-zoo's backend default, before Keras reads it
    hidden = [name for name in KERAS_EXTRAS_A_WORKER_SKIPS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # an import of it now raises ImportError, which Keras catches
    try:
        import keras  # noqa: F401
    finally:
        for name in hidden:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def prepare_worker(threads: int = 1) -> None:
    """Make this fresh process a lean worker; call it before Keras is imported.

    Pins its threads (``thread_env``), on the JAX backend keeps TensorFlow
    out (``keep_tensorflow_out``), then imports Keras without what only its
    plotting helpers need (``import_keras_for_a_worker``).
    """
    import warnings

    # The driver has already said which plugins and files of the cell and task folders failed to load.
    warnings.filterwarnings("ignore", message=r"rnn-zoo: .* failed to load: ")
    os.environ.update(thread_env(threads))
    keep_tensorflow_out()
    import_keras_for_a_worker()


def task_payload(configs: RunConfig | list[RunConfig], batched: bool = False) -> dict:
    """What a worker needs to train a task (one run, or a group of runs): plain data, no code objects.

    ``modules`` are where the runs' cells, modes and tasks are registered, so a worker
    in a fresh process (or on another node) registers them before it trains.
    ``batched``: train the group's runs (one shape, several seeds) as one
    vmapped model (``zoo.engine.batched``), where the backend can.
    """
    configs = [configs] if isinstance(configs, RunConfig) else list(configs)
    modules = set()
    for config in configs:
        modules.add(catalog.get_cell(config.cell).builder.__module__)
        modules.add(catalog.get_mode(config.mode).builder.__module__)
        modules.add(catalog.get_task(config.task_name).generate.__module__)
    return {
        "configs": [c.to_dict() for c in configs],
        "modules": sorted(modules - {"__main__", "__mp_main__"}),
        "batched": batched,
    }


def _error(exc: BaseException) -> str:
    """The exception as one line: its type and message, without the notes a
    backend appends (JAX's "For simplicity, JAX has removed its internal
    frames..." would otherwise be all that is recorded)."""
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__"):  # as Python names it: jax.errors.TracerBoolConversionError
        name = f"{kind.__module__}.{name}"
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())  # Keras bolds the cause with ANSI codes
    return f"{name}: {text}" if text else name


def run_task(payload: dict, on_epoch: OnEpoch | None = None) -> Iterator[tuple]:
    """Train a task in a worker; yields ``(config, files, error)`` per run, one of the last two set.

    A batched group whose batched training raises is trained again run by
    run, so a cell that cannot be vmapped still trains (only slower), and a
    run that raises alone records its own error.
    """
    configs = [RunConfig.from_dict(d) for d in payload["configs"]]
    try:
        for module in payload["modules"]:
            importlib.import_module(module)
    except Exception as exc:  # a failed run is recorded; the grid goes on
        yield from ((config, None, _error(exc)) for config in configs)
        return
    from zoo import store

    def report(run_id: str, epoch: int, loss: float) -> None:
        if on_epoch is not None:
            on_epoch(run_id, epoch, loss)

    if payload.get("batched") and len(configs) > 1:
        from zoo.engine import batched

        if batched.available():
            try:
                results = batched.train_group(configs, lambda run, epoch, loss: report(run.run_id, epoch, loss))
            except Exception as exc:
                print(
                    f"rnn-zoo: training {len(configs)} seeds of {configs[0].cell} {configs[0].mode} batched failed "
                    f"({_error(exc)}); training them one by one",
                    file=sys.stderr,
                )
            else:
                yield from ((config, store.run_files(r), None) for config, r in zip(configs, results))
                return
    from zoo.engine.run import train_run

    for config in configs:
        try:
            result = train_run(config, on_epoch=lambda epoch, loss, rid=config.run_id: report(rid, epoch, loss))
            yield config, store.run_files(result), None
        except Exception as exc:  # a failed run is recorded; the grid goes on
            yield config, None, _error(exc)


def run_payload(payload: dict, on_epoch: OnEpoch | None = None) -> tuple:
    """Train a one-run task; returns ``(config, files, error)``, one of the last two set."""
    (result,) = run_task(payload, on_epoch)
    return result


def make_executor(
    name: str, jobs: int | None = None, address: str | None = None, cpus_per_task: int = 1, device: str = "auto",
    run_timeout: float | None = None,
):
    """The executor called ``name``; fails at once, before any work, if it cannot run.

    ``jobs`` None: the local executor's device plan decides (one worker per
    core on a CPU, a few per GPU); Ray takes one CPU per core. ``device``:
    ``auto``, ``cpu`` or ``gpu`` (``zoo.runs.devices``). ``run_timeout``: seconds
    without an epoch ending before a run is ended (local executor; default 3 hours).
    """
    if name == "local":
        if address is not None:
            raise ConfigError(f"--address = {address!r}: only the ray executor joins a cluster")
        from zoo.runs.devices import make_plan
        from zoo.runs.executors.local import RUN_TIMEOUT, LocalExecutor

        plan = make_plan(device, jobs)
        return LocalExecutor(threads=cpus_per_task, plan=plan, run_timeout=run_timeout or RUN_TIMEOUT)
    if name == "ray":
        from zoo.runs.devices import DeviceError, check_device

        check_device(device)
        if device == "gpu":
            raise DeviceError(
                "--device = 'gpu': the ray executor trains on CPUs (Ray hides the GPUs from tasks that ask for "
                "none); valid choices with --executor ray: auto, cpu"
            )
        from zoo.runs.executors.ray_cluster import RayExecutor

        return RayExecutor(address=address, jobs=jobs or default_jobs(), cpus_per_task=cpus_per_task)
    raise ConfigError(f"--executor = {name!r}: " + unknown_name_message("executor", name, EXECUTORS))
