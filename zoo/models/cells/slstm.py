import math

import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell, as_list


def _powerlaw_forget_bias(units: int):
    """xLSTM's "powerlaw_blockdependent" forget-gate bias for one block: 5 − 12 (k / (u − 1))^0.3, k = 0..u−1."""
    k = ops.arange(units, dtype="float32") / max(units - 1, 1)
    return 5.0 - 12.0 * ops.power(k, 0.3)


@keras.saving.register_keras_serializable(package="rnn_zoo")
class SLSTMCell(UnitsCell):
    """sLSTM (Beck, Pöppel, Spanring, Auer, Prudnikova, Kopp, Klambauer,
    Brandstetter & Hochreiter 2024, "xLSTM: Extended Long Short-Term Memory",
    NeurIPS), one head:

        [ĩ, f̃, z̃, õ] = W x + R h + b
        m' = max(ĩ, m + log σ(f̃))                   the stabiliser
        i  = exp(ĩ − m'),  f = exp(m + log σ(f̃) − m')   exponential input gate
        c' = f ⊙ c + i ⊙ tanh(z̃),   n' = f ⊙ n + i      cell and normaliser
        h' = σ(õ) ⊙ c' / n'

    The exponential input gate can overwrite the memory decisively (a large ĩ
    outweighs everything stored); m keeps exp from overflowing and cancels in
    c' / n', so h' equals the unstabilised cell's.

    Written from NX-AI/xlstm (``slstm_forward_pointwise`` in
    xlstm/blocks/slstm/src/vanilla/slstm.py, and ``sLSTMCellBase``'s init):
    gate order [i | f | z | o], recurrent kernel zero at the start (its
    ``recurrent_weight_init="zeros"``), forget bias 5 − 12 (k/(u−1))^0.3, the
    other biases zero (its "powerlaw_blockdependent" for one block), input
    kernel normal with std √(2 / (5 input)) (its "small_init"). One
    difference: the reference sets m' = ĩ on the very first step (n = 0); here
    m' = max(ĩ, m + log σ(f̃)) always, which scales c, n and exp(m) alike, so
    h is the same (the tests check both against a NumPy transcription).
    Parameters: 4u(i + u + 1).

    States: h (the output), c, n, m, units each; the probes' state is all four.

    Args:
        units: size of each state. Default 64.
    """

    STATES = (("h", 1), ("c", 1), ("n", 1), ("m", 1))

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        self.kernel = self.add_weight(shape=(i, 4 * u), name="kernel",
                                      initializer=keras.initializers.RandomNormal(stddev=math.sqrt(2 / (5 * i))))
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), initializer="zeros", name="recurrent_kernel")
        forget = _powerlaw_forget_bias(u)

        def bias_init(shape, dtype=None):
            zeros = ops.zeros((u,), dtype=dtype)
            return ops.concatenate([zeros, ops.cast(forget, dtype), zeros, zeros])

        self.bias = self.add_weight(shape=(4 * u,), initializer=bias_init, name="bias")

    def _pre(self, inputs, h):
        u = self.units
        raw = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        return raw[:, :u], raw[:, u : 2 * u], raw[:, 2 * u : 3 * u], raw[:, 3 * u :]

    def call(self, inputs, states, training=False):
        h, c, n, m = as_list(states)
        i_raw, f_raw, z_raw, o_raw = self._pre(inputs, h)
        log_f_plus_m = m + ops.log_sigmoid(f_raw)
        new_m = ops.maximum(i_raw, log_f_plus_m)
        i_gate = ops.exp(i_raw - new_m)
        f_gate = ops.exp(log_f_plus_m - new_m)
        new_c = f_gate * c + i_gate * ops.tanh(z_raw)
        new_n = f_gate * n + i_gate
        new_h = ops.sigmoid(o_raw) * new_c / new_n
        return new_h, [new_h, new_c, new_n, new_m]

    def gates(self, inputs, states):
        """σ(f̃) and σ(õ); the old state's share kept (unstabilised) is carry = σ(f̃)."""
        _, f_raw, _, o_raw = self._pre(inputs, as_list(states)[0])
        forget = ops.sigmoid(f_raw)
        return {"forget": forget, "output": ops.sigmoid(o_raw), "carry": forget}


@register_cell("slstm", param_count=lambda i, u: 4 * u * (i + u + 1),
               claim="exponential gating that can revise stored values (Beck et al. 2024)")
def slstm(units: int = 64) -> SLSTMCell:
    """sLSTM (Beck et al. 2024, xLSTM): exponential input gate with a max stabiliser, one head."""
    return SLSTMCell(units)
