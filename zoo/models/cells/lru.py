import math

import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell, as_list
from zoo.models.scan import complex_linear_recurrence

# The ring the eigenvalues start on, and their largest phase. The paper's Appendix A
# code defaults to r_min = 0, r_max = 1; r in [0.9, 0.999] is the ring of its
# long-range (LRA) experiments, chosen here because this zoo measures memory.
R_MIN, R_MAX, MAX_PHASE = 0.9, 0.999, 2 * math.pi


def _ring_nu_log(shape, dtype=None):
    """log(−log r) with r uniform in area on the ring R_MIN ≤ r ≤ R_MAX (the paper's ``nu_init``)."""
    u = keras.random.uniform(shape, dtype=dtype)
    return ops.log(-0.5 * ops.log(u * (R_MAX**2 - R_MIN**2) + R_MIN**2))


def _phase_log(shape, dtype=None):
    """log θ with θ uniform in [0, MAX_PHASE] (the paper's ``theta_init``)."""
    return ops.log(MAX_PHASE * keras.random.uniform(shape, dtype=dtype))


@keras.saving.register_keras_serializable(package="rnn_zoo")
class LRUCell(UnitsCell):
    """Linear recurrent unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu &
    De 2023, "Resurrecting Recurrent Neural Networks for Long Sequences", ICML):

        λ  = exp(−exp(ν) + i exp(θ))         diagonal, complex, |λ| < 1 always
        h' = λ ⊙ h + γ ⊙ (B x),   γ = √(1 − |λ|²)   (the paper's normalisation)
        y  = Re(C h') + D x

    A linear diagonal recurrence whose eigenvalues start on a ring near the
    unit circle (r in [0.9, 0.999], uniform in area; phase in [0, 2π]), so
    the gradient through time decays as |λ|^lag, slowly. The one-step
    Jacobian, in the real coordinates (Re h, Im h), is a rotation-scaling by
    λ per unit: its singular values are |λ_k| (each twice), its Lyapunov
    exponents log|λ_k|, and ‖dh_T/dh_t‖_F = (2 Σ_k |λ_k|^(2 lag))^(1/2); the
    tests hold the probes to that. Linear in the input too: one LRU layer
    with a linear head cannot multiply two inputs (the adding task needs it),
    which the paper's deep model gets from the MLPs between its layers.

    Written from the paper's Appendix A code (and NicolasZucchet/minimal-LRU):
    B normal / √(2 input), C normal / √N, γ_log = log √(1 − |λ|²). The paper's
    D is diagonal (input = output width there); here input and output widths
    differ, so D is a dense (input, units) matrix, normal / √input. N = units.
    Parameters: 3iu + 2u² + 3u (ν, θ, γ: u each; B: 2iu; C: 2u²; D: iu).

    State: h, complex, held as [Re h, Im h] (units each); the output is y.

    Args:
        units: state size N and output width. Default 64.
    """

    STATES = (("h_re", 1), ("h_im", 1))

    # The recurrence is λ = exp(-exp(ν) + i exp(θ)) alone, for the gradient's time profile.
    RECURRENT_WEIGHTS = ("nu_log", "theta_log")

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        self.nu_log = self.add_weight(shape=(u,), initializer=_ring_nu_log, name="nu_log")
        self.theta_log = self.add_weight(shape=(u,), initializer=_phase_log, name="theta_log")
        # γ = √(1 − |λ|²) of the starting λ, learned from there (the paper's gamma_log).
        modulus = ops.exp(-ops.exp(ops.convert_to_tensor(self.nu_log)))
        start = ops.log(ops.sqrt(1.0 - ops.square(modulus)))
        self.gamma_log = self.add_weight(shape=(u,), initializer=lambda shape, dtype=None: ops.cast(start, dtype),
                                         name="gamma_log")
        b_init = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(2 * i))
        self.b_re = self.add_weight(shape=(i, u), initializer=b_init, name="B_re")
        self.b_im = self.add_weight(shape=(i, u), initializer=b_init, name="B_im")
        c_init = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(u))
        self.c_re = self.add_weight(shape=(u, u), initializer=c_init, name="C_re")
        self.c_im = self.add_weight(shape=(u, u), initializer=c_init, name="C_im")
        self.d = self.add_weight(shape=(i, u), initializer=keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(i)),
                                 name="D")

    def eigenvalues(self):
        """(Re λ, Im λ), each (units,)."""
        modulus, phase = ops.exp(-ops.exp(self.nu_log)), ops.exp(self.theta_log)
        return modulus * ops.cos(phase), modulus * ops.sin(phase)

    def _drive(self, x):
        gamma = ops.exp(self.gamma_log)
        return gamma * ops.matmul(x, self.b_re), gamma * ops.matmul(x, self.b_im)

    def _output(self, x, h_re, h_im):
        return ops.matmul(h_re, self.c_re) - ops.matmul(h_im, self.c_im) + ops.matmul(x, self.d)

    def call(self, inputs, states, training=False):
        h_re, h_im = as_list(states)
        lam_re, lam_im = self.eigenvalues()
        b_re, b_im = self._drive(inputs)
        new_re = lam_re * h_re - lam_im * h_im + b_re
        new_im = lam_re * h_im + lam_im * h_re + b_im
        return self._output(inputs, new_re, new_im), [new_re, new_im]

    def call_sequence(self, sequences, states):
        """The parallel form: (batch, T, input) -> all y_t (batch, T, units), [Re h_T, Im h_T]."""
        h_re, h_im = complex_linear_recurrence(self.eigenvalues(), self._drive(sequences), as_list(states))
        return self._output(sequences, h_re, h_im), [h_re[:, -1], h_im[:, -1]]


@register_cell("lru", param_count=lambda i, u: 3 * i * u + 2 * u * u + 3 * u,
               claim="eigenvalues near the unit circle, so slow decay (Orvieto et al. 2023)")
def lru(units: int = 64) -> LRUCell:
    """LRU (Orvieto et al. 2023): a complex diagonal linear recurrence, |λ| on a ring near 1; a parallel scan."""
    return LRUCell(units)
