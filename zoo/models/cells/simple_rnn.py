import keras

from zoo.core.registry import register_cell


@register_cell("simple_rnn", param_count=lambda i, u: u * (i + u) + u,
               remedy="an identity or orthogonal recurrent initialisation (as irnn does) with gradient clipping")
def simple_rnn(units: int = 64) -> keras.layers.SimpleRNNCell:
    """Elman RNN, h = tanh(W x + U h + b): Keras's SimpleRNNCell."""
    return keras.layers.SimpleRNNCell(units)


@register_cell("irnn", param_count=lambda i, u: u * (i + u) + u,
               claim="identity initialisation, so no decay at the start (Le et al. 2015)")
def irnn(units: int = 64) -> keras.layers.SimpleRNNCell:
    """IRNN (Le et al. 2015): an Elman RNN with relu and identity recurrent init, so gradients start unshrunk."""
    return keras.layers.SimpleRNNCell(units, activation="relu", recurrent_initializer="identity")
