import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell


@keras.saving.register_keras_serializable(package="rnn_zoo")
class MGUCell(UnitsCell):
    """Minimal gated unit (Zhou et al. 2016, "Minimal Gated Unit for Recurrent
    Neural Networks", International Journal of Automation and Computing).

        f  = σ(W_f x + U_f h + b_f)          the one gate (forget)
        ĥ  = tanh(W_h x + U_h (f ⊙ h) + b_h)
        h' = (1 − f) ⊙ h + f ⊙ ĥ

    One gate does the work of the GRU's two (it both resets the past inside
    the candidate and mixes old and new), so MGU has two thirds of a GRU's
    weights. Its through-time gradient passes the (1 − f) path untouched by
    any weight matrix, as in the GRU.

    Args:
        units: size of the state. Default 64.

    Call arguments:
        inputs: (batch, input_dim). states: [h] with h (batch, units).

    Example:
        >>> keras.layers.RNN(MGUCell(8))(np.zeros((2, 5, 1))).shape
        (2, 8)
    """

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        # Columns [f | h].
        self.kernel = self.add_weight(shape=(i, 2 * u), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 2 * u), initializer="orthogonal", name="recurrent_kernel")
        self.bias = self.add_weight(shape=(2 * u,), initializer="zeros", name="bias")

    def _forget(self, inputs, h):
        u = self.units
        return ops.sigmoid(
            ops.matmul(inputs, self.kernel[:, :u]) + ops.matmul(h, self.recurrent_kernel[:, :u]) + self.bias[:u]
        )

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        f = self._forget(inputs, h)
        candidate = ops.tanh(
            ops.matmul(inputs, self.kernel[:, u:]) + ops.matmul(f * h, self.recurrent_kernel[:, u:]) + self.bias[u:]
        )
        new_h = (1 - f) * h + f * candidate
        return new_h, [new_h]

    def gates(self, inputs, states):
        """Gate activations for one step; carry is the share of the old state kept."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        f = self._forget(inputs, h)
        return {"forget": f, "carry": 1 - f}



@register_cell("mgu", param_count=lambda i, u: 2 * u * (i + u + 1))
def mgu(units: int = 64) -> MGUCell:
    """Minimal gated unit (Zhou et al. 2016): one forget gate, two thirds of a GRU."""
    return MGUCell(units)
