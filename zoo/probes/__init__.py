"""The probes: one folder each, ``zoo/probes/<name>/measure.py`` and ``summarize.py``.

``load()`` imports every folder's ``summarize`` (which registers the probe,
``zoo.core.probe_registry``) and the plugins of the entry-point group
``rnn_zoo.probes``, once. It imports no Keras: the report reads probes through
here too. The engine imports each probe's ``measure`` module by its name
(``measure_module``) when it compiles the probe program.
"""

from __future__ import annotations

import fnmatch
import importlib
import warnings
from importlib import metadata
from pathlib import Path

import pandas as pd

from zoo.core import probe_registry
from zoo.core.probe_registry import ProbeSpec, register_probe

__all__ = ["ENTRY_POINT_GROUP", "get_probe", "list_probes", "load", "measure_module", "refresh", "register_probe",
           "run_table"]

ENTRY_POINT_GROUP = "rnn_zoo.probes"
_loaded = False
_failed: dict[str, str] = {}


def builtin_names() -> list[str]:
    """The probe folders shipped with rnn-zoo: those holding a summarize.py."""
    here = Path(__file__).parent
    return sorted(p.name for p in here.iterdir() if (p / "summarize.py").is_file())


def load() -> None:
    """Import the built-in probes and the probe plugins, once."""
    global _loaded
    if _loaded:
        return
    for name in builtin_names():
        importlib.import_module(f"{__name__}.{name}.summarize")
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"{ep.name} ({ep.value})"
        if key in _failed:
            continue
        try:
            ep.load()
        except probe_registry.DuplicateNameError:
            raise
        except Exception as exc:  # a broken plugin must not take the zoo down
            _failed[key] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"rnn-zoo: probe plugin {key} failed to load: {_failed[key]}", stacklevel=2)
    _loaded = True


def refresh() -> None:
    """Forget what was loaded, so the next lookup reads the entry points again."""
    global _loaded
    _loaded = False
    _failed.clear()


def list_probes(pattern: str = "*") -> list[str]:
    """Registered probe names matching an fnmatch ``pattern``, sorted."""
    load()
    return [n for n in probe_registry.probe_names() if fnmatch.fnmatch(n, pattern)]


def get_probe(name: str) -> ProbeSpec:
    load()
    return probe_registry.probe(name)


def measure_module(spec: ProbeSpec):
    """The engine side of ``spec``: the module holding ``measure(ctx)`` (it imports Keras)."""
    return importlib.import_module(spec.measure)


def run_table(run, name: str) -> pd.DataFrame | None:
    """A run's ``probe_<name>.csv`` rows; None where it has none. A run folder written before the
    probe registry holds a probe's table under the probe's own name (``gates.csv``), or a per-epoch
    probe's (or a per-lag probe's) columns on the rows of its probes.csv (the spectrum's, ‖dh_T/dh_t‖'s):
    read here too."""
    tables = getattr(run, "probe_tables", {})
    if name in tables:
        return tables[name]
    spec = get_probe(name)
    legacy = getattr(run, name, None)
    if isinstance(legacy, pd.DataFrame) and len(legacy) and tuple(legacy.columns) == spec.table_columns:
        return legacy
    stored = getattr(run, "probes", None)
    if spec.unit not in ("epoch", "lag") or not isinstance(stored, pd.DataFrame) \
            or not set(spec.table_columns) <= set(stored.columns):
        return None
    if spec.unit == "epoch":  # probes.csv repeats a per-epoch column on each lag's row: the first row
        rows = stored.groupby("epoch", as_index=False)[list(spec.columns)].first()
    else:
        rows = stored[list(spec.table_columns)]
    rows = rows.dropna(how="all", subset=list(spec.columns))  # a lag a probe has no value at is no row
    return rows[list(spec.table_columns)].reset_index(drop=True) if len(rows) else None

