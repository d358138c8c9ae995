import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell, as_list, torch_linear_init
from zoo.models.scan import linear_recurrence


@keras.saving.register_keras_serializable(package="rnn_zoo")
class MinLSTMCell(UnitsCell):
    """minLSTM (Feng et al. 2024, "Were RNNs All We Needed?", arXiv 2410.01201),
    the paper's sequential-mode equations:

        f  = σ(W_f x + b_f),  i = σ(W_i x + b_i)     gates from the input only
        h̃  = W_h x + b_h                             candidate, linear
        f' = f / (f + i),     i' = i / (f + i)        normalised: f' + i' = 1
        h' = f' ⊙ h + i' ⊙ h̃

    Linear in h with input-only coefficients, so it has a parallel form like
    minGRU's. The one-step Jacobian is diag(f'_t).

    State: h (units).

    Args:
        units: size of the state. Default 64.
    """

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        init = torch_linear_init(i)
        # Columns [f | i | h̃].
        self.kernel = self.add_weight(shape=(i, 3 * u), initializer=init, name="kernel")
        self.bias = self.add_weight(shape=(3 * u,), initializer=init, name="bias")

    def _terms(self, x):
        pre = ops.matmul(x, self.kernel) + self.bias
        u = self.units
        f, i = ops.sigmoid(pre[..., :u]), ops.sigmoid(pre[..., u : 2 * u])
        total = f + i
        return f / total, i / total, pre[..., 2 * u :]

    def call(self, inputs, states, training=False):
        h = as_list(states)[0]
        f, i, candidate = self._terms(inputs)
        new_h = f * h + i * candidate
        return new_h, [new_h]

    def call_sequence(self, sequences, states):
        """The parallel form: (batch, T, input) -> all h_t (batch, T, units), [h_T]."""
        f, i, candidate = self._terms(sequences)
        h = linear_recurrence(f, i * candidate, as_list(states)[0])
        return h, [h[:, -1]]

    def gates(self, inputs, states):
        f, i, _ = self._terms(inputs)
        return {"forget": f, "input": i, "carry": f}


@register_cell("minlstm", param_count=lambda i, u: 3 * u * (i + 1))
def minlstm(units: int = 64) -> MinLSTMCell:
    """minLSTM (Feng et al. 2024): normalised forget and input gates from the input only; a parallel scan."""
    return MinLSTMCell(units)
