import math

import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell, as_list

# Δt of the reference code's adding-problem script (tk-rusch/LEM, adding/adding_task.py).
DT = 0.0242


@keras.saving.register_keras_serializable(package="rnn_zoo")
class LEMCell(UnitsCell):
    """Long expressive memory (Rusch, Mishra, Erichson & Mahoney 2022, "Long
    Expressive Memory for Sequence Modeling", ICLR), a discretised multiscale
    ODE with two learned time steps:

        Δt̄ = Δt σ(W_1 x + V_1 y + b_1),  Δt' = Δt σ(W_2 x + V_2 y + b_2)
        z'  = (1 − Δt') ⊙ z + Δt' ⊙ tanh(W_z x + V_z y + b_z)
        y'  = (1 − Δt̄) ⊙ y + Δt̄ ⊙ tanh(W_y x + U z' + b_y)

    The paper proves the gradient through time stays bounded (no explosion) and
    that its vanishing is controlled by the learned time steps.

    Written from the reference code, tk-rusch/LEM (``LEMCell`` in
    psMNIST/network.py): ``inp2hid`` (input, 4u) in its chunk order
    [Δt̄ | Δt' | i_z | i_y] (i_z enters y's update, i_y z's, as there),
    ``hid2hid`` (u, 3u) in the order [Δt̄ | Δt' | h_y], ``transform_z`` (u, u); every weight and bias uniform
    on ±1/√units (its ``reset_parameters``); Δt = 0.0242 (its adding script).
    The tests step it against a NumPy transcription of that code. Parameters:
    4iu + 4u² + 8u.

    States: y (the output) and z, units each; the probes' state is [y, z].

    Args:
        units: size of each state. Default 64.
        dt: the largest time step Δt. Default 0.0242.
    """

    STATES = (("y", 1), ("z", 1))

    def __init__(self, units: int = 64, dt: float = DT, **kwargs):
        super().__init__(units, **kwargs)
        self.dt = float(dt)

    # What the state's recurrence runs through, for the gradient's time profile: U for y and the z' path.
    RECURRENT_WEIGHTS = ("recurrent_kernel", "z_kernel")

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        bound = 1.0 / math.sqrt(u)
        init = keras.initializers.RandomUniform(-bound, bound)
        self.inp_kernel = self.add_weight(shape=(i, 4 * u), initializer=init, name="kernel")
        self.inp_bias = self.add_weight(shape=(4 * u,), initializer=init, name="bias")
        self.hid_kernel = self.add_weight(shape=(u, 3 * u), initializer=init, name="recurrent_kernel")
        self.hid_bias = self.add_weight(shape=(3 * u,), initializer=init, name="recurrent_bias")
        self.z_kernel = self.add_weight(shape=(u, u), initializer=init, name="z_kernel")
        self.z_bias = self.add_weight(shape=(u,), initializer=init, name="z_bias")

    def _steps(self, inputs, y):
        """σ of the two time-step gates, and the input and hidden pre-activations."""
        u = self.units
        inp = ops.matmul(inputs, self.inp_kernel) + self.inp_bias
        hid = ops.matmul(y, self.hid_kernel) + self.hid_bias
        gate_y = ops.sigmoid(inp[:, :u] + hid[:, :u])
        gate_z = ops.sigmoid(inp[:, u : 2 * u] + hid[:, u : 2 * u])
        return gate_y, gate_z, inp, hid

    def call(self, inputs, states, training=False):
        y, z = as_list(states)
        u = self.units
        gate_y, gate_z, inp, hid = self._steps(inputs, y)
        dt_y, dt_z = self.dt * gate_y, self.dt * gate_z
        new_z = (1.0 - dt_z) * z + dt_z * ops.tanh(inp[:, 3 * u :] + hid[:, 2 * u :])
        drive_y = ops.matmul(new_z, self.z_kernel) + self.z_bias + inp[:, 2 * u : 3 * u]
        new_y = (1.0 - dt_y) * y + dt_y * ops.tanh(drive_y)
        return new_y, [new_y, new_z]

    def gates(self, inputs, states):
        """σ of the two time steps (Δt̄ / Δt, Δt' / Δt); carry is the share of y kept, 1 − Δt̄."""
        y, _ = as_list(states)
        gate_y, gate_z, _, _ = self._steps(inputs, y)
        return {"step_y": gate_y, "step_z": gate_z, "carry": 1.0 - self.dt * gate_y}

    def get_config(self):
        return {**super().get_config(), "dt": self.dt}


@register_cell("lem", param_count=lambda i, u: 4 * i * u + 4 * u * u + 8 * u,
               claim="bounded gradients whose decay the learned time steps control (Rusch et al. 2022)",
               published=("adding", 1000, "LEM's reference log reaches adding MSE 2.4e-5 at T = 10,000 after "
                                          "30,000 steps (128 units, batch 50)"))
def lem(units: int = 64) -> LEMCell:
    """LEM (Rusch et al. 2022): a multiscale ODE with two learned time steps; bounded gradients."""
    return LEMCell(units)
