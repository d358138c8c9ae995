"""Where a compare's workers train, and how many of them: a plan, made before any starts.

``detect_devices(backend)`` asks the backend what it sees, in a short child
process, so this (driver) process never initialises a GPU or holds its memory.
``plan_workers(devices, cores, ...)`` is pure: from that list it decides the
device, the number of worker processes and each worker's environment.
``make_plan(...)`` is both, for a compare: detection (skipped where the machine
has no GPU device node at all, remembered per process) then the plan.

Why a plan at all: one worker per core is right on a CPU (see ``make bench``),
but on a GPU machine 16 JAX processes each preallocate 75% of the same GPU and
half the runs die with allocator errors. On a GPU the plan therefore runs a
few workers per GPU, turns preallocation off and caps each one's share.

Nothing here imports keras, jax or tensorflow.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from zoo.core.config import ConfigError
from zoo.core.names import nearest_hint

CHOICES = ("auto", "cpu", "gpu")
# What a user may call a device instead: a GPU by its maker's platform, a plural; a kind rnn-zoo does not
# train on (a TPU) gets no suggestion rather than the one it is spelt like.
SYNONYMS = {"cuda": "gpu", "nvidia": "gpu", "rocm": "gpu", "gpus": "gpu", "cpus": "cpu", "host": "cpu", "tpu": None}

# Worker processes per GPU, by default. These models are tiny: a training step
# is a few small kernels, bound by launch and host latency, not by the GPU's
# arithmetic, so one process leaves the GPU idle most of the time. A few in
# flight overlap one's Python and dispatch with another's kernels; many more
# only add contention and memory (each process holds its own CUDA context and
# compiled programs, roughly 0.5 GiB before any data).
WORKERS_PER_GPU = 4

# The share of a GPU's memory all its workers together may take: the rest is
# for the CUDA contexts themselves, cuDNN/cuSolver workspaces and other users.
GPU_MEMORY_SHARE = 0.9

# A worker needs about this much of the GPU: the default never plans more
# workers per GPU than fit (matters only on small GPUs).
MIN_WORKER_BYTES = 1 << 30

PROBE_TIMEOUT_S = 120  # the first CUDA start on a cold machine can take a while


class DeviceError(ConfigError):
    """A --device or --jobs request that cannot be met; its message is one line (a usage error)."""


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "gpu"
    index: int  # its position among the devices the backend sees
    memory_bytes: int | None = None  # what one process may use of it, when the backend says
    cuda_id: str | None = None  # what CUDA_VISIBLE_DEVICES calls it, when that differs from index

    @property
    def visible_as(self) -> str:
        """The value of CUDA_VISIBLE_DEVICES that shows a worker this GPU alone."""
        return self.cuda_id if self.cuda_id is not None else str(self.index)


@dataclass(frozen=True)
class WorkerPlan:
    device: str  # "cpu" or "gpu"
    jobs: int  # worker processes
    env: dict[str, str]  # for every worker; ``env_for`` adds each one's GPU
    # On a GPU a step costs about the same for S models as for one, so a worker
    # trains the seeds of a shape together (zoo.engine.batched, JAX only).
    batch_seeds: bool
    note: str  # one sentence: what was chosen and why, for the start of a compare
    gpus: tuple[str, ...] = ()  # CUDA_VISIBLE_DEVICES values, dealt to workers round-robin

    def env_for(self, worker_index: int) -> dict[str, str]:
        """Worker ``worker_index``'s environment; set it before the backend starts.

        A replacement for a dead worker should reuse its index, so it lands on
        the same GPU and the per-GPU count (and memory share) stays as planned.
        """
        env = dict(self.env)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[worker_index % len(self.gpus)]
        return env


# The child processes' scripts print one JSON line: [{"kind", "memory"}, ...].
# jax.devices() lists the default backend's devices: the GPUs when JAX can use
# one, else the CPU. bytes_limit is what this process may allocate: with the
# fraction set to 1 below, about the whole device.
_JAX_PROBE = """
import json, jax
out = []
for d in jax.devices():
    try:
        stats = d.memory_stats() or {}
    except Exception:
        stats = {}
    kind = "gpu" if d.platform in ("gpu", "cuda", "rocm") else d.platform
    out.append({"kind": kind, "memory": stats.get("bytes_limit")})
print(json.dumps(out))
"""

# list_physical_devices reads the hardware without creating a context or allocating.
_TF_PROBE = """
import json, tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
cpus = tf.config.list_physical_devices("CPU")
print(json.dumps([{"kind": "gpu", "memory": None} for _ in gpus] or [{"kind": "cpu", "memory": None} for _ in cpus]))
"""

_PROBES = {"jax": _JAX_PROBE, "tensorflow": _TF_PROBE}


def detect_devices(backend: str) -> list[Device]:
    """The devices ``backend`` would train on here: its GPUs, or else its CPU device(s).

    Runs in a child process with this environment, so JAX_PLATFORMS,
    CUDA_VISIBLE_DEVICES and XLA_FLAGS are respected, and with preallocation
    off, so probing takes no GPU memory that the workers will want. Anything
    going wrong (the backend not installed, no CUDA build, no driver, a
    timeout) means one CPU device: the CPU always works. An unknown backend
    is probed not at all, also one CPU device.
    """
    cpu_only = [Device("cpu", 0)]
    probe = _PROBES.get(backend)
    if probe is None:
        return cpu_only
    env = dict(os.environ)
    env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false", XLA_PYTHON_CLIENT_MEM_FRACTION="1.0", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_CLIENT_MEM_FRACTION", None)  # jaxlib refuses both names at once
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
        found = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        found = []
    # The n-th GPU the backend sees is the n-th entry of CUDA_VISIBLE_DEVICES, when
    # that is set: a worker must be given that entry (a number or a GPU-UUID), not n.
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    devices = []
    for d in found:
        if isinstance(d, dict) and d.get("kind") in ("cpu", "gpu"):
            i = sum(1 for x in devices if x.kind == d["kind"])
            memory = d.get("memory") if isinstance(d.get("memory"), int) else None
            cuda_id = visible[i] if d["kind"] == "gpu" and i < len(visible) else None
            devices.append(Device(d["kind"], i, memory, cuda_id))
    return devices or cpu_only


def check_device(requested_device: str) -> None:
    """A ``--device`` that is not one of ``CHOICES`` is one line naming the nearest: by meaning where
    it is another name of one (``cuda`` is ``gpu``), else by spelling."""
    if requested_device not in CHOICES:
        kind = re.sub(r"[:\d]+$", "", str(requested_device).lower())  # cuda:0, gpu1: the kind, not its number
        meant = kind if kind in CHOICES else SYNONYMS.get(kind, "")
        hint = (f" (did you mean {meant!r}?)" if meant else
                "" if meant is None or kind in SYNONYMS else nearest_hint(requested_device, CHOICES))
        raise DeviceError(f"--device = {requested_device!r}: valid choices: {', '.join(CHOICES)}{hint}")


def plan_workers(
    devices: list[Device],
    cores: int,
    requested_device: str = "auto",
    requested_jobs: int | None = None,
    backend: str = "jax",
) -> WorkerPlan:
    """How many workers, on which device, with which environment.

    ``auto`` takes the GPU(s) when there are any: that is what a GPU machine
    is for, and the plan below makes it safe. ``requested_jobs`` (``--jobs``)
    overrides the count on either device.
    """
    check_device(requested_device)
    if requested_jobs is not None and requested_jobs < 1:
        raise DeviceError(f"--jobs = {requested_jobs}: expected a number greater than 0")
    cores = max(1, cores)
    gpus = [d for d in devices if d.kind == "gpu"]
    if requested_device == "gpu" and not gpus:
        raise DeviceError(f"--device = 'gpu': no GPU visible to the {backend} backend; valid choices: auto, cpu")
    if requested_device == "cpu" or not gpus:
        return _cpu_plan(requested_jobs or cores, len(gpus), requested_jobs is not None, requested_device, backend)
    return _gpu_plan(gpus, cores, requested_jobs, backend)


def _cpu_plan(jobs: int, hidden: int, jobs_asked: bool, requested: str, backend: str) -> WorkerPlan:
    # Pin both frameworks to the CPU: JAX_PLATFORMS for JAX, and an empty
    # CUDA_VISIBLE_DEVICES for anything else (TensorFlow, a JAX that ignores the
    # first), so no worker opens a CUDA context or takes GPU memory.
    env = {"JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    count = _workers(jobs) + (" (as --jobs asked)" if jobs_asked else " (one per core)")
    if hidden:
        gpus = f"{hidden} GPUs are" if hidden > 1 else "GPU is"
        why = f"as --device cpu asked; the {gpus} hidden from them"
    elif requested == "cpu":
        why = "as --device cpu asked"
    else:
        why = f"no GPU is visible to the {backend} backend"
    return WorkerPlan("cpu", jobs, env, False, f"Training on the CPU with {count}: {why}.")


def _gpu_plan(gpus: list[Device], cores: int, requested_jobs: int | None, backend: str) -> WorkerPlan:
    if requested_jobs is None:
        per_gpu = WORKERS_PER_GPU
        known = [d.memory_bytes for d in gpus if d.memory_bytes]
        if known:  # never more workers than the smallest GPU holds
            per_gpu = min(per_gpu, max(1, int(GPU_MEMORY_SHARE * min(known) // MIN_WORKER_BYTES)))
        # Each worker is also a CPU process feeding its GPU: no more than the cores.
        jobs = max(1, min(per_gpu * len(gpus), cores))
    else:
        jobs = requested_jobs
    most = math.ceil(jobs / len(gpus))  # workers on the busiest GPU, dealt round-robin
    fraction = math.floor(GPU_MEMORY_SHARE / most * 1e6) / 1e6  # rounded down: the sum stays within the share
    env = {
        # Allocate as needed rather than 75% up front (the failure this plan
        # exists for), and cap each process at its share so that together the
        # workers on one GPU stay within GPU_MEMORY_SHARE.
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        # The old name: every jax this project allows reads it (newer ones as a
        # deprecated alias of XLA_CLIENT_MEM_FRACTION). jaxlib refuses both at
        # once, so an inherited new-name value is blanked (empty reads as unset).
        "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{fraction:.6f}".rstrip("0"),
        "XLA_CLIENT_MEM_FRACTION": "",
        # TensorFlow (the tensorflow backend, or TF imported beside JAX) would
        # otherwise map all of a GPU's memory; it has no fraction variable.
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        # float32 matrix products in float32, as on the CPU: JAX's default on a
        # recent NVIDIA GPU is TF32 (10-bit mantissa), which would make GPU runs
        # differ from CPU runs by far more than rounding. These products are
        # tiny and latency-bound, so full precision costs no time here.
        "JAX_DEFAULT_MATMUL_PRECISION": "highest",
    }
    plural = "s" if len(gpus) > 1 else ""
    count = _workers(jobs) + (" (as --jobs asked)" if requested_jobs is not None else "")
    batch = backend == "jax"
    seeds = "the seeds of each cell x mode as one batched model, " if batch else ""
    note = (
        f"Training on {len(gpus)} GPU{plural} with {count}, up to {most} per GPU, {seeds}since a step of these "
        f"small models is latency-bound and a few in flight keep a GPU busy; each may use {fraction:.1%} of its "
        "GPU's memory, allocated as needed."
    )
    return WorkerPlan("gpu", jobs, env, batch, note, tuple(d.visible_as for d in gpus))


def gpu_device_nodes() -> bool:
    """Whether this machine has a device node a GPU runtime opens (NVIDIA, ROCm, WSL's).

    Without one no backend can see a GPU, so ``make_plan`` skips the probe
    (a second or more: a child process that imports the backend). On other
    systems than Linux it cannot tell, and says True.
    """
    if not sys.platform.startswith("linux"):
        return True
    dev = Path("/dev")
    return any(dev.glob("nvidia[0-9]*")) or (dev / "kfd").exists() or (dev / "dxg").exists()


# What detection depends on besides the backend: the variables that hide or split devices.
_DETECTION_ENV = ("JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "XLA_FLAGS")


@functools.lru_cache(maxsize=8)
def _detected(backend: str, env: tuple) -> tuple[Device, ...]:
    return tuple(detect_devices(backend))


def make_plan(
    requested_device: str = "auto",
    requested_jobs: int | None = None,
    backend: str | None = None,
    cores: int | None = None,
) -> WorkerPlan:
    """The plan for a compare on this machine: what the backend sees, then ``plan_workers``.

    A bad ``requested_device`` fails before any probe. Detection runs once per
    process for a given environment.
    """
    backend = backend or os.environ.get("KERAS_BACKEND", "jax")
    cores = cores or len(os.sched_getaffinity(0))
    if requested_device in CHOICES and gpu_device_nodes():
        devices = list(_detected(backend, tuple(os.environ.get(k) for k in _DETECTION_ENV)))
    else:
        devices = [Device("cpu", 0)]
    return plan_workers(devices, cores, requested_device, requested_jobs, backend)


def _workers(jobs: int) -> str:
    return f"{jobs} worker process" + ("es" if jobs != 1 else "")
