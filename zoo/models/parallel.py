"""Training through a cell's parallel form.

The modes wrap every cell in ``keras.layers.RNN``, a per-step loop.
``with_parallel_forms(model)`` swaps each such layer whose cell has a parallel
form (``call_sequence``, see ``zoo.models.cells.base``) for a ``ParallelRNN``
with the same name, configuration and weights, so training and prediction run
the whole sequence at once. Models of cells without one are returned as they
are, object for object: their numbers cannot change.

The per-step form stays in the cell: the probes call the cell's ``call`` one
step at a time to chain one-step Jacobians, whichever layer wraps it.
"""

from __future__ import annotations

import keras


def has_parallel_form(cell) -> bool:
    return callable(getattr(cell, "call_sequence", None))


@keras.saving.register_keras_serializable(package="rnn_zoo")
class ParallelRNN(keras.layers.RNN):
    """``keras.layers.RNN`` that runs its cell's ``call_sequence`` over the whole sequence.

    Falls back to Keras's per-step loop where the parallel form does not
    apply: a mask, ``go_backwards``, ``unroll``, or a cell without one.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if mask is not None or self.go_backwards or self.unroll or not has_parallel_form(self.cell):
            return super().inner_loop(sequences, initial_state, mask, training)
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        outputs, states = self.cell.call_sequence(sequences, states)
        return outputs[:, -1], outputs, list(states)


def with_parallel_forms(model: keras.Model) -> keras.Model:
    """``model`` with each per-step RNN layer whose cell has a parallel form run as a ``ParallelRNN``."""
    swapped = [layer for layer in model.layers if type(layer) is keras.layers.RNN and has_parallel_form(layer.cell)]
    ids = {id(layer) for layer in swapped}
    if not swapped:
        return model

    def clone(layer):
        return ParallelRNN.from_config(layer.get_config()) if id(layer) in ids else layer

    parallel = keras.models.clone_model(model, clone_function=clone)
    for layer in swapped:
        parallel.get_layer(layer.name).set_weights(layer.get_weights())
    return parallel
