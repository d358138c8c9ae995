"""Backend-specific pieces: compiling, differentiating, looping, Jacobians.

Everything else in rnn-zoo is written with ``keras.ops`` and stateless Keras
calls, so supporting a backend means implementing the four functions below.
"""

from __future__ import annotations

import keras

BACKEND = keras.backend.backend()


def _unsupported(*_args, **_kwargs):
    raise RuntimeError(
        f"rnn-zoo's training engine supports the jax backend; KERAS_BACKEND is {BACKEND!r}"
    )


if BACKEND == "jax":
    import jax

    def compile_fn(fn):
        """Compile ``fn`` with XLA; its compiled form is cached per input shape."""
        return jax.jit(fn)

    def value_and_grad(fn):
        """``fn(params, *args) -> (value, aux)`` to ``((value, aux), grads)``."""
        return jax.value_and_grad(fn, has_aux=True)

    def grad(fn):
        """Gradient of a scalar ``fn`` with respect to its first argument."""
        return jax.grad(fn)

    def scan(step, carry, xs):
        """``lax.scan``: run ``step(carry, x) -> (carry, y)`` over the leading axis of xs."""
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

else:
    compile_fn = value_and_grad = grad = scan = batch_jacobian = _unsupported
