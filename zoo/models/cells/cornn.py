import math

import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell, as_list

# Δt, γ and ε of the reference code's adding-problem script (tk-rusch/coRNN, adding/adding_task.py).
DT, GAMMA, EPSILON = 0.06, 66.0, 15.0


@keras.saving.register_keras_serializable(package="rnn_zoo")
class CoRNNCell(UnitsCell):
    """Coupled oscillatory RNN (Rusch & Mishra 2021, "Coupled Oscillatory
    Recurrent Neural Network (coRNN): An accurate and (gradient) stable
    architecture for learning long time dependencies", ICLR).

    A network of damped, driven nonlinear oscillators y'' = tanh(W y + 𝒲 y' + V x + b)
    − γ y − ε y', discretised by an IMEX step: the velocity z first, then the
    position y from the new z:

        z' = z + Δt (tanh(W_x x + W_z z + W_y y + b) − γ y − ε z)
        y' = y + Δt z'

    The paper bounds the hidden states and proves the gradient through time
    neither explodes nor vanishes exponentially.

    Written from the reference code, tk-rusch/coRNN (``coRNNCell`` in
    adding/model.py): one ``i2h`` linear map on [x, z, y], so ``kernel`` is
    (input + 2u, u) in that row order, with PyTorch's default init (uniform on
    ±1/√fan_in, fan_in = input + 2u, bias too); Δt = 0.06, γ = 66, ε = 15 (its
    adding script). The tests step it against a NumPy transcription of that
    code. Parameters: iu + 2u² + u.

    States: y (the output, the oscillators' positions) and z (their
    velocities), units each; the probes' state is [y, z].

    Args:
        units: oscillators. Default 64.
        dt, gamma, epsilon: step, stiffness and damping. Defaults 0.06, 66, 15.
    """

    STATES = (("y", 1), ("z", 1))

    def __init__(self, units: int = 64, dt: float = DT, gamma: float = GAMMA, epsilon: float = EPSILON, **kwargs):
        super().__init__(units, **kwargs)
        self.dt, self.gamma, self.epsilon = float(dt), float(gamma), float(epsilon)

    def build(self, input_shape):
        fan_in = input_shape[-1] + 2 * self.units
        bound = 1.0 / math.sqrt(fan_in)
        init = keras.initializers.RandomUniform(-bound, bound)
        self.kernel = self.add_weight(shape=(fan_in, self.units), initializer=init, name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer=init, name="bias")

    def call(self, inputs, states, training=False):
        y, z = as_list(states)
        drive = ops.tanh(ops.matmul(ops.concatenate([inputs, z, y], axis=-1), self.kernel) + self.bias)
        new_z = z + self.dt * (drive - self.gamma * y - self.epsilon * z)
        new_y = y + self.dt * new_z
        return new_y, [new_y, new_z]

    def get_config(self):
        return {**super().get_config(), "dt": self.dt, "gamma": self.gamma, "epsilon": self.epsilon}


@register_cell("cornn", param_count=lambda i, u: i * u + 2 * u * u + u,
               claim="gradients that neither explode nor vanish exponentially (Rusch & Mishra 2021)")
def cornn(units: int = 64) -> CoRNNCell:
    """coRNN (Rusch & Mishra 2021): coupled damped oscillators, IMEX step; gradients bounded."""
    return CoRNNCell(units)
