"""Backend-specific pieces: compiling, differentiating, Jacobians.

``BACKEND`` is the Keras backend of this process, fixed when Keras is first
imported (Keras reads ``KERAS_BACKEND`` once).

Everything else in rnn-zoo is written with ``keras.ops`` and Keras's stateless
calls, so supporting a backend means implementing the five functions below
(and ``device``, which says where this process trains).
"""

from __future__ import annotations

import functools
import os
import warnings

import keras  # noqa: E402, I001

import zoo.models  # noqa: F401, I001  (imports TensorFlow quietly, before Keras does)
from zoo.core.config import compile_cache_dir

BACKEND = keras.backend.backend()
COMPILE_CACHE_BYTES = 1 << 30  # 1 GiB; the default grid's programs take about 20 MiB
SUPPORTED = ("jax", "tensorflow")

def _repair_damaged_entries(folder) -> None:
    """Remove a compile-cache entry that cannot be loaded, saying which, so the compile
    that follows stores it again. JAX itself never replaces an entry whose key
    exists: a damaged one would cost a full compile in every later process.
    Works through JAX's cache internals; where they differ, nothing changes."""
    import sys

    try:
        from jax._src import compilation_cache
    except ImportError:
        return
    load = getattr(compilation_cache, "get_executable_and_time", None)
    if load is None or getattr(load, "rnn_zoo_repairs", False):
        return

    @functools.wraps(load)
    def load_or_repair(cache_key, *args, **kwargs):
        try:
            return load(cache_key, *args, **kwargs)
        except Exception as exc:
            entry = folder / f"{cache_key}-cache"
            if entry.is_file():
                entry.unlink(missing_ok=True)
                (folder / f"{cache_key}-atime").unlink(missing_ok=True)
                why = f"{type(exc).__name__}: {str(exc)[:80]}"
                print(f"warning: rnn-zoo: compile-cache entry {entry} could not be loaded ({why}); "
                      "removed, and stored again after this compile", file=sys.stderr, flush=True)
            raise  # JAX compiles the program instead, and now stores it

    load_or_repair.rnn_zoo_repairs = True
    compilation_cache.get_executable_and_time = load_or_repair


if BACKEND == "jax":
    import jax

    # Each worker process compiles its shapes again: about 1 s of every 2 in a
    # small compare. XLA's persistent cache keeps the executables on disk
    # (keyed by program, JAX version, device and flags), so a second compare,
    # or a second worker, loads them instead. Our programs compile in well
    # under JAX's default 1 s threshold, hence the 0. A size limit turns on
    # JAX's file lock, so workers writing and reading one entry at once never
    # see half of it, and the oldest entries go first. A user's own
    # JAX_COMPILATION_CACHE_DIR wins.
    if not os.environ.get("JAX_COMPILATION_CACHE_DIR") and (cache := compile_cache_dir(check=False)) is not None:
        # A subfolder of its own: JAX's eviction removes any *-cache file in the folder it is given.
        jax.config.update("jax_compilation_cache_dir", str(cache / "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_compilation_cache_max_size", COMPILE_CACHE_BYTES)
        # A cache entry that cannot be read or written (a damaged file, a full disk)
        # only means compiling again; JAX would warn once per program. A damaged
        # entry is removed (below), so this compile stores it anew.
        warnings.filterwarnings("ignore", message="Error (reading|writing) persistent compilation cache entry")
        _repair_damaged_entries(cache / "jax")

    def compile_fn(fn, xla: bool = True):
        """Compile ``fn`` with XLA; compiled code is cached per input shape.

        ``xla=False`` matters on TensorFlow only (see there); JAX always compiles.
        """
        return jax.jit(fn)

    def value_and_grad(fn):
        """``fn(params, *args) -> (value, aux)`` to ``((value, aux), grads)``."""
        return jax.value_and_grad(fn, has_aux=True)

    def grad(fn):
        """Gradient of a scalar ``fn`` with respect to its first argument."""
        return jax.grad(fn)

    def scan(step, carry, xs):
        """Run ``step(carry, x) -> (carry, y)`` over the leading axis of ``xs``; returns (carry, ys)."""
        return jax.lax.scan(step, carry, xs)

    def batch_jacobian(fn, x):
        """Per-sample Jacobians of a row-wise ``fn`` (batch, in) -> (batch, out).

        Rows do not interact, so one backward pass per output unit over the
        whole batch gives every sample's Jacobian row at once (the trick of
        ``tf.GradientTape.batch_jacobian``), instead of one pass per sample.
        """
        out, pullback = jax.vjp(fn, x)
        units = out.shape[-1]
        cotangents = jax.numpy.broadcast_to(
            jax.numpy.eye(units, dtype=out.dtype)[:, None, :], (units,) + out.shape
        )
        (rows,) = jax.vmap(pullback)(cotangents)  # (out, batch, in)
        return jax.numpy.transpose(rows, (1, 0, 2))

    @functools.cache
    def device() -> dict:
        """Where this process trains: kind ("cpu" or "gpu"), the device's name, how many it sees."""
        devices = jax.devices()
        kind = "gpu" if devices[0].platform in ("gpu", "cuda", "rocm") else devices[0].platform
        return _device(kind, devices[0].device_kind, len(devices))

elif BACKEND == "tensorflow":
    import tensorflow as tf

    # TensorFlow's own persistent XLA cache: the flag is read at the first XLA
    # compile, so setting it here, after the import, is in time. A folder per
    # TensorFlow version (its entries carry no version of their own).
    if "tf_xla_persistent_cache_directory" not in os.environ.get("TF_XLA_FLAGS", "") and (
        cache := compile_cache_dir(check=False)
    ) is not None:
        flag = f"--tf_xla_persistent_cache_directory={cache / f'tensorflow-{tf.__version__}'}"
        os.environ["TF_XLA_FLAGS"] = f"{os.environ.get('TF_XLA_FLAGS', '')} {flag}".strip()

    def compile_fn(fn, xla: bool = True):
        # XLA must be asked for: jit_compile="auto" leaves it off on a CPU.
        # xla=False: a TensorFlow graph without XLA, for what XLA does badly on a
        # CPU (its SVD of 128 x 128 matrices took 80 s here; TensorFlow's own kernel, a fraction of a second).
        return tf.function(fn, jit_compile=xla, reduce_retracing=True)

    def value_and_grad(fn):
        def wrapped(params, *args):
            with tf.GradientTape() as tape:
                tape.watch(params)
                value, aux = fn(params, *args)
            return (value, aux), tape.gradient(value, params)

        return wrapped

    def grad(fn):
        def wrapped(x, *args):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = fn(x, *args)
            return tape.gradient(value, x)

        return wrapped

    def scan(step, carry, xs):
        # A while loop with TensorArrays (keras.ops.scan mis-stacks nested
        # outputs here). Tracing step once on the first element gives the
        # output structure; XLA drops that unused copy.
        n = tf.shape(tf.nest.flatten(xs)[0])[0]
        _, first = step(carry, tf.nest.map_structure(lambda a: a[0], xs))
        arrays = [tf.TensorArray(y.dtype, size=n, element_shape=y.shape) for y in tf.nest.flatten(first)]

        def body(i, carry, arrays):
            carry, y = step(carry, tf.nest.map_structure(lambda a: a[i], xs))
            return i + 1, carry, [a.write(i, v) for a, v in zip(arrays, tf.nest.flatten(y))]

        length = tf.nest.flatten(xs)[0].shape[0]  # static where known: later ops (a fori_loop) need it
        # maximum_iterations: XLA can then differentiate through the loop (its gradient's TensorArrays need a size).
        _, carry, arrays = tf.while_loop(lambda i, *_: i < n, body, (tf.constant(0), carry, arrays),
                                         maximum_iterations=length)
        stacked = [a.stack() for a in arrays]
        if length is not None:
            for t in stacked:
                t.set_shape([length, *t.shape[1:]])
        return carry, tf.nest.pack_sequence_as(first, stacked)

    def batch_jacobian(fn, x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = fn(x)
        return tape.batch_jacobian(out, x)

    @functools.cache
    def device() -> dict:
        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return _device("cpu", "cpu", len(tf.config.list_physical_devices("CPU")))
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu")
        return _device("gpu", name, len(gpus))

else:
    raise ImportError(
        f"rnn-zoo's training engine runs on the backends {', '.join(SUPPORTED)}; "
        f"KERAS_BACKEND is {BACKEND!r}"
    )


def _device(kind: str, name: str, count: int) -> dict:
    # CUDA_VISIBLE_DEVICES: which GPU of the machine, when a worker plan chose one.
    return {"kind": kind, "name": str(name), "count": count, "visible": os.environ.get("CUDA_VISIBLE_DEVICES")}
