"""The probe registry's probes (``zoo.probes``) on each recurrent layer of a user's model.

A registered probe's own ``measure`` runs unchanged on a ``LayerContext``: the
model cut at one recurrent layer, at any depth. The probes whose code
``Diagnoser.measure`` runs on every layer itself, with the layer's mask and
reading order (dL/dx and ‖dh_T/dh_t‖ by lag, the spectrum, the gates: its
``probes`` and ``gates`` tables), and the statistics of a training step are
not run again here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import keras
from keras import ops

from zoo import probes as probe_folders
from zoo.engine import backend, probes
from zoo.engine.diagnose.layers import Recurrent, capturing, gate_function, replacing
from zoo.engine.probe_program import (
    InputSplit,
    ProbeContext,
    check_output,
    compiled_with_xla,
    output_step,
    rows_of,
)

if TYPE_CHECKING:
    from zoo.engine.diagnose.diagnoser import Diagnoser

# Registered probes whose code ``Diagnoser.measure`` itself runs on every layer, masked or backward too.
MEASURED_PER_LAYER = ("gates", "input_gradient", "spectrum", "state_jacobian")


@dataclass
class _LayerView:
    """What a registered probe reads of "the layer that reads the input": its name and input shape."""

    name: str
    input: object
    cell: object


class LayerContext(ProbeContext):
    """A registered probe's context (``zoo.engine.probe_program.ProbeContext``) for one recurrent
    layer of a user's model, at any depth: the model is cut at that layer by wrapping its ``call``
    (``capturing`` for the front, ``replacing`` for the rest), so no sub-model is built and
    subclassed models work too. The probe's own ``measure`` runs unchanged on it."""

    def __init__(self, diagnoser: "Diagnoser", rec: Recurrent, input_shape: tuple):
        super().__init__(diagnoser.model, layout="user_model", loss_kind="")
        self.diagnoser, self.rec, self.input_shape = diagnoser, rec, input_shape
        self._x: list = []  # the model input of the call being traced: the front sees it, the rest reruns from it

    def loss(self, pred, y):
        return ops.mean(self.diagnoser.loss(y, pred))

    def predict(self, tv, ntv, x):
        return self.model.stateless_call(tv, ntv, x, **self.diagnoser._not_training)[0]

    def input_layer(self):
        return _LayerView(self.rec.name, keras.KerasTensor(self.input_shape), self.rec.cell)

    def gate_function(self):
        return gate_function(self.rec.cell)

    def reads_model_input(self) -> bool:
        return True  # its front is the layer's own captured input, whatever is in front of it

    def input_split(self) -> InputSplit:
        rec, model, stash = self.rec, self.model, self._x
        not_training = self.diagnoser._not_training

        def front(tv, ntv, x):
            stash[:] = [x]
            with capturing([rec]) as captured:
                model.stateless_call(tv, ntv, x, **not_training)
            return ops.convert_to_tensor(captured[0][0])

        def rest(tv, ntv, out):
            with replacing(rec, out):
                return model.stateless_call(tv, ntv, stash[0], **not_training)[0]

        cell_vars = rec.cell.trainable_variables
        return InputSplit(front, rest, output_step(rec.cell), [self.diagnoser.paths.index(v.path) for v in cell_vars],
                          [v.path for v in cell_vars], int(sum(probes.state_sizes(rec.cell))),
                          bool(getattr(rec.layer, "return_sequences", False)),
                          getattr(rec.cell, "RECURRENT_WEIGHTS", None))


def not_applicable(masked: bool, rec: Recurrent) -> str | None:
    """Why the registered probes cannot run on this layer's cell path, or None."""
    if masked:
        return "it reads a mask, and a registered probe steps the cell over every step"
    if rec.go_backwards:
        return "it reads its sequence backwards (go_backwards, or a Bidirectional's backward direction)"
    if getattr(rec.layer, "return_state", False):
        return "it returns its states too (return_state=True)"
    return None


class RegisteredProbes:
    """Every registered probe's ``measure`` compiled on every layer of one ``Diagnoser`` it applies to,
    with a line for each probe and layer it does not apply to, saying why."""

    def __init__(self, diagnoser: Diagnoser):
        self.programs: list[tuple] = []  # (spec, layer name, compiled measure, NumPy finish or None)
        self.notes: list[str] = []
        for name in probe_folders.list_probes():
            spec = probe_folders.get_probe(name)
            if spec.during == "step" or name in MEASURED_PER_LAYER:
                continue  # a statistic of a training step, or numbers ``Diagnoser.measure`` gives
            module = probe_folders.measure_module(spec)
            for k, rec in enumerate(diagnoser.layers):
                reason = not_applicable(diagnoser.masked[k], rec)
                if reason:
                    self.notes.append(f"{name} does not apply to layer {rec.name!r}: {reason}")
                    continue
                ctx = LayerContext(diagnoser, rec, diagnoser.input_shapes[k])
                fn = module.measure(ctx)
                if fn is None:
                    # The probe's own documented rule (an ungated cell has no gates): its table simply has
                    # no rows for the layer. Notes are for what the diagnoser itself cannot cut.
                    continue
                split = ctx.input_split()
                if len(split.recurrent) == len(split.cell_paths) and name == "grad_time_profile":
                    self.notes.append(f"{name} on layer {rec.name!r}: its cell has no recurrent weight of its own, "
                                      "so the profile is that of all its weights (the probe's rule)")
                self.programs.append((spec, rec.name, backend.compile_fn(fn, xla=compiled_with_xla(module)),
                                      getattr(module, "finish", None)))

    def tables(self, tv, ntv, x, y) -> dict[str, list[dict]]:
        """Rows by probe name: a ``layer`` column, then the probe's unit and columns."""
        tables: dict[str, list[dict]] = {}
        for spec, layer, fn, finish in self.programs:
            out = fn(tv, ntv, x, y)
            rows = rows_of(spec, 0, check_output(spec, finish(out) if finish is not None else out))
            tables.setdefault(spec.name, []).extend(
                {"layer": layer, **{k: v for k, v in row.items() if k != "epoch"}} for row in rows)
        return tables
