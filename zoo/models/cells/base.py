"""What the hand-written cells share: a state of ``units`` numbers, checked and saved."""

import keras


class UnitsCell(keras.layers.Layer):
    """A Keras RNN cell whose state and output are ``units`` wide.

    Subclasses add ``build`` and ``call``; ``units`` is validated here and
    kept in ``get_config``, so saved models reload with the same size.
    """

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {units!r}")
        self.units = units
        self.state_size = units
        self.output_size = units

    def get_config(self):
        return {**super().get_config(), "units": self.units}
