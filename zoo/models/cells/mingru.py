import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell, as_list, torch_linear_init
from zoo.models.scan import linear_recurrence


@keras.saving.register_keras_serializable(package="rnn_zoo")
class MinGRUCell(UnitsCell):
    """minGRU (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs All We
    Needed?", arXiv 2410.01201), the paper's sequential-mode equations:

        z  = σ(W_z x + b_z)                  update gate, from the input only
        h̃  = W_h x + b_h                     candidate, linear, from the input only
        h' = (1 − z) ⊙ h + z ⊙ h̃

    Neither z nor h̃ reads h, so h' = a ⊙ h + b with a = 1 − z and b = z ⊙ h̃
    known for every step before the recurrence runs: the parallel form
    (``call_sequence``) computes all of them in one matrix product and solves
    the elementwise recurrence with ``zoo.models.scan.linear_recurrence``.
    The one-step Jacobian is diag(1 − z_t). Weights start as PyTorch's
    ``nn.Linear`` (the paper's code), uniform on ±1/√input.

    State: h (units). Checked against the paper's Algorithm (minGRU, sequential
    mode) and lucidrains/minGRU-pytorch's sequential path, in NumPy, in tests.

    Args:
        units: size of the state. Default 64.

    Example:
        >>> keras.layers.RNN(MinGRUCell(8))(np.zeros((2, 5, 1))).shape
        (2, 8)
    """

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        init = torch_linear_init(i)
        # Columns [z | h̃].
        self.kernel = self.add_weight(shape=(i, 2 * u), initializer=init, name="kernel")
        self.bias = self.add_weight(shape=(2 * u,), initializer=init, name="bias")

    def _gate_and_candidate(self, x):
        pre = ops.matmul(x, self.kernel) + self.bias
        u = self.units
        return ops.sigmoid(pre[..., :u]), pre[..., u:]

    def call(self, inputs, states, training=False):
        h = as_list(states)[0]
        z, candidate = self._gate_and_candidate(inputs)
        new_h = (1 - z) * h + z * candidate
        return new_h, [new_h]

    def call_sequence(self, sequences, states):
        """The parallel form: (batch, T, input) -> all h_t (batch, T, units), [h_T]."""
        z, candidate = self._gate_and_candidate(sequences)
        h = linear_recurrence(1 - z, z * candidate, as_list(states)[0])
        return h, [h[:, -1]]

    def gates(self, inputs, states):
        z, _ = self._gate_and_candidate(inputs)
        return {"update": z, "carry": 1 - z}


@register_cell("mingru", param_count=lambda i, u: 2 * u * (i + 1))
def mingru(units: int = 64) -> MinGRUCell:
    """minGRU (Feng et al. 2024): gates and candidate from the input only; a parallel scan."""
    return MinGRUCell(units)
