"""``python -m zoo new-cell NAME``: a new cell file that already trains."""

from __future__ import annotations

import keyword
from pathlib import Path

from zoo.core import catalog

CELLS_DIR = Path(__file__).resolve().parent / "models" / "cells"

TEMPLATE = '''import keras
from keras import ops

from zoo import register_cell


@keras.saving.register_keras_serializable(package="rnn_zoo")
class {cls}(keras.layers.Layer):
    """A plain tanh RNN to edit into your own cell: h' = tanh(x W + h U + b).

    Args:
        units: size of the state. Default 64.

    Call arguments:
        inputs: (batch, input_dim). states: [h] with h (batch, units).
    """

    def __init__(self, units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer, got {{units!r}}")
        self.units = units
        self.state_size = units  # a list of sizes for several states, as an LSTM's [h, c]
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, inputs, states, training=False):
        h = states[0]
        new_h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias)
        return new_h, [new_h]

    def get_config(self):
        return {{**super().get_config(), "units": self.units}}


# param_count(input_dim, units) must equal the weights build() creates: the tests check it.
@register_cell("{name}", param_count=lambda i, u: u * (i + u) + u)
def {name}(units: int = 64) -> {cls}:
    """{name}: a tanh RNN written by hand (edit this line: `python -m zoo list` shows it)."""
    return {cls}(units)
'''


class NewCellError(ValueError):
    """A name or place that a new cell cannot take."""


def create(name: str, folder: Path = CELLS_DIR) -> Path:
    """Write ``folder/NAME.py`` from the template; refuses bad or taken names and existing files."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise NewCellError(
            f"cell name {name!r} is not a valid lowercase Python identifier (letters, digits, _; e.g. 'my_rnn')"
        )
    if name in catalog.list_cells():
        raise NewCellError(
            f"cell name {name!r} is already registered by {catalog.get_cell(name).source}; pick another name"
        )
    path = Path(folder) / f"{name}.py"
    if path.exists():
        raise NewCellError(f"{path} already exists; not overwriting it")
    cls = "".join(part.capitalize() for part in name.split("_") if part) + "Cell"
    path.write_text(TEMPLATE.format(name=name, cls=cls))
    return path
