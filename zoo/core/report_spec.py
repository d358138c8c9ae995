"""What a grid's report shows: the ``[report]`` table of a config.

An experiment declares its figures, its findings and its report sections by
name, instead of the report guessing them from the names of its sweep axes::

    [report]
    figures = ["clipping", "explosion_by_lag"]   # in the order shown
    findings = ["clipping"]
    sections = ["memory", "probes"]               # optional: the default below

The names are the report's vocabulary (``FIGURES``, ``FINDINGS``,
``SECTIONS``): each says in a line what it shows and which swept setting it
reads, so a config naming a figure whose setting it does not sweep is refused
when it is loaded, before any training. ``zoo.report.registry`` holds what
draws and writes each name (and checks that it covers this vocabulary). A grid
without a ``[report]`` table (a user's config, a record stored before tables
existed) gets ``default_spec``: its sections, no sweep figure, and whether
runs diverged. Nothing here imports Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.core.names import nearest_hint

# zoo.core.config holds ReportSpec in its GridConfig, so this module imports it only where
# it is used (USER_MODEL, ConfigError, show), after both have loaded.

CLIP_KEYS = ("train.global_clipnorm", "train.clipnorm")
SIZE_KEYS = ("param_budget", "units")


@dataclass(frozen=True)
class Item:
    """A name of the report's vocabulary: what it shows and, if any, the settings one of which
    the grid must sweep for it to show anything (the first swept one is its axis)."""

    description: str
    sweeps: tuple[str, ...] = ()


FIGURES = {
    "decay_by_window": Item("‖dh_T/dh_t‖ against lag, a panel per window", ("task.window",)),
    "clipping": Item("training loss and the share of clipped steps, with and without clipping", CLIP_KEYS),
    "explosion_by_lag": Item("‖dh_T/dh_t‖ and dL/dx by lag at the first probe, with the recurrent kernel's share "
                             "of the gradient, per clipping setting", CLIP_KEYS),
    "params_vs_mae": Item("test MAE against parameter count, at equal units and at an equal budget", SIZE_KEYS),
    "gradient_by_lag": Item("dL/dx and ‖dh_T/dh_t‖ against lag, every run"),
}
FINDINGS = {
    "window": Item("the per-step factor of ‖dh_T/dh_t‖ and the vanish lag at each window", ("task.window",)),
    "clipping": Item("growth through time, clipping against divergence, and the control without a path through "
                     "time", CLIP_KEYS),
    "budget": Item("the best cell at equal units and at an equal parameter budget", SIZE_KEYS),
    "divergence": Item("how many runs diverged, when, and why"),
    "gradient": Item("which cell keeps the gradient alive through time, and by how much"),
}
SECTIONS = {
    "lineage": Item("a row per task x cell: outcome beside the gradient through time (a grid that varies only "
                    "the task)"),
    "memory": Item("which cell solves which length of a memory task, beside ‖dh_T/dh_1‖"),
    "horizon": Item("the memory horizon a [search] finds, per task, cell and learning rate"),
    "probes": Item("each registered probe's table, figure and finding"),
}
KINDS: dict[str, dict[str, Item]] = {"figures": FIGURES, "findings": FINDINGS, "sections": SECTIONS}
KEYS = tuple(KINDS)


@dataclass(frozen=True)
class ReportSpec:
    """A ``[report]`` table, checked: names of ``FIGURES``, ``FINDINGS`` and ``SECTIONS``, in page order."""

    figures: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {key: list(getattr(self, key)) for key in KEYS}

    @classmethod
    def from_dict(cls, d: dict) -> "ReportSpec":
        """A table rnn-zoo wrote (a grid record); names it does not know (a later version's) are left out."""
        return cls(**{key: tuple(n for n in d.get(key, ()) if n in KINDS[key]) for key in KEYS})


def default_spec(grid) -> ReportSpec:
    """What a grid without a ``[report]`` table shows: its sections (the horizon's for a search,
    the lineage table for an experiment), whether runs diverged, and no sweep figure. A user's
    model (``zoo.ProbeCallback``'s runs) shows each layer's gradient through time instead."""
    from zoo.core.config import USER_MODEL

    sections = (("lineage",) if grid.experiment else ()) + (
        ("horizon",) if grid.search is not None else ("memory",)) + ("probes",)
    if USER_MODEL in grid.modes:
        return ReportSpec(("gradient_by_lag",), ("gradient",), sections)
    return ReportSpec((), ("divergence",), sections)


def spec_of(grid) -> ReportSpec:
    """The grid's declared ``[report]``, or ``default_spec``."""
    return grid.report if grid.report is not None else default_spec(grid)


def axis(item: Item, swept) -> str | None:
    """The first of ``item``'s settings among the ``swept`` keys (None: it reads none)."""
    return next((key for key in item.sweeps if key in swept), None)


def _names(key: str, value, grid_sweep: tuple[str, ...], searched: bool) -> tuple[str, ...]:
    from zoo.core.config import ConfigError, show

    where, known = f"report.{key}", KINDS[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} = {show(value)}: expected a list of names, such as {show(list(known)[:2])}")
    for name in value:
        if name not in known:
            raise ConfigError(f"{where}: unknown name {show(name)}; valid choices: {', '.join(known)}"
                              + nearest_hint(name, known))
        item = known[name]
        if item.sweeps and axis(item, grid_sweep) is None:
            raise ConfigError(f"{where}: {name!r} shows {item.description}, so the grid must sweep "
                              f"{' or '.join(item.sweeps)}; its [sweep] has {', '.join(grid_sweep) or 'no axis'}")
    if len(set(value)) < len(value):
        raise ConfigError(f"{where} = {show(value)}: a name is listed twice")
    _check_search(where, value, searched)
    return tuple(value)


def _check_search(where: str, names, searched: bool) -> None:
    from zoo.core.config import ConfigError

    # A search's lengths differ by cell and line: only the horizon section reads them.
    if searched and "memory" in names:
        raise ConfigError(f"{where}: 'memory' tables fixed lengths, and this grid searches them ([search]); "
                          "use 'horizon'")
    if not searched and "horizon" in names:
        raise ConfigError(f"{where}: 'horizon' shows a [search]'s horizon, and this grid has no [search]; "
                          "use 'memory'")


def parse(raw, grid) -> ReportSpec:
    """The ``[report]`` table of ``grid``'s config, checked against the vocabulary and against what
    the grid sweeps; a missing key takes ``default_spec``'s value."""
    from zoo.core.config import ConfigError, show

    if not isinstance(raw, dict):
        raise ConfigError(f"report = {show(raw)}: expected a table ([report])")
    for key in raw:
        if key not in KEYS:
            raise ConfigError(f"unknown key {show(key)} in [report]; valid keys: {', '.join(KEYS)}"
                              + nearest_hint(key, KEYS))
    swept, default = tuple(k for k, _ in grid.sweep), default_spec(grid)
    searched = grid.search is not None
    return ReportSpec(**{key: _names(key, raw[key], swept, searched) if key in raw else getattr(default, key)
                         for key in KEYS})
