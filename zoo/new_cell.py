"""``python -m zoo new-cell NAME``: a new cell file that already trains."""

from __future__ import annotations

import ast
import builtins
import keyword
import re
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

    # The state is a tanh output, so the report reads its 1 - h² as tanh'. Change or drop this
    # line when your state is not (an LSTM's h = o tanh(c), a ReLU, a linear recurrence).
    state_activation = "tanh"

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


# A cell's name is in its module's file name and in every run id (with the mode,
# seed and hash: about 60 characters more), so it must fit a file name anywhere.
NAME_MAX = 64
NAME = re.compile(r"[a-z][a-z0-9_]*")  # ASCII: run ids, file names and `zoo clean` take only ASCII


def _template_names() -> set[str]:
    """The names the template's code uses (``keras``, ``ops``, ``int``...): a cell
    builder of that name would shadow them and the cell could not train."""
    tree = ast.parse(TEMPLATE.format(name="placeholder_name", cls="PlaceholderCell"))
    imported = {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
    builtins_used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and hasattr(builtins, n.id)}
    return imported | builtins_used


class NewCellError(ValueError):
    """A name or place that a new cell cannot take."""


def check_name(name: str) -> None:
    """Refuse a name that would not work everywhere: in Python, in file names and run ids, in `zoo clean`."""
    if not NAME.fullmatch(name) or keyword.iskeyword(name) or keyword.issoftkeyword(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise NewCellError(
            f"cell name {shown!r} is not a valid lowercase Python identifier (ASCII letters, digits, _, starting "
            "with a letter, not a Python keyword; e.g. 'my_rnn')"
        )
    if len(name) > NAME_MAX:
        raise NewCellError(
            f"cell name {name[:40]!r}... is {len(name)} characters long; at most {NAME_MAX} (it is part of every "
            "run folder's name)"
        )
    if name in _template_names():
        raise NewCellError(
            f"cell name {name!r} is a name the cell's own code uses (its builder would shadow it, and the cell could "
            "not train); pick another, e.g. 'my_rnn'"
        )


def create(name: str, folder: Path = CELLS_DIR) -> Path:
    """Write ``folder/NAME.py`` from the template; refuses bad or taken names and existing files."""
    check_name(name)
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
