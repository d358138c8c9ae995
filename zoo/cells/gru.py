import keras

from zoo.registry import register_cell


# reset_after=True (Keras's default) carries two biases per gate.
@register_cell("gru", param_count=lambda i, u: 3 * (u * (i + u) + 2 * u))
def gru(units: int = 64) -> keras.layers.GRUCell:
    """Gated recurrent unit (Cho et al. 2014): Keras's GRUCell."""
    return keras.layers.GRUCell(units)
