import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell


@keras.saving.register_keras_serializable(package="rnn_zoo")
class IndRNNCell(UnitsCell):
    """Independently recurrent cell (Li et al. 2018, "Independently Recurrent
    Neural Network (IndRNN): Building A Longer and Deeper RNN", CVPR).

        h' = relu(W x + u ⊙ h + b)

    Each unit sees only its own past (u is a vector, not a matrix), so the
    gradient through time of unit k is a product of u_k and relu'(·) terms:
    dh_T/dh_t is diagonal, and it neither vanishes nor explodes while
    |u_k| stays near 1. The paper bounds |u_k| by 2^(1/T) for long sequences;
    here u starts uniform in [0, 1], as in the paper's short-sequence setting.

    Args:
        units: size of the state. Default 64.
        activation: the nonlinearity. Default "relu" (the paper's).

    Call arguments:
        inputs: (batch, input_dim). states: [h] with h (batch, units).

    Example:
        >>> keras.layers.RNN(IndRNNCell(8))(np.zeros((2, 5, 1))).shape
        (2, 8)
    """

    def __init__(self, units: int = 64, activation: str = "relu", **kwargs):
        super().__init__(units, **kwargs)
        self.activation_name = activation
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units,), initializer=keras.initializers.RandomUniform(0.0, 1.0), name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        new_h = self.activation(ops.matmul(inputs, self.kernel) + self.recurrent_kernel * h + self.bias)
        return new_h, [new_h]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name}


@register_cell("indrnn", param_count=lambda i, u: u * (i + 2),
               claim="per-unit recurrence whose weights bound the decay (Li et al. 2018)",
               published=("adding", 1000, "IndRNN's paper (Li et al. 2018) reports LSTM failing the adding "
                                          "problem by T = 1,000 and IndRNN solving it far beyond"))
def indrnn(units: int = 64) -> IndRNNCell:
    """IndRNN (Li et al. 2018): elementwise recurrence, relu; a diagonal Jacobian through time."""
    return IndRNNCell(units)
