"""An rnn-zoo plugin: one cell, registered when rnn-zoo imports this module."""

import keras

from zoo import register_cell


@register_cell("softsign_rnn", param_count=lambda i, u: u * (i + u) + u)
def softsign_rnn(units: int = 64) -> keras.layers.SimpleRNNCell:
    """Elman RNN with softsign, whose derivative decays polynomially, not exponentially (plugin example)."""
    return keras.layers.SimpleRNNCell(units, activation="softsign")
