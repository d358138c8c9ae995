"""The probes measured during training: statistics of every training step.

A probe declared ``during="step"`` (``zoo.core.probe_registry``), such as the
gradient norm per weight group, is a statistic of the raw gradient of each
step, before clipping. Its ``measure(ctx)`` returns ``fn(grads, tv) ->
{column: value or {key: value}}``; ``StepProbes`` compiles every such probe
into the training step itself (``zoo.engine.step``), as one vector per step,
so an epoch stays one call into XLA with no host round trip per step. After
the epoch, ``rows`` reduces each column over the epoch's finite steps as the
probe declares (``over_steps``) into the rows of ``probe_<name>.csv``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from keras import ops

from zoo import probes as probe_folders
from zoo.core.probe_registry import KEYED_UNITS, ProbeSpec
from zoo.engine.build import weight_group
from zoo.engine.probe_program import ProbeContext

_REDUCE = {"mean": np.mean, "max": np.max, "min": np.min}


class StepContext(ProbeContext):
    """A probe context for a statistic of the training step: the model's weight groups too."""

    def weight_groups(self) -> dict[str, list[int]]:
        """Each weight group (``<layer>.input_kernel`` and so on, or ``head``) and the positions of
        its weights in the model's trainable variables, in the order the model first lists them.

        A layer's ``recurrent_kernel`` group holds the weights its recurrence runs through, as
        the time profile reads them (``InputSplit.recurrent``): those the cell declares in
        ``RECURRENT_WEIGHTS``, else the one named ``recurrent_kernel``. So the recurrent share and
        the weight-group figure count LEM's z_kernel and the LRU's ν and θ as the profile does.
        """
        declared = set()
        for layer in self.model._flatten_layers(include_self=False):
            names = getattr(getattr(layer, "cell", None), "RECURRENT_WEIGHTS", None) or ()
            declared |= {v.path for v in getattr(layer, "trainable_variables", ())
                         if v.path.rsplit("/", 1)[-1] in names}
        groups: dict[str, list[int]] = {}
        for j, v in enumerate(self.model.trainable_variables):
            groups.setdefault(weight_group(v.path, v.path in declared), []).append(j)
        return groups


def check_steps(spec: ProbeSpec, out: dict) -> dict:
    """A step statistic's per-step outputs (NumPy, a value per step), refused unless they are its
    declared step columns, each a per-step array or, for a keyed unit, ``{key: per-step array}``."""
    if set(out) != set(spec.step_columns):
        raise ValueError(f"probe {spec.name!r} produced the columns {sorted(out)}; it declares "
                         f"{list(spec.step_columns)} per step")
    keyed = spec.unit in KEYED_UNITS
    if any(isinstance(v, dict) != keyed for v in out.values()):
        want = f"a {{{spec.unit} name: value}} dict" if keyed else "a value"
        raise ValueError(f"probe {spec.name!r} must return {want} per column and step; got {sorted(out)}")
    return out


class StepProbes:
    """The step statistics of every registered ``during="step"`` probe that applies to one model.

    ``self(grads, tv)`` (traced inside the compiled step) is one float vector of
    ``size`` values; ``layout`` says which probe, column and key each position
    holds, found by one eager call of each probe on zero gradients.
    """

    def __init__(self, ctx: StepContext, tv: list):
        self.specs: dict[str, ProbeSpec] = {}
        self.fns: dict[str, Callable] = {}
        self.layout: list[tuple[str, str, str | None]] = []  # (probe, column, key or None), by position
        zero = [ops.zeros_like(v) for v in tv]
        for name in probe_folders.list_probes():
            spec = probe_folders.get_probe(name)
            if spec.during != "step":
                continue
            fn = probe_folders.measure_module(spec).measure(ctx)
            if fn is None:  # the probe does not apply to this model
                continue
            out = check_steps(spec, fn(zero, tv))
            self.specs[name], self.fns[name] = spec, fn
            for column in spec.step_columns:
                keys = list(out[column]) if isinstance(out[column], dict) else [None]
                self.layout += [(name, column, key) for key in keys]

    @property
    def size(self) -> int:
        return len(self.layout)

    def __call__(self, grads: list, tv: list):
        """The step's statistics as one vector (in ``layout`` order), inside the compiled step."""
        outs = {name: fn(grads, tv) for name, fn in self.fns.items()}
        values = [outs[name][column] if key is None else outs[name][column][key]
                  for name, column, key in self.layout]
        return ops.stack([ops.cast(v, "float32") for v in values]) if values else ops.zeros((0,))

    def split(self, values: np.ndarray) -> dict[str, dict]:
        """An epoch's (steps, size) matrix back into each probe's per-step outputs:
        ``{probe: {column: per-step array, or {key: per-step array}}}``."""
        out: dict[str, dict] = {name: {} for name in self.fns}
        for j, (name, column, key) in enumerate(self.layout):
            if key is None:
                out[name][column] = values[:, j]
            else:
                out[name].setdefault(column, {})[key] = values[:, j]
        return out

    def rows(self, epoch: int, values: np.ndarray, finite: np.ndarray) -> dict[str, list[dict]]:
        """Each probe's rows of ``probe_<name>.csv`` for one epoch: every column reduced over the
        epoch's ``finite`` steps (finite loss and gradient), NaN where no step was finite."""
        found = {}
        for name, out in self.split(np.asarray(values, np.float64)).items():
            spec = self.specs[name]
            out = check_steps(spec, out)
            reduced: dict = {}
            for column, hows in spec.over_steps.items():
                for how in hows:
                    reduce = _reduce(how, finite)
                    per_key = out[column]
                    reduced[f"{column}_{how}"] = ({k: reduce(v) for k, v in per_key.items()}
                                                  if isinstance(per_key, dict) else reduce(per_key))
            found[name] = _rows(spec, epoch, reduced)
        return found

    def checks(self, found: dict[str, list[dict]]) -> dict[str, list]:
        """What must be finite, by what a NaN is named: each probe's reduced values."""
        return {f"probe {name}": [row[c] for row in rows for c in self.specs[name].columns]
                for name, rows in found.items()}


def _reduce(how: str, finite: np.ndarray) -> Callable:
    def reduce(per_step: np.ndarray) -> float:
        kept = per_step[finite]
        return float(_REDUCE[how](kept)) if len(kept) else np.nan

    return reduce


def _rows(spec: ProbeSpec, epoch: int, reduced: dict) -> list[dict]:
    """The table's rows of one epoch, a keyed unit's in the model's order (not sorted by name)."""
    if spec.unit not in KEYED_UNITS:
        return [{"epoch": epoch, **{c: reduced[c] for c in spec.columns}}]
    keys = list(next(iter(reduced.values())))
    return [{"epoch": epoch, spec.unit: key, **{c: reduced[c][key] for c in spec.columns}} for key in keys]

