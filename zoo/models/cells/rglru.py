import math

import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell, as_list
from zoo.models.scan import linear_recurrence

C = 8.0  # the fixed scale of the decay's exponent (the paper's c)
A_MIN, A_MAX = 0.9, 0.999  # the ring a = σ-free decay exp(−softplus(Λ)) starts on
SQRT_FLOOR = 1e-12  # 1 − a² is floored here under the square root, so its gradient stays finite at a = 1


def _ring_softplus_inverse(shape, dtype=None):
    """Λ with exp(−softplus(Λ)) uniform in area on [A_MIN, A_MAX] (recurrentgemma's ``rnn_param_init``)."""
    u = keras.random.uniform(shape, minval=A_MIN**2, maxval=A_MAX**2, dtype=dtype)
    log_a = 0.5 * ops.log(u)
    return ops.log(ops.exp(-log_a) - 1.0)


@keras.saving.register_keras_serializable(package="rnn_zoo")
class RGLRUCell(UnitsCell):
    """Real-gated linear recurrent unit (De, Smith, Fernando et al. 2024,
    "Griffin: Mixing Gated Linear Recurrences with Local Attention for
    Efficient Language Models"; the recurrence of RecurrentGemma):

        x̂  = W_in x + b_in                              input projection to width u
        r  = σ(W_a x̂ + b_a),   i = σ(W_x x̂ + b_x)      recurrence and input gates
        log a = −c r ⊙ softplus(Λ),   c = 8              an input-dependent decay
        h' = a ⊙ h + √(1 − a²) ⊙ (i ⊙ x̂)

    The idea behind Mamba's selectivity: the input decides how fast the state
    forgets. Linear in h with input-only coefficients, so it has a parallel
    form. The one-step Jacobian is diag(a_t).

    Written from google-deepmind/recurrentgemma (``RGLRU`` in
    recurrentgemma/torch/layers.py) with one head: the gates are dense (u, u),
    normal with variance 1/u, zero bias (its ``BlockDiagonalLinear``); Λ starts
    so that exp(−softplus(Λ)) is uniform in area on [0.9, 0.999] (its
    ``rnn_param_init``). Two differences, both because a cell sees one step:
    the reference drops the √(1 − a²) factor on a segment's first token (it
    knows the position), here every step has it; and where the reference clips
    the gradient of the square root at 1000, here 1 − a² is floored at 1e-12.
    The input projection (Griffin's ``linear_x``, Keras's Dense defaults) maps
    the input to width u. Parameters: iu + 2u² + 4u.

    State: h (units).

    Args:
        units: state size. Default 64.
    """

    # The recurrence's own weight is Λ (its decay); the gates read the input only.
    RECURRENT_WEIGHTS = ("a_param",)

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        self.in_kernel = self.add_weight(shape=(i, u), initializer="glorot_uniform", name="kernel")
        self.in_bias = self.add_weight(shape=(u,), initializer="zeros", name="bias")
        gate_init = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(u))
        # Columns [r | i]: the recurrence gate, then the input gate.
        self.gate_kernel = self.add_weight(shape=(u, 2 * u), initializer=gate_init, name="gate_kernel")
        self.gate_bias = self.add_weight(shape=(2 * u,), initializer="zeros", name="gate_bias")
        self.a_param = self.add_weight(shape=(u,), initializer=_ring_softplus_inverse, name="a_param")

    def _terms(self, x):
        """(a, the drive √(1 − a²) i x̂, r, i) for inputs of any leading shape."""
        u = self.units
        projected = ops.matmul(x, self.in_kernel) + self.in_bias
        gates = ops.sigmoid(ops.matmul(projected, self.gate_kernel) + self.gate_bias)
        r, i = gates[..., :u], gates[..., u:]
        log_a = -C * r * ops.softplus(self.a_param)
        a = ops.exp(log_a)
        multiplier = ops.sqrt(ops.maximum(-ops.expm1(2.0 * log_a), SQRT_FLOOR))
        return a, multiplier * (i * projected), r, i

    def call(self, inputs, states, training=False):
        h = as_list(states)[0]
        a, drive, _, _ = self._terms(inputs)
        new_h = a * h + drive
        return new_h, [new_h]

    def call_sequence(self, sequences, states):
        """The parallel form: (batch, T, input) -> all h_t (batch, T, units), [h_T]."""
        a, drive, _, _ = self._terms(sequences)
        h = linear_recurrence(a, drive, as_list(states)[0])
        return h, [h[:, -1]]

    def gates(self, inputs, states):
        a, _, r, i = self._terms(inputs)
        return {"recurrence": r, "input": i, "carry": a}


@register_cell("rglru", param_count=lambda i, u: i * u + 2 * u * u + 4 * u,
               claim="a decay the input chooses, starting near 1 (De et al. 2024)")
def rglru(units: int = 64) -> RGLRUCell:
    """RG-LRU (De et al. 2024, Griffin): a diagonal linear recurrence with an input-dependent decay; a parallel scan."""
    return RGLRUCell(units)
