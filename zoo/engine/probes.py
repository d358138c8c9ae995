"""Gradient probes on a fixed batch: what the gradient does through time.

- ``dL/dx`` by lag: each input step's own gradient (RMS over the batch);
- ``‖dh_T/dh_t‖`` by lag: the mean Frobenius norm of the state Jacobian of the
  layer that reads the input, over its whole carried state (h, and c for an
  LSTM), since gradients through time flow through all of it;
- the spectrum of the one-step state Jacobians dh_{t+1}/dh_t of that layer
  (singular values, and the finite-time Lyapunov exponents of their product
  along the probe sequences, ``zoo.engine.spectrum``), from the same
  Jacobians as ``‖dh_T/dh_t‖``, and the tanh slope 1 - h^2 of its first state;
- gate activations of gated cells.

They work for any registered cell, with no per-cell code: the Jacobians come
from the cell's own ``call`` through the backend's autodiff.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
from keras import ops

from zoo.engine import backend, spectrum
from zoo.engine.build import Resolved
from zoo.engine.losses import per_sample_loss


def input_layer_name(model: keras.Model) -> str:
    """Name of the recurrent layer that reads the input sequence."""
    return "encoder" if any(layer.name == "encoder" for layer in model.layers) else "rnn"


# Columns of probes.csv. The spectrum columns hold one value per probed epoch,
# repeated on its lag rows; empty (NaN) where the model has no state through time.
SPECTRUM_COLUMNS = (
    "jac_sigma_max", "jac_sigma_min", "jac_sigma_median", "lyapunov_max", "lyapunov_sum",
    "tanh_slope_mean", "tanh_slope_over_0_9",
)
PROBE_COLUMNS = ("epoch", "lag", "dL_dx", "dhT_dht", *SPECTRUM_COLUMNS)


def _state_sizes(cell) -> list[int]:
    return list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]


class Probes:
    """The compiled probe functions of one model shape."""

    def __init__(self, resolved: Resolved, model: keras.Model, loss_kind: str):
        self.model = model

        def input_loss(x, tv, ntv, y):
            # Sum of per-sample losses, so each row is that sample's own gradient.
            pred = model.stateless_call(tv, ntv, x, training=False)[0]
            return ops.sum(per_sample_loss(loss_kind, pred, y))

        self.input_gradients = backend.compile_fn(backend.grad(input_loss))
        self.state_jacobian_norms = self.state_dynamics = None
        if resolved.mode.layout == "many":
            self.state_jacobian_norms = backend.compile_fn(self._state_jacobian_fn())
            # The norms and the spectrum from one pass over the Jacobians (what probe_rows calls).
            self.state_dynamics = backend.compile_fn(self._state_jacobian_fn(with_spectrum=True))
        gate_fn = self._gate_means_fn(resolved)
        self.gate_means = backend.compile_fn(gate_fn) if gate_fn else None

    def _gate_means_fn(self, resolved: Resolved) -> Callable | None:
        """Mean activation of each gate over the probe batch, units and steps,
        for the layer that reads the model's input; None for ungated cells."""
        model = self.model
        layer = model.get_layer(input_layer_name(model))
        gates = resolved.cell.gate_fn(layer.cell)
        if gates is None or layer.input is not model.inputs[0]:
            return None
        cell, sizes = layer.cell, _state_sizes(layer.cell)

        def means(tv, x):
            # The gate functions read the cell's variables; map them to tv.
            with keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, tv))):
                states = [ops.zeros((x.shape[0], s)) for s in sizes]
                totals: dict = {}
                for t in range(x.shape[1]):
                    for name, value in gates(x[:, t], states).items():
                        totals[name] = totals.get(name, 0.0) + ops.mean(value)
                    _, states = cell.call(x[:, t], states, training=False)
                    states = list(states) if isinstance(states, (list, tuple)) else [states]
                return {name: total / x.shape[1] for name, total in totals.items()}

        return means

    def _state_jacobian_fn(self, with_spectrum: bool = False) -> Callable:
        """Mean Frobenius norm of dh_T/dh_t by lag T - t, for the layer that reads the input.

        The Jacobian is chained one step at a time: dh_T/dh_t = dh_T/dh_{t+1} dh_{t+1}/dh_t.
        ``with_spectrum``: also the spectrum of those one-step Jacobians (singular
        values, Lyapunov exponents; ``zoo.engine.spectrum``) and the mean tanh
        slope 1 - h^2 of the first state (the output h), with the share of
        (sample, step, unit) values above 0.9; returns ``(norms, {name: value})``.
        """
        model = self.model
        cell = model.get_layer(input_layer_name(model)).cell
        paths = [v.path for v in model.trainable_variables]
        cell_index = [paths.index(v.path) for v in cell.trainable_variables]
        sizes = _state_sizes(cell)
        splits = list(np.cumsum(sizes)[:-1])
        # Dropout seed state and the like: constant while probing.
        cell_constants = [v.value for v in cell.non_trainable_variables]

        def step(cell_vars, x_t, flat):
            states = ops.split(flat, splits, axis=-1) if splits else [flat]
            (_, new_states), _ = cell.stateless_call(cell_vars, cell_constants, x_t, list(states), training=False)
            new_states = new_states if isinstance(new_states, (list, tuple)) else [new_states]
            return ops.concatenate(list(new_states), axis=-1)

        def norms(tv, x):
            cell_vars = [tv[i] for i in cell_index]
            batch, steps = x.shape[0], x.shape[1]
            h = ops.zeros((batch, sum(sizes)))
            hidden = [h]
            for t in range(steps):
                h = step(cell_vars, x[:, t], h)
                hidden.append(h)
            chained = ops.broadcast_to(ops.eye(sum(sizes)), (batch, sum(sizes), sum(sizes)))
            out = [ops.mean(ops.sqrt(ops.sum(ops.square(chained), axis=(1, 2))))]
            jacobians = []
            for t in reversed(range(steps)):
                one_step = backend.batch_jacobian(lambda s, t=t: step(cell_vars, x[:, t], s), hidden[t])
                jacobians.append(one_step)
                chained = ops.matmul(chained, one_step)
                out.append(ops.mean(ops.sqrt(ops.sum(ops.square(chained), axis=(1, 2)))))
            if not with_spectrum:
                return ops.stack(out)  # index = lag, 0..steps
            jac = ops.stack(jacobians[::-1])  # (steps, batch, n, n) in time order
            slope = 1.0 - ops.square(ops.stack(hidden[1:])[..., : sizes[0]])
            stats = {**spectrum.jacobian_singular_values(jac), **spectrum.lyapunov_summary(jac)}
            stats = {f"jac_{k}" if k.startswith("sigma") else k: v for k, v in stats.items()}
            stats["tanh_slope_mean"] = ops.mean(slope)
            stats["tanh_slope_over_0_9"] = ops.mean(ops.cast(slope > 0.9, slope.dtype))
            return ops.stack(out), stats

        return norms

    def gate_rows(self, epoch: int, tv, x) -> list[dict]:
        if self.gate_means is None:
            return []
        return [{"epoch": epoch, "gate": k, "mean": float(v)} for k, v in sorted(self.gate_means(tv, x).items())]

    def probe_rows(self, epoch: int, tv, ntv, x, y) -> list[dict]:
        grads = np.asarray(self.input_gradients(x, tv, ntv, y)).reshape(len(x), -1)
        window = grads.shape[1]
        dl_dx = np.sqrt(np.mean(grads**2, axis=0))[::-1]  # position w-1 is lag 0
        dh, stats = None, {}
        if self.state_dynamics is not None:
            dh, stats = self.state_dynamics(tv, x)
            dh, stats = np.asarray(dh), {k: float(v) for k, v in stats.items()}
        lags = range(window + 1 if dh is not None else window)
        return [
            {
                "epoch": epoch,
                "lag": lag,
                "dL_dx": float(dl_dx[lag]) if lag < window else None,  # None: does not apply
                "dhT_dht": float(dh[lag]) if dh is not None else None,
                **{k: stats.get(k) for k in SPECTRUM_COLUMNS},
            }
            for lag in lags
        ]
