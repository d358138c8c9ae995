"""Process setup, in one place: what rnn-zoo sets in a process before Keras starts.

- the Keras backend's default (JAX) and TensorFlow's log level, set only
  when the engine or the models are imported (``prepare_for_keras``), never
  by importing ``zoo`` or ``zoo.report``;
- TensorFlow kept out of a JAX worker (``keep_tensorflow_out``);
- the XLA CPU flags (``xla_cpu_flags``) and the compile cache's folder
  (``compile_cache_dir``). The worker's thread settings are
  ``zoo.runs.executors.thread_env``.

Nothing here imports a framework.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Keras's own default backend is TensorFlow; rnn-zoo's is JAX (see the README's
# Speed section). zoo/__init__.py sets it before Keras can be imported.
DEFAULT_BACKEND = "jax"
BACKENDS = ("jax", "tensorflow")  # what the engine's backend glue implements


def keras_backend() -> str:
    """The Keras backend this process trains on, checked before any work starts."""
    name = os.environ.get("KERAS_BACKEND", DEFAULT_BACKEND)
    if name not in BACKENDS:
        from zoo.core.config import ConfigError, show  # the schema's error type (it imports this module)

        slip = name.strip().lower()
        raise ConfigError(
            f"KERAS_BACKEND = {show(name)}: expected one of {', '.join(BACKENDS)}, the backends rnn-zoo's engine "
            f"runs on; unset it for the default, {DEFAULT_BACKEND}"
            + (f" (did you mean {slip!r}?)" if slip in BACKENDS else "")
        )
    return name


def keep_tensorflow_out() -> None:
    """On the JAX backend, make ``import tensorflow`` fail in this process; call it before Keras is imported.

    Keras imports TensorFlow whenever it is installed, only as an optional
    helper (seeding, file IO) that JAX runs do not need; it costs about 2.5 s
    and 0.5 GiB per process (see ``make bench``). For rnn-zoo's own processes
    only (the CLI and its workers), never a user's notebook, which may want
    TensorFlow for itself.
    """
    import sys

    if keras_backend() == "jax" and "keras" not in sys.modules:
        sys.modules.setdefault("tensorflow", None)


# XLA:CPU's newer fusion emitters compile our small recurrent programs a
# quarter to a third slower than its classic ones, and run them no faster
# (``make bench``, "XLA:CPU emitters"). On JAX the numbers come out identical;
# on TensorFlow some differ in the last bit of float32.
CLASSIC_CPU_EMITTERS = "--xla_cpu_use_fusion_emitters=false"
# The library of each backend that holds its XLA's flag names.
_XLA_LIBRARIES = {"jax": ("jaxlib", "*.so"), "tensorflow": ("tensorflow", "libtensorflow_framework.so*")}


def xla_cpu_flags(backend: str | None = None) -> str:
    """XLA flags for ``backend``'s CPU compiler (default: this process's) in rnn-zoo's own processes;
    "" where they do not apply."""
    return known_xla_flags(CLASSIC_CPU_EMITTERS, backend)


def known_xla_flags(flags: str, backend: str | None = None) -> str:
    """The flags of ``flags`` whose names ``backend``'s installed XLA holds (default: this process's backend).

    XLA aborts the process on a flag it does not know, so a flag is given only
    when the installed backend's XLA holds its name: one from before it, or one
    that dropped it, simply compiles as it always did. The library is read, never
    imported: this layer imports no framework.
    """
    import importlib.util
    import mmap

    package, pattern = _XLA_LIBRARIES[backend or keras_backend()]
    if (spec := importlib.util.find_spec(package)) is None:
        return ""
    wanted = {flag: flag.removeprefix("--").split("=")[0].encode() for flag in flags.split()}
    found: set[str] = set()
    for folder in spec.submodule_search_locations or ():
        for library in sorted(Path(folder).glob(pattern)):
            try:
                with library.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    found.update(flag for flag, name in wanted.items() if flag not in found and data.find(name) >= 0)
            except (OSError, ValueError):  # unreadable, or empty (mmap refuses)
                continue
    return " ".join(flag for flag in wanted if flag in found)


def with_xla_flags(flags: str, extra: str) -> str:
    """``flags`` (an XLA_FLAGS value) with each flag of ``extra`` it does not already set."""
    given = {f.split("=")[0] for f in flags.split()}
    return " ".join([*flags.split(), *(f for f in extra.split() if f.split("=")[0] not in given)])


COMPILE_CACHE = "RNN_ZOO_COMPILE_CACHE"


def compile_cache_dir(check: bool = True) -> Path | None:
    """Where compiled programs are kept between processes, or None when the cache is off.

    ``RNN_ZOO_COMPILE_CACHE`` names a folder, or is ``off``; by default
    ``~/.cache/rnn-zoo/xla/<host>`` (``$XDG_CACHE_HOME`` respected). The host's
    name is part of the default: an executable compiled for one machine's CPU
    features is refused by another's, so a home shared by several machines
    would only thrash. A folder the user named must be writable (``check``:
    a ``ConfigError`` before any work); the default one is simply skipped
    when it is not.
    """
    chosen = os.environ.get(COMPILE_CACHE, "")
    if chosen.strip().lower() == "off":
        return None
    try:
        if chosen:
            folder = Path(chosen).absolute()
        else:  # Path.home() raises RuntimeError where there is no HOME (some containers)
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            folder = base / "rnn-zoo" / "xla" / (platform.node() or "host")
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError("not writable")
    except (OSError, RuntimeError) as exc:
        if chosen and check:
            from zoo.core.config import ConfigError, show  # the schema's error type (it imports this module)

            reason = exc.strerror or str(exc)
            raise ConfigError(
                f"{COMPILE_CACHE} = {show(chosen)}: cannot keep compiled programs there ({reason}); "
                "name a writable folder, or 'off' to compile afresh in every process"
            ) from None
        return None
    return folder


# A grid's name becomes file and folder names (runs/.grids/NAME.json,
# reports/experiments/NAME/): a plain file name, never a path.


def prepare_for_keras() -> None:
    """Set rnn-zoo's defaults that Keras and TensorFlow read once, at their import.

    Called by ``zoo.models`` and ``zoo.engine``, the layers that import Keras:
    the backend defaults to JAX (Keras's own default is TensorFlow) and
    TensorFlow's start-up chatter is silenced, unless the user set either.
    """
    os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
