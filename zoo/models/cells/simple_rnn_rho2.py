import keras

from zoo.core.registry import register_cell

# Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent
# neural networks": with a tanh, gradients through time can explode only if the
# recurrent matrix's largest singular value exceeds 1. An orthogonal matrix times
# 2 has every singular value (and every eigenvalue's modulus) equal to 2.
SPECTRAL_RADIUS = 2.0


@register_cell("simple_rnn_rho2", param_count=lambda i, u: u * (i + u) + u)
def simple_rnn_rho2(units: int = 64) -> keras.layers.SimpleRNNCell:
    """SimpleRNN, recurrent matrix orthogonal x 2 (spectral radius 2): Pascanu et al. 2013's exploding regime."""
    return keras.layers.SimpleRNNCell(
        units, recurrent_initializer=keras.initializers.Orthogonal(gain=SPECTRAL_RADIUS)
    )
