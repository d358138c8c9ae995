"""The one-step Jacobian's spectrum, the QR Lyapunov spectrum and the tanh slope.

Along the probe sequences the layer that reads the input steps from a zero
state; every one-step Jacobian dh_{t+1}/dh_t (over its whole carried state) is
taken by the backend's autodiff, and ``zoo.engine.spectrum`` reduces them:
their singular values (``jac_sigma_*``), the QR method's top exponent with a
transient discarded and the exact sum of the exponents with its part below
float32 resolution (``qr_lyapunov_max``, ``lyapunov_sum``,
``lyapunov_sum_unresolved``). ``tanh_slope_mean`` is the mean of 1 - h^2 of
the output state h, ``tanh_slope_over_0_9`` the share of values above 0.9.
The spectrum keeps every one-step Jacobian, so it is taken over the first
sequences of the probe batch only (``zoo.engine.probes.spectrum_batch``). It
applies to the zoo's many-step layouts (layout "many"): a one-step layout
carries no state through time from the input, and ``zoo.diagnose`` takes a
user's layers' spectrum in its own path (with their masks and its
``spectrum_sequences``).
"""

from __future__ import annotations

from keras import ops

from zoo.engine import spectrum
from zoo.engine.probes import spectrum_batch

# Compiled outside XLA on TensorFlow: its XLA SVD made an LSTM's first probe take 5 minutes (the
# probe program reads this; JAX always compiles with XLA).
XLA = False


def _state_sizes(cell) -> list[int]:
    return list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]


def spectrum_fn(sizes: list[int], step, batch_jacobian, scan):
    """``stats(cell_vars, x)``: the spectrum of the one-step Jacobians dh_{t+1}/dh_t along the
    sequences ``x`` (their first ``spectrum_batch``) and the tanh slope of the first state (the
    output h). ``step(cell_vars, x_t, flat) -> flat`` is one step of the cell on its flat state of
    ``sizes``; ``batch_jacobian``, ``scan``: the backend's (``ProbeContext``). ``zoo.diagnose``
    runs it on a user's layers too."""

    def stats(cell_vars, x):
        x = x[: spectrum_batch(x.shape[1])]

        def forward(h, x_t):
            new = step(cell_vars, x_t, h)
            return new, (batch_jacobian(lambda s: step(cell_vars, x_t, s), h), new)

        _, (jac, after) = scan(forward, ops.zeros((x.shape[0], sum(sizes))), ops.moveaxis(x, 1, 0))
        out = {**spectrum.jacobian_singular_values(jac), **spectrum.lyapunov_summary(jac)}
        out = {f"jac_{k}" if k.startswith("sigma") else k: v for k, v in out.items()}
        slope = 1.0 - ops.square(after[..., : sizes[0]])
        out["tanh_slope_mean"] = ops.mean(slope)
        out["tanh_slope_over_0_9"] = ops.mean(ops.cast(slope > 0.9, slope.dtype))
        return out

    return stats


def measure(ctx):
    if ctx.layout != "many":
        return None
    split = ctx.input_split()
    stats = spectrum_fn(_state_sizes(ctx.input_layer().cell), lambda cv, x_t, h: split.step(cv, x_t, h)[1],
                        ctx.batch_jacobian, ctx.scan)
    return lambda tv, ntv, x, y: stats([tv[i] for i in split.cell_index], split.front(tv, ntv, x))
