"""The probe registry: diagnostics declared once, by their schema.

A probe measures something about a model at the probed epochs (0 = the
initial weights). It is one folder, ``zoo/probes/<name>/``, of two files:

- ``measure.py`` (the engine side, ``keras.ops``): ``measure(ctx)`` returns
  ``fn(tv, ntv, x, y) -> {column: tensor}``, compiled into the probe program,
  or None where the probe does not apply to the model (``ctx`` is
  ``zoo.engine.probe_program.ProbeContext``); a module-level ``XLA = False``
  compiles it outside XLA on TensorFlow (the spectrum's SVDs). An optional
  ``finish(outputs) -> {column: array}``, NumPy and no Keras, turns the compiled
  outputs into the columns where the last step belongs outside the compiled
  program (an SVD in float64, a mean whose range float32 lacks): the measure's
  outputs are then whatever ``finish`` reads, and ``finish``'s are checked
  against the declared columns;
- ``summarize.py`` (Keras-free): the ``@register_probe`` declaration on the
  per-run reducer, and an optional figure and finding.

A probe declared ``during="step"`` is a statistic of every training step
instead (the gradient norms per weight group): its ``measure(ctx)`` returns
``fn(grads, tv) -> {column: value or {key: value}}``, of the raw gradient
before clipping, which the engine compiles into the training step
(``zoo.engine.step_probes``); ``over_steps`` says how each of its columns
reduces over an epoch's finite steps into the table's columns (``norm`` by
mean and max: ``norm_mean``, ``norm_max``), a row per epoch from epoch 1.

Everything else comes from the declared schema: the engine writes the rows to
``probe_<name>.csv`` in the run folder and ends a run whose probe values are
not finite as ``diverged``; ``metrics.json`` holds each run's summary numbers
under ``probe_summaries``; the report shows each probe's table, figure and
finding. A probe from another package is an entry point in the group
``rnn_zoo.probes`` naming its summarize module (``measure=`` names its
measure module when that is not the sibling ``measure``).

Nothing here imports Keras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from zoo.core.registry import DuplicateNameError, UnknownNameError, _doc_summary, _source_of, unknown_name_message

# A value per probed epoch; per lag (steps back from the last); per time step; per named gate. A keyed
# unit's index column holds a name, not a number: its measure returns {column: {name: value}}.
UNITS = ("epoch", "lag", "step", "gate", "group")
KEYED_UNITS = ("gate", "group")
# Which probed epochs a run's summary reads: the initial, the final, their mean by lag/step/name, or every
# epoch's rows as they are (a summary of both the initial and the final weights).
REDUCERS = ("first", "last", "mean", "all")
COMBINERS = ("mean", "min", "max")  # how the report combines one summary column over the runs of a row
DURING = ("probe", "step")  # measured on the probe batch at the probed epochs, or at every training step
STEP_REDUCERS = ("mean", "max", "min")  # how a step statistic's column reduces over an epoch's finite steps


@dataclass(frozen=True)
class ProbeSpec:
    """A registered probe.

    ``columns`` are the measured columns of ``probe_<name>.csv``, whose rows are
    ``epoch`` (and ``lag`` or ``step``, by ``unit``) then ``columns``. The
    per-run ``summarize(rows) -> {summary column: float}`` reads the rows of the
    epochs ``reduce`` picks (``reduced_rows``); its keys are ``summary``.
    ``figure(table) -> matplotlib.figure.Figure | None`` draws the long table
    of every run (with ``cell``, ``mode``, ``seed`` columns, the run's
    ``own_recurrent_weights`` as described below, and ``optimizer_step``: the
    steps behind each probed epoch of a run trained for a budget of steps, NaN
    for one trained in epochs), ``finding(table)
    -> str | None`` says in a sentence what the per-run summaries (a row per run)
    show; beside the probe's own columns each row has the run's ``decay_factor``
    (the per-step factor of ‖dh_T/dh_t‖ over lags 1-5) and ``own_recurrent_weights``
    (1 where its cell has weights of its recurrence's own, 0 where not, NaN where
    unknown), for a finding that must set its numbers against them. ``fmt`` is the
    display format of the numbers; ``explain`` says what each summary column
    means, in a phrase the report prints under the probe's table (the page and
    probe_<name>.csv keep the column names, so a reader finds them in both).

    A summary value is a float, or a name (a str, such as which gate is the
    carry). The report's summary row of a cell x mode combines a numeric
    column over its ok runs by ``combine`` (its mean, unless declared ``min``
    or ``max``), a name column by the first name given; the columns in
    ``every_run`` (of the initial weights) over every run that trained,
    diverged ones too.
    """

    name: str
    columns: tuple[str, ...]
    unit: str
    reduce: str
    fmt: str
    summary: tuple[str, ...]
    summarize: Callable
    figure: Callable | None
    finding: Callable | None
    measure: str  # the module whose ``measure(ctx)`` the engine compiles
    description: str
    source: str
    combine: dict = field(default_factory=dict)  # summary column -> a COMBINERS entry (default "mean")
    every_run: tuple[str, ...] = ()
    during: str = "probe"  # a DURING entry
    over_steps: dict = field(default_factory=dict)  # during="step": measured column -> its STEP_REDUCERS
    explain: dict = field(default_factory=dict)  # summary column -> what it means, for the report's readers

    @property
    def step_columns(self) -> tuple[str, ...]:
        """The columns a step statistic's ``fn`` returns per step (each reduces into ``columns``)."""
        return tuple(self.over_steps)

    @property
    def index(self) -> tuple[str, ...]:
        """The key columns of a row: the epoch, and the lag or step."""
        return ("epoch",) if self.unit == "epoch" else ("epoch", self.unit)

    @property
    def table_columns(self) -> tuple[str, ...]:
        return (*self.index, *self.columns)

    @property
    def file_name(self) -> str:
        return f"probe_{self.name}.csv"

    def reduced_rows(self, rows):
        """The rows a run's summary reads: of its first or last probed epoch, or
        (``mean``) every epoch's rows averaged by lag or step."""
        if len(rows) == 0 or self.reduce == "all":
            return rows
        if self.reduce == "mean":
            keys = [c for c in self.index if c != "epoch"]
            if not keys:
                return rows[list(self.columns)].mean().to_frame().T
            return rows.groupby(keys, as_index=False)[list(self.columns)].mean()
        epoch = rows.epoch.min() if self.reduce == "first" else rows.epoch.max()
        return rows[rows.epoch == epoch]

    def run_summary(self, rows) -> dict[str, float]:
        """A run's summary numbers from its ``probe_<name>.csv`` rows; NaN where it has none."""
        picked = self.reduced_rows(rows)
        if len(picked) == 0:
            return {k: math.nan for k in self.summary}
        found = self.summarize(picked)
        return {k: _summary_value(found.get(k, math.nan)) for k in self.summary}


def _summary_value(value):
    """A summary number as a float, or a name as it is."""
    return value if isinstance(value, str) else float(value)


_PROBES: dict[str, ProbeSpec] = {}


def register_probe(
    name: str,
    *,
    columns,
    unit: str,
    summary,
    reduce: str = "last",
    fmt: str = ".3g",
    figure: Callable | None = None,
    finding: Callable | None = None,
    measure: str | None = None,
    combine: dict | None = None,
    every_run=(),
    during: str = "probe",
    over_steps: dict | None = None,
    explain: dict | None = None,
):
    """Register a probe under ``name``, decorating its per-run reducer; returns it unchanged.

    Example (``zoo/probes/grad_time_profile/summarize.py``):
        @register_probe("grad_time_profile", columns=("term_norm", "share_from"), unit="lag",
                        summary=("share_from_5",), reduce="last", fmt=".3f", figure=figure)
        def summarize(rows):
            "Share of dL/dW_rec from terms k or more steps back."
            return {"share_from_5": ...}
    """
    if not name.isidentifier():
        raise ValueError(f"probe name {name!r} is not a valid Python identifier")
    if unit not in UNITS:
        raise ValueError(unknown_name_message(f"probe {name!r}: unit", unit, UNITS))
    if reduce not in REDUCERS:
        raise ValueError(unknown_name_message(f"probe {name!r}: reducer", reduce, REDUCERS))
    columns, summary = tuple(columns), tuple(summary)
    clash = [c for c in columns if c in UNITS or not c.isidentifier()]
    if not columns or clash or len(set(columns)) != len(columns):
        raise ValueError(f"probe {name!r}: columns must be distinct identifiers other than {', '.join(UNITS)}; "
                         f"got {columns}")
    format(1.0, fmt)  # a bad display format fails here, at registration
    combine, every_run = dict(combine or {}), tuple(every_run)
    for column, how in combine.items():
        if how not in COMBINERS:
            raise ValueError(unknown_name_message(f"probe {name!r}: combine[{column!r}]", how, COMBINERS))
    explain = dict(explain or {})
    stray = [c for c in (*combine, *every_run, *explain) if c not in summary]
    if stray:
        raise ValueError(f"probe {name!r}: combine, every_run and explain name summary columns {list(summary)}; "
                         f"got {stray}")
    over_steps = _check_steps(name, during, unit, columns, over_steps)

    def decorate(summarize):
        source = _source_of(summarize)
        old = _PROBES.get(name)
        if old is not None and old.source != source:
            raise DuplicateNameError(f"probe {name!r} is registered twice: by {old.source} and by {source}")
        package = summarize.__module__.rpartition(".")[0]
        module = measure or (f"{package}.measure" if package else "measure")
        _PROBES[name] = ProbeSpec(name, columns, unit, reduce, fmt, summary, summarize, figure, finding, module,
                                  _doc_summary(summarize), source, combine, every_run, during, over_steps,
                                  explain)
        return summarize

    return decorate


def _check_steps(name: str, during: str, unit: str, columns: tuple, over_steps) -> dict:
    """A step statistic's ``over_steps`` ({column: reducers}), whose ``<column>_<reducer>`` names
    must be its ``columns``, in order; a probe of the probe batch has none."""
    if during not in DURING:
        raise ValueError(unknown_name_message(f"probe {name!r}: during", during, DURING))
    over_steps = {c: tuple(how) for c, how in (over_steps or {}).items()}
    if during == "probe":
        if over_steps:
            raise ValueError(f"probe {name!r}: over_steps is for during='step' only")
        return over_steps
    if unit not in ("epoch", *KEYED_UNITS):
        raise ValueError(f"probe {name!r}: a step statistic's unit is epoch (a value per step) or one of "
                         f"{', '.join(KEYED_UNITS)} (keyed values per step); got {unit!r}")
    for column, hows in over_steps.items():
        for how in hows:
            if how not in STEP_REDUCERS:
                raise ValueError(unknown_name_message(f"probe {name!r}: over_steps[{column!r}]", how, STEP_REDUCERS))
    derived = tuple(f"{c}_{how}" for c, hows in over_steps.items() for how in hows)
    if derived != columns:
        raise ValueError(f"probe {name!r}: over_steps {over_steps} makes the columns {derived}; "
                         f"columns are {columns}")
    return over_steps


def probe(name: str) -> ProbeSpec:
    """The registered probe ``name`` (no loading: use ``zoo.probes.get_probe``)."""
    try:
        return _PROBES[name]
    except KeyError:
        raise UnknownNameError(unknown_name_message("probe", name, _PROBES)) from None


def probe_names() -> list[str]:
    return sorted(_PROBES)
