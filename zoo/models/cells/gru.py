import keras
from keras import ops

from zoo.core.registry import register_cell


def gru_gates(cell: keras.layers.GRUCell, inputs, states) -> dict:
    """Keras's GRU gates for one step. Keras's update gate z multiplies the old
    state (h' = z h + (1 - z) ĥ), so here carry = z."""
    h = states[0] if isinstance(states, (list, tuple)) else states
    u = cell.units
    bias_in, bias_rec = (cell.bias[0], cell.bias[1]) if cell.reset_after else (cell.bias, 0.0)
    pre = ops.matmul(inputs, cell.kernel) + bias_in
    pre_h = ops.matmul(h, cell.recurrent_kernel) + bias_rec
    z = ops.sigmoid(pre[:, :u] + pre_h[:, :u])
    r = ops.sigmoid(pre[:, u : 2 * u] + pre_h[:, u : 2 * u])
    return {"update": z, "reset": r, "carry": z}


# reset_after=True (Keras's default) carries two biases per gate.
@register_cell(
    "gru", param_count=lambda i, u: 3 * (u * (i + u) + 2 * u), gates=gru_gates,
    claim="gating that lets the state pass unchanged (Cho et al. 2014)",
    remedy="an update-gate bias that starts it carrying its state (the GRU analogue of a forget-gate bias)",
)
def gru(units: int = 64) -> keras.layers.GRUCell:
    """Gated recurrent unit (Cho et al. 2014): Keras's GRUCell."""
    return keras.layers.GRUCell(units)
