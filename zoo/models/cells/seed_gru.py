import keras
from keras import ops

from zoo.core.registry import register_cell
from zoo.models.cells.base import UnitsCell


@keras.saving.register_keras_serializable(package="rnn_zoo")
class SeedGRUCell(UnitsCell):
    """The seed post's GRU, written from its own equations.

    For input x and previous state h:

        r  = σ(W_r x + U_r h + b_r)          reset gate
        z  = σ(W_z x + U_z h + b_z)          update gate
        ĥ  = tanh(W x + r ⊙ (U h) + b)       candidate
        h' = (1 − z) ⊙ h + z ⊙ ĥ

    Which way does the update gate point? The post's text says a larger
    update gate carries more of the previous state into the new one. Its own
    last equation says the opposite: z multiplies the candidate ĥ, so z → 1
    replaces h by ĥ and z → 0 keeps h. The equation is what this cell computes
    (and what the post's TensorFlow GRU computed too, up to the sign flip
    below); the sentence describes Keras's (and Cho et al.'s) convention,
    where z multiplies h instead.

    Mapping to ``keras.layers.GRU(units, reset_after=True)``, which computes
    z_k = σ(x K_z + b_z^in + h R_z + b_z^rec),
    ĥ = tanh(x K_h + b_h^in + r ⊙ (h R_h + b_h^rec)) and h' = z_k h + (1 − z_k) ĥ,
    with weights stored as ``kernel`` (input, 3u) = [K_z | K_r | K_h],
    ``recurrent_kernel`` (u, 3u) = [R_z | R_r | R_h], ``bias`` (2, 3u):

        K_z = −W_z,  R_z = −U_z,  b_z^in = −b_z,  b_z^rec = 0   (1 − σ(a) = σ(−a))
        K_r =  W_r,  R_r =  U_r,  b_r^in =  b_r,  b_r^rec = 0
        K_h =  W,    R_h =  U,    b_h^in =  b,    b_h^rec = 0

    (W acting on a column vector x is x @ K with K = Wᵀ; weights here are
    stored as Keras stores them, input-major.) The test copies mapped weights
    into Keras's GRU and checks that both give the same outputs.

    Args:
        units: size of the state. Default 64.

    Call arguments:
        inputs: (batch, input_dim). states: [h] with h (batch, units).

    Example:
        >>> layer = keras.layers.RNN(SeedGRUCell(8))
        >>> layer(np.zeros((2, 5, 1))).shape
        (2, 8)
    """

    def build(self, input_shape):
        i, u = input_shape[-1], self.units
        glorot, orthogonal = keras.initializers.GlorotUniform(), keras.initializers.Orthogonal()
        # Columns in the order [z | r | h], as Keras's GRU stores them.
        self.kernel = self.add_weight(shape=(i, 3 * u), initializer=glorot, name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 3 * u), initializer=orthogonal, name="recurrent_kernel")
        self.bias = self.add_weight(shape=(3 * u,), initializer="zeros", name="bias")

    def call(self, inputs, states, training=False):
        h = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        x_part = ops.matmul(inputs, self.kernel) + self.bias
        h_part = ops.matmul(h, self.recurrent_kernel)
        z = ops.sigmoid(x_part[:, :u] + h_part[:, :u])
        r = ops.sigmoid(x_part[:, u : 2 * u] + h_part[:, u : 2 * u])
        candidate = ops.tanh(x_part[:, 2 * u :] + r * h_part[:, 2 * u :])
        new_h = (1 - z) * h + z * candidate
        return new_h, [new_h]

    def gates(self, inputs, states):
        """Gate activations for one step. The post's z multiplies the candidate,
        so the share of the old state kept is carry = 1 - z."""
        h = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        pre = ops.matmul(inputs, self.kernel) + self.bias + ops.matmul(h, self.recurrent_kernel)
        z = ops.sigmoid(pre[:, :u])
        return {"update": z, "reset": ops.sigmoid(pre[:, u : 2 * u]), "carry": 1 - z}



@register_cell("seed_gru", param_count=lambda i, u: 3 * u * (i + u + 1))
def seed_gru(units: int = 64) -> SeedGRUCell:
    """The seed post's GRU from its own equations (one bias per gate, h' = (1-z) h + z ĥ)."""
    return SeedGRUCell(units)
