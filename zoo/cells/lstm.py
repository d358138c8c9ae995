import keras

from zoo.registry import register_cell


@register_cell("lstm", param_count=lambda i, u: 4 * (u * (i + u) + u))
def lstm(units: int = 64) -> keras.layers.LSTMCell:
    """Long short-term memory (Hochreiter & Schmidhuber 1997): Keras's LSTMCell."""
    return keras.layers.LSTMCell(units)
