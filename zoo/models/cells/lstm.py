import keras
from keras import ops

from zoo.core.registry import register_cell


def lstm_gates(cell: keras.layers.LSTMCell, inputs, states) -> dict:
    """Keras's LSTM gates for one step (kernel columns [i | f | c | o]); the
    forget gate scales the old cell state, so carry = f."""
    h = states[0]
    u = cell.units
    pre = ops.matmul(inputs, cell.kernel) + ops.matmul(h, cell.recurrent_kernel) + cell.bias
    i, f, o = (ops.sigmoid(pre[:, k * u : (k + 1) * u]) for k in (0, 1, 3))
    return {"input": i, "forget": f, "output": o, "carry": f}


@register_cell(
    "lstm", param_count=lambda i, u: 4 * (u * (i + u) + u), gates=lstm_gates,
    claim="a constant error carousel through the cell state (Hochreiter & Schmidhuber 1997)",
    remedy="a larger forget-gate bias at initialisation (Keras adds 1; chrono initialisation sets it near ln T, "
           "Tallec & Ollivier 2018)",
)
def lstm(units: int = 64) -> keras.layers.LSTMCell:
    """Long short-term memory (Hochreiter & Schmidhuber 1997): Keras's LSTMCell."""
    return keras.layers.LSTMCell(units)
