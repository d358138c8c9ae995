"""What the hand-written cells share: states of ``units`` numbers each, checked and saved.

The cell contract, beyond Keras's (``state_size``, ``call(inputs, states)``):

- ``STATES`` names the carried states and their widths in units of ``units``,
  in the order ``call`` takes and returns them. One state ``h`` by default;
  LEM and coRNN carry two (y, z), the LRU a complex state as two real halves,
  sLSTM four (h, c, n, m). ``state_size`` follows from it: an int for one state
  (as Keras's own one-state cells), a list for several. "The state" that the
  probes differentiate (‖dh_T/dh_t‖, the Jacobian spectrum) is all of them,
  concatenated in this order, as for Keras's LSTM (h, c).
- A cell may add a parallel form, ``call_sequence(sequences, states)``: the
  whole (batch, T, input) sequence at once, returning the outputs (batch, T,
  units) and the final states, equal to stepping ``call`` T times.
  ``zoo.models.parallel`` trains through it; the per-step ``call`` stays,
  because the probes chain one-step Jacobians.
- A gated cell may define ``gates(inputs, states)``: one step's gate
  activations by name, with ``carry`` the share of the old state kept.
"""

import math

import keras


class UnitsCell(keras.layers.Layer):
    """A Keras RNN cell whose output is ``units`` wide, carrying the states ``STATES``.

    Subclasses add ``build`` and ``call``; ``units`` is validated here and
    kept in ``get_config``, so saved models reload with the same size.
    """

    # (name, width in units) of each carried state, in call order.
    STATES: tuple[tuple[str, int], ...] = (("h", 1),)

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = units
        widths = [units * k for _, k in self.STATES]
        self.state_size = widths[0] if len(widths) == 1 else widths
        self.output_size = units

    @classmethod
    def state_names(cls) -> tuple[str, ...]:
        return tuple(name for name, _ in cls.STATES)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def as_list(states) -> list:
    """Keras passes one state bare or in a list; the cells take a list."""
    return list(states) if isinstance(states, (list, tuple)) else [states]


def torch_linear_init(fan_in: int) -> keras.initializers.Initializer:
    """PyTorch's ``nn.Linear`` default for weights and biases, which most papers' code
    keeps: uniform on ±1/√fan_in."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)
