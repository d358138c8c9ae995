"""The gates' mean activations: how open each gate of a gated cell is, over a batch.

A gated cell declares its gates (``zoo.core.registry.CellSpec.gates``, or a
cell's own ``gates(inputs, states)``): one step's activations by name, with
``carry`` the share of the old state a step keeps. This steps the cell of the
layer that reads the model's input over the probe batch from a zero state and
averages each gate over the batch, units and steps. It does not apply to an
ungated cell, to a layer that reads another layer's output (one_to_many's
repeated context), or to a single step from the zero state (one_to_one), where
there is no old state for a gate to keep.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
from keras import ops


def _state_sizes(cell) -> list[int]:
    return list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]


def gate_means_fn(cell, gates: Callable, variables, scan) -> Callable:
    """``means(values, x)``: the mean activation of each gate of ``cell`` over a batch,
    its units and steps, from ``gates(x_t, states)``; ``values`` are the values of
    ``variables`` (which hold the cell's), mapped onto them while the gates read them;
    ``scan`` is the backend's (``ProbeContext.scan``)."""
    sizes = _state_sizes(cell)
    splits = list(np.cumsum(sizes)[:-1])
    kwargs = {"training": False} if getattr(cell, "_call_has_training_arg", True) else {}

    def means(tv, x):
        # The gate functions read the cell's variables; map them to tv.
        with keras.StatelessScope(state_mapping=list(zip(variables, tv))):

            def step(flat, x_t):
                states = list(ops.split(flat, splits, axis=-1)) if splits else [flat]
                step_means = {name: ops.mean(value) for name, value in gates(x_t, states).items()}
                _, states = cell.call(x_t, states, **kwargs)
                states = list(states) if isinstance(states, (list, tuple)) else [states]
                return ops.concatenate(states, axis=-1), step_means

            start = ops.zeros((x.shape[0], sum(sizes)))
            _, per_step = scan(step, start, ops.moveaxis(x, 1, 0))
            return {name: ops.mean(values) for name, values in per_step.items()}

    return means


def measure(ctx):
    gates = ctx.gate_function()
    steps = ctx.input_layer().input.shape[1]
    if gates is None or not ctx.reads_model_input() or steps is None or steps < 2:
        return None
    means = gate_means_fn(ctx.input_layer().cell, gates, ctx.model.trainable_variables, ctx.scan)
    front = ctx.input_split().front  # the layer's input sequence (the model's input itself)
    return lambda tv, ntv, x, y: {"mean": means(tv, front(tv, ntv, x))}
