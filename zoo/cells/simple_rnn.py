import keras

from zoo.registry import register_cell


@register_cell("simple_rnn", param_count=lambda i, u: u * (i + u) + u)
def simple_rnn(units: int = 64) -> keras.layers.SimpleRNNCell:
    """Elman RNN, h = tanh(W x + U h + b): Keras's SimpleRNNCell."""
    return keras.layers.SimpleRNNCell(units)
