"""A user's fit as the zoo's run folders: ``ProbeCallback``'s records in the store's format.

A run per recurrent layer (cell ``<model>.<layer>``, mode and task
``user_model``) with the model's history and that layer's probes, weight
groups and gates, and a grid record ``<model>.fit`` (an experiment) that each
fit of the model adds its runs to, so ``python -m zoo report --runs <runs>``
shows the model beside the zoo's own runs.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import time
import warnings
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pandas as pd

from zoo.core.analysis import decay_rate
from zoo.core.config import (
    USER_MODEL,
    ConfigError,
    RunConfig,
    TrainConfig,
    nearest_safe_name,
    show,
    task_settings,
)
from zoo.core.specs import canonical_loss

RECORD_SUFFIX = ".fit"  # the grid record of a user's model: runs/.grids/<model>.fit.json


def _hash_weights(h, model) -> None:
    for v in model.weights:
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(v))
        h.update(f"{v.path}:{value.shape}:{value.dtype};".encode())
        h.update(value.tobytes())


def digest(model, x, y) -> str:
    """What tells two fits of one model apart: its weights (names, shapes, values) and the probe data."""
    h = hashlib.sha256()
    _hash_weights(h, model)
    for array in (x, y):
        h.update(f"{array.shape}:{array.dtype};".encode())
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


def weights_digest(model) -> str:
    """The model's weights alone (names, shapes, values): a fit that starts from where an earlier one
    ended (``weights_end`` in its metrics) continues that run rather than being a new seed."""
    h = hashlib.sha256()
    _hash_weights(h, model)
    return h.hexdigest()[:16]


def run_results(cb) -> list:
    """The fit of the callback ``cb`` as the zoo's ``RunResult``s: one per recurrent layer (cell
    ``<model>.<layer>``), with the model's history, that layer's probes, weight groups and gates."""
    from zoo.engine.run import _dynamics_metrics, _model_bytes, _versions
    from zoo.store import RunResult

    if not cb.history_rows or cb.diagnosis is None:
        raise ConfigError("no fit to write yet: call model.fit with this callback first")
    model, history, layers = cb.model, cb.history, cb.layers
    probes, gradients, gates = cb.probes, cb.gradients, cb.gates
    try:
        model_bytes = _model_bytes(model)
    except Exception as exc:  # noqa: BLE001  (Keras raises many kinds for a model it cannot save)
        raise ConfigError(f"model {show(model.name)}: Keras cannot save it as .keras ({type(exc).__name__}: "
                          f"{exc}); a run folder holds the trained model, so none was written") from None
    nonfinite = history[~np.isfinite(history.loss)]
    status = "diverged" if len(nonfinite) else "ok"
    last = history.iloc[-1]
    optimizer = model.optimizer
    train = TrainConfig(
        epochs=len(history), batch_size=0,  # 0: fit's batch size is not known to a callback
        learning_rate=_learning_rate(optimizer), optimizer=optimizer_name(optimizer),
        loss=_loss_name(cb.loss if cb.loss is not None else getattr(model, "loss", None)),
        clipnorm=_float_or_none(getattr(optimizer, "clipnorm", None)),
        global_clipnorm=_float_or_none(getattr(optimizer, "global_clipnorm", None)),
        probes=int(probes.epoch.nunique()) - (0 in set(probes.epoch)), probe_batch=len(cb.x),
    )
    name = nearest_safe_name(model.name)
    results = []
    for info in layers.to_dict("records"):
        layer = info["layer"]
        own, groups, own_gates = _layer_rows(probes, gradients, gates, layer)
        task = task_settings(USER_MODEL, {"model": model.name, "steps": int(info["steps"]),
                                          "features": int(cb.x.shape[-1]) if cb.x.ndim > 2 else 1})
        config = RunConfig(cell=nearest_safe_name(f"{name}.{layer}"), mode=USER_MODEL, seed=0,
                           units=int(info["units"]), task=task, train=train, backend=keras.backend.backend(),
                           code=(("fit", cb._identity),))
        final = own[own.epoch == own.epoch.max()]
        metrics = {
            "status": status,
            "diverged_epoch": int(nonfinite.epoch.iloc[0]) if len(nonfinite) else None,
            "diverged_in": "loss" if len(nonfinite) else None,
            "epochs_run": int(last.epoch), "loss": float(last.loss),
            "test_mae": float(last.test_mae), "test_mse": float(last.test_mse), "test_mae_next": math.nan,
            "params": int(model.count_params()), "steps": int(history.steps.sum()),
            "seconds": time.perf_counter() - cb._fit_started,
            "train_seconds": float(history.train_seconds.sum()), "probe_seconds": cb.probe_seconds,
            "decay_rate": decay_rate(final.lag.to_numpy(), final.dhT_dht.to_numpy()),
            "task": USER_MODEL, "model": model.name, "layer": layer, "kind": info["kind"],
            "cell_class": info["cell"], "state_size": int(info["state_size"]), "masked": bool(info["masked"]),
            "written_by": "zoo.ProbeCallback", "versions": _versions(), **_dynamics_metrics(final),
            "weights_start": cb._start_weights, "weights_end": weights_digest(model),
        }
        results.append(RunResult(
            config=config, history=history, gradients=groups, probes=own, gates=own_gates,
            predictions=pd.DataFrame(columns=["index", "offset", "truth", "prediction"]),
            metrics=metrics, model_bytes=model_bytes,
            probe_tables=layer_probe_tables(cb, layer)))
    return results


def _layer_rows(probes: pd.DataFrame, gradients: pd.DataFrame, gates: pd.DataFrame, layer: str) -> tuple:
    """The callback's probes, weight-group gradients and gates of one recurrent layer."""
    return (probes[probes.layer == layer].drop(columns="layer").reset_index(drop=True),
            gradients[gradients.group.str.startswith(f"{layer}.")].reset_index(drop=True),
            gates[gates.layer == layer].drop(columns="layer").reset_index(drop=True))


def layer_probe_tables(cb, layer: str, epoch: int | None = None) -> dict[str, pd.DataFrame]:
    """One layer's table of each registered probe (of one probed ``epoch``, or all), as a compare's run
    folder holds them (probe_<name>.csv): the probes the diagnoser runs itself from the callback's own
    tables, the others from its ``probe_tables``. A probe with no rows for the layer (an ungated
    cell's gates, a probe that does not apply, one not taken at that epoch) has no table."""
    from zoo import probes as probe_folders

    at = (lambda t: t[t.epoch == epoch]) if epoch is not None else (lambda t: t)  # noqa: E731
    probes, gradients, gates = _layer_rows(at(cb.probes), at(cb.gradients), at(cb.gates), layer)
    own = SimpleNamespace(probes=probes, gradients=gradients, gates=gates)  # read as a stored run's
    tables = {}
    for name in probe_folders.list_probes():
        spec = probe_folders.get_probe(name)
        rows = cb.probe_tables.get(name)
        if rows is not None and len(rows):
            table = at(rows[rows.layer == layer]).reset_index(drop=True)
            table = table[list(spec.table_columns)] if len(table) else None
        else:
            table = probe_folders.run_table(own, name)
        if table is not None and len(table):
            tables[name] = table
    return tables


def write_runs(cb, runs_dir: Path) -> list[Path]:
    """Write the callback ``cb``'s last fit (``run_results``) into ``runs_dir``, each run folder whole or
    not at all, and add them to the grid record ``<model>.fit``; returns the run folders. Holds the
    runs folder's lock, as a compare does."""
    from zoo import store
    from zoo.runs.runner import runs_lock

    results = cb.run_results()
    name = record_name(cb.model)
    with runs_lock(runs_dir):
        check_record(runs_dir, name)
        old = [i for i in store.read_grids(runs_dir).get(name, {}).get("run_ids", []) if (runs_dir / i).is_dir()]
        continued = _continued_runs(runs_dir, old, cb._start_weights)
        results = [continue_run(continued[r.config.cell], r) if r.config.cell in continued else r for r in results]
        paths = [store.write_files(runs_dir, r.config, store.run_files(r)) for r in results]
        # A continued run is replaced in the record by its continuation (its folder stays): one
        # model trained over two fits is one run, not two seeds of a row.
        replaced = {run.path.name for run in continued.values()}
        run_ids = list(dict.fromkeys([i for i in old if i not in replaced] + [p.name for p in paths]))
        configs = [r.config for r in results]
        grid = {
            "name": name, "cells": sorted({c.cell for c in configs}), "modes": [USER_MODEL],
            # Fits of one model are its seeds: run ids are <cell>-user_model-s0-<hash>.
            "seeds": max(Counter(i.rsplit("-", 3)[0] for i in run_ids).values()), "units": configs[0].units,
            "task": configs[0].to_dict()["task"], "train": configs[0].to_dict()["train"], "sweep": {},
            "experiment": f"The Keras model {cb.model.name}, trained with model.fit and zoo.ProbeCallback: "
                          "a row per recurrent layer, probed on the callback's probe batch.",
        }
        store.write_grid(runs_dir, name, grid, run_ids)
    return paths


def _continued_runs(runs_dir: Path, run_ids: list[str], start_weights: str) -> dict:
    """The recorded runs this fit continues, by cell: those whose model ended with the weights it starts from."""
    from zoo import store

    found = {}
    for run_id in run_ids:
        try:
            run = store.read_run(runs_dir / run_id)
        except (store.CorruptRunError, store.ForeignRunError) as exc:  # not read, not replaced: said
            warnings.warn(f"rnn-zoo: {exc}; if this fit continued it, it is recorded as a new run", stacklevel=4)
            continue
        if start_weights and run.metrics.get("weights_end") == start_weights:
            found[run.config.cell] = run
    return found


def continue_run(earlier, later):
    """``later`` (a ``RunResult``, a fit that started where the stored run ``earlier`` ended) as one run with
    ``earlier``: its epochs after ``earlier``'s, and its probe of the start (the epoch-0 rows, the
    weights ``earlier`` ended with) left out, as ``earlier``'s last epoch holds them."""
    import dataclasses

    end = int(earlier.history.epoch.max()) if len(earlier.history) else 0
    # Fit numbers its epochs from 1, or from initial_epoch + 1: the later epochs go right after the earlier.
    offset = max(0, end + 1 - int(later.history.epoch.min())) if len(later.history) else 0

    def joined(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
        if "epoch" not in after.columns or not len(after):
            return before.reset_index(drop=True)
        after = after[after.epoch > 0].assign(epoch=lambda t: t.epoch + offset)
        return pd.concat([before, after], ignore_index=True) if len(before) else after.reset_index(drop=True)

    history = joined(earlier.history, later.history)
    tables = {n: joined(earlier.probe_tables.get(n, pd.DataFrame()), t) for n, t in later.probe_tables.items()}
    m = later.metrics
    metrics = {**m, "epochs_run": int(history.epoch.max()), "steps": int(history.steps.sum()),
               "train_seconds": float(history.train_seconds.sum()),
               "seconds": float(earlier.metrics.get("seconds", 0.0)) + m["seconds"],
               "probe_seconds": float(earlier.metrics.get("probe_seconds", 0.0)) + m["probe_seconds"],
               "weights_start": earlier.metrics.get("weights_start", m["weights_start"]),
               "continues": earlier.path.name}
    nonfinite = history[~np.isfinite(history.loss)]  # an earlier run that diverged cannot be continued
    if len(nonfinite):
        metrics.update(status="diverged", diverged_epoch=int(nonfinite.epoch.iloc[0]), diverged_in="loss")
    probes = joined(earlier.probes, later.probes)
    probed = int(probes.epoch.nunique()) - (0 in set(probes.epoch)) if len(probes) else 0
    config = dataclasses.replace(later.config, train=dataclasses.replace(
        later.config.train, epochs=len(history), probes=probed))
    return dataclasses.replace(
        later, config=config, history=history, gradients=joined(earlier.gradients, later.gradients),
        probes=probes, gates=joined(earlier.gates, later.gates),
        metrics=metrics, probe_tables=tables)


def folder(where: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(os.fspath(value)).strip() or "\0" in str(value):
        raise ConfigError(f"{where} = {show(value)}: expected a folder path")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where} = {show(str(path))} is a file; expected a folder")
    return path


def record_name(model) -> str:
    """The grid record of a user's model: ``<model>.fit``."""
    return nearest_safe_name(model.name)[: 80 - len(RECORD_SUFFIX)] + RECORD_SUFFIX


def check_record(runs_dir: Path, name: str) -> None:
    """Refuse to add a user's runs to a grid record that the zoo's compare wrote (same name)."""
    from zoo import store

    record = store.read_grids(runs_dir).get(name)
    if record is not None and list(record.get("grid", {}).get("modes", [])) != [USER_MODEL]:
        raise ConfigError(f"runs = {show(str(runs_dir))}: its grid record {show(name)} is a zoo grid's, not a "
                          "user model's; rename the model (keras.Model(..., name=...)) or pass another runs folder")


def optimizer_name(optimizer) -> str:
    """The optimizer's name as a person wrote it: "adam", not the "adam_3" Keras makes each instance
    unique with (a name the user gave stays whole)."""
    name = str(getattr(optimizer, "name", "unknown"))
    base = re.sub(r"_\d+$", "", name)
    own = type(optimizer).__name__
    # Keras's default name is the class name in snake case (AdamW: adam_w, RMSprop: rm_sprop).
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", own)).lower()
    return own.lower() if base in (own.lower(), snake) else name


def _learning_rate(optimizer) -> float:
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):  # a schedule, or no optimizer
        return math.nan


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def loss_kind(loss) -> str | None:
    """"mse" or "mae" where ``loss`` (a model's compiled loss: a name, a Loss or a function) is one, else None."""
    # A fit's val_loss is then that test metric.
    kind = canonical_loss(_loss_name(loss)) if loss is not None else None
    return kind if kind in ("mse", "mae") else None


def _loss_name(loss) -> str:
    if loss is None:
        return "unknown"
    if isinstance(loss, str):
        return loss
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__)
