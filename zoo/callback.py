"""``zoo.ProbeCallback``: the zoo's gradient probes at the end of ``model.fit``'s epochs.

At each chosen epoch (and once on the initial weights, epoch 0, where the
model is built by then) it measures the model's recurrent layers on a small
fixed probe batch with ``zoo.engine.diagnose`` (compiled once, at the first
probe, then reused) and keeps the zoo's run tables: ``history``, ``probes``,
``gradients``, ``gates`` (and ``layers``). With ``runs`` it writes them, at the end of
``fit``, as run folders in the store's format (``zoo.store``): a run per
recurrent layer, cell ``<model>.<layer>``, mode and task ``user_model``, and a
grid record ``<model>.fit`` (an experiment), so ``python -m zoo report --runs
<runs>`` shows the model beside the zoo's own runs. With ``log_dir`` it also
writes TensorBoard: per-lag scalars, the spectrum, the gradient norm per
weight group and a gradient histogram per weight group.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from zoo.core.analysis import decay_rate
from zoo.core.config import (
    USER_MODEL,
    ConfigError,
    RunConfig,
    TrainConfig,
    keras_backend,
    nearest_safe_name,
    show,
    task_settings,
)
from zoo.engine.diagnose import Diagnoser, check_data, histogram
from zoo.report.diagnosis import Diagnosis

PROBE_BATCH = 8  # sequences probed each time: the probes' cost grows with it, their noise shrinks
# The one-step Jacobian's spectrum (an SVD and a QR step per step: steps x n^3) dominates the probes'
# cost on long sequences; the callback takes it over this many of the probe sequences.
SPECTRUM_SEQUENCES = 1
HISTORY_COLUMNS = ("epoch", "loss", "test_mae", "test_mse", "test_mae_next", "test_ratio", "grad_norm_mean",
                   "grad_norm_max", "nonfinite_steps", "clipped_steps", "steps", "train_seconds", "seconds")
RECORD_SUFFIX = ".fit"  # the grid record of a user's model: runs/.grids/<model>.fit.json
TB_FOLDER = "zoo_probes"  # beside Keras's own train/ and validation/ in a shared log_dir


def logged_lags(steps: int) -> list[int]:
    """The lags written as TensorBoard scalars: 1, 2, 5, 10, 20, 50, ... and the last."""
    lags, scale = [], 1
    while scale <= steps:
        lags += [k * scale for k in (1, 2, 5) if k * scale <= steps]
        scale *= 10
    return sorted(set(lags) | {steps})


class ProbeCallback(keras.callbacks.Callback):
    """Record the zoo's gradient diagnostics while ``model.fit`` trains.

    ``x``, ``y``: data the probes run on (the first ``batch`` samples, spread
    evenly, are kept as a fixed probe batch). ``every``: probe every that many
    epochs (and the last). ``log_dir``: also write TensorBoard logs there
    (``log_dir/zoo_probes``). ``loss``: default the model's compiled loss. ``spectrum_sequences``: the
    one-step Jacobian's spectrum is taken over this many probe sequences (its
    SVDs are most of the probes' cost on long sequences), on the initial
    weights, the last epoch and, with ``spectrum_every``, every that many
    epochs; the other probed epochs record everything else (its columns NaN).
    ``runs``: at the end of ``fit``, write a run folder per recurrent layer
    into this runs folder (the zoo's ``runs/`` or a new one) and record them
    as the grid ``<model>.fit``, so ``python -m zoo report --runs <runs>``
    shows them (``write_runs``). Each fit adds its runs to that record: fits
    that differ only in their initial weights or data are seeds of one row.

    Example:
        probe = zoo.ProbeCallback(x_val, y_val, log_dir="logs")
        model.fit(x, y, epochs=20, callbacks=[probe])
        probe.probes, probe.history      # pandas DataFrames
    """

    def __init__(self, x, y, every: int = 1, log_dir=None, runs=None, loss=None, batch: int = PROBE_BATCH,
                 spectrum_sequences: int = SPECTRUM_SEQUENCES, spectrum_every: int | None = None):
        super().__init__()
        keras_backend()
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ConfigError(f"every = {show(every)}: expected a whole number of epochs >= 1 (1: every epoch)")
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ConfigError(f"batch = {show(batch)}: expected a whole number of sequences >= 1 (default "
                              f"{PROBE_BATCH})")
        try:
            x, y = np.asarray(x), np.asarray(y)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"x, y: expected arrays ({exc})") from None
        if x.ndim < 2 or len(x) == 0 or len(y) != len(x):
            raise ConfigError(f"x of shape {x.shape}, y of shape {y.shape}: expected a batch of sequences and a "
                              "target per sequence (the same first dimension)")
        if isinstance(spectrum_sequences, bool) or not isinstance(spectrum_sequences, (int, np.integer)) \
                or spectrum_sequences < 1:
            raise ConfigError(f"spectrum_sequences = {show(spectrum_sequences)}: expected a whole number >= 1 "
                              f"(default {SPECTRUM_SEQUENCES})")
        self.spectrum_sequences = int(spectrum_sequences)
        if spectrum_every is not None and (isinstance(spectrum_every, bool) or not isinstance(
                spectrum_every, (int, np.integer)) or spectrum_every < 1):
            raise ConfigError(f"spectrum_every = {show(spectrum_every)}: expected None (the first and last epochs) "
                              "or a whole number of epochs >= 1")
        self.spectrum_every = spectrum_every
        index = np.linspace(0, len(x) - 1, min(int(batch), len(x))).astype(int)
        self.x, self.y = x[index], y[index]
        self.every, self.loss = int(every), loss
        self.runs = None if runs is None else _folder("runs", runs)
        self.log_dir = None
        if log_dir is not None:
            from zoo.views.tensorboard import check_available

            check_available()
            self.log_dir = _folder("log_dir", log_dir)
        self.diagnoser: Diagnoser | None = None
        self.history_rows, self.probe_rows, self.grad_rows, self.gate_rows, self.layer_rows = [], [], [], [], []
        self.probe_seconds = 0.0
        self.probe_timings: list[float] = []  # seconds of each probe (the first builds and compiles them)
        self._events = None
        self._epoch_started = 0.0
        self._fit_started = 0.0
        self._identity = ""  # a digest of the model's weights at the start of fit and of the probe data
        self.diagnosis: Diagnosis | None = None  # the last probed epoch's

    # -- tables
    @property
    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.history_rows, columns=list(HISTORY_COLUMNS))

    @property
    def probes(self) -> pd.DataFrame:
        return pd.DataFrame(self.probe_rows)

    @property
    def gradients(self) -> pd.DataFrame:
        return pd.DataFrame(self.grad_rows, columns=["epoch", "group", "norm_mean", "norm_max"])

    @property
    def gates(self) -> pd.DataFrame:
        return pd.DataFrame(self.gate_rows, columns=["epoch", "layer", "gate", "mean"])

    @property
    def layers(self) -> pd.DataFrame:
        return pd.DataFrame(self.layer_rows)

    # -- Keras hooks
    def on_train_begin(self, logs=None):
        self._fit_started = time.perf_counter()
        self.history_rows, self.probe_rows, self.grad_rows, self.gate_rows = [], [], [], []
        self.probe_seconds, self.probe_timings = 0.0, []
        if self.runs is not None:
            _check_record(self.runs, record_name(self.model))  # before training: a zoo grid's name is refused
        if self.model.built:
            self._identity = self._digest()
            self._probe(0, spectrum=True)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train_seconds = time.perf_counter() - self._epoch_started
        number = epoch + 1
        last = number == self.params.get("epochs")
        spectrum = last or (self.spectrum_every is not None and number % self.spectrum_every == 0)
        measured = self._probe(number, spectrum) if (number % self.every == 0 or last) else None
        loss = float(logs.get("loss", math.nan))
        row = {
            "epoch": number, "loss": loss,
            "test_mae": float(logs.get("val_mae", logs.get("val_mean_absolute_error", math.nan))),
            "test_mse": float(logs.get("val_mse", logs.get("val_mean_squared_error", math.nan))),
            "test_mae_next": math.nan, "test_ratio": math.nan,
            # The gradient norm of the probe batch's mean loss (Keras's fit does not expose its steps').
            "grad_norm_mean": measured["grad_norm"] if measured else math.nan,
            "grad_norm_max": measured["grad_norm"] if measured else math.nan,
            "nonfinite_steps": 0 if math.isfinite(loss) else 1, "clipped_steps": 0,
            "steps": int(self.params.get("steps") or 0), "train_seconds": train_seconds,
            "seconds": time.perf_counter() - self._epoch_started,
        }
        self.history_rows.append(row)
        if self._events is not None:
            self._write_scalars({"epoch/loss": loss}, number)

    def on_train_end(self, logs=None):
        if self._events is not None:
            self._events[0].close()
            self._events = None
        if self.runs is not None and self.history_rows:
            self.write_runs()

    # -- probing
    def _probe(self, epoch: int, spectrum: bool) -> dict:
        started = time.perf_counter()
        if self.diagnoser is None:
            x, y = check_data(self.model, self.x, self.y)
            self.diagnoser = Diagnoser(self.model, x, y, self.loss, spectrum_sequences=self.spectrum_sequences)
        if not self._identity:  # a model built by its first training step
            self._identity = self._digest()
        measured = self.diagnoser.measure(self.x, self.y, spectrum=spectrum)
        self.diagnosis = Diagnosis.from_measured(self.model.name, measured)
        self.probe_rows += [{"epoch": epoch, **row} for row in measured["probes"]]
        if not self.layer_rows:
            self.layer_rows = list(self.diagnosis.layers.to_dict("records"))
        for row in measured["gradients"]:
            self.grad_rows.append({"epoch": epoch, "group": row["group"], "norm_mean": row["norm"],
                                   "norm_max": row["norm"]})
        self.gate_rows += [{"epoch": epoch, **row} for row in measured["gates"]]
        grad_norm = math.sqrt(sum(row["norm"] ** 2 for row in measured["gradients"]))
        if self.log_dir is not None:
            self._write_tensorboard(epoch, measured)
        self.probe_timings.append(time.perf_counter() - started)
        self.probe_seconds += self.probe_timings[-1]
        return {"grad_norm": grad_norm}

    # -- run folders
    def _digest(self) -> str:
        """What tells two fits of one model apart: its weights (names, shapes, values) and the probe data."""
        h = hashlib.sha256()
        for v in self.model.weights:
            value = np.ascontiguousarray(keras.ops.convert_to_numpy(v))
            h.update(f"{v.path}:{value.shape}:{value.dtype};".encode())
            h.update(value.tobytes())
        for array in (self.x, self.y):
            h.update(f"{array.shape}:{array.dtype};".encode())
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()[:16]

    def run_results(self) -> list:
        """The fit as the zoo's ``RunResult``s: one per recurrent layer (cell ``<model>.<layer>``),
        with the model's history, that layer's probes, weight groups and gates."""
        from zoo.engine.run import _dynamics_metrics, _model_bytes, _versions
        from zoo.store import RunResult

        if not self.history_rows or self.diagnosis is None:
            raise ConfigError("no fit to write yet: call model.fit with this callback first")
        model, history, layers = self.model, self.history, self.layers
        probes, gradients, gates = self.probes, self.gradients, self.gates
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
            learning_rate=_learning_rate(optimizer), optimizer=str(getattr(optimizer, "name", "unknown")),
            loss=_loss_name(self.loss if self.loss is not None else getattr(model, "loss", None)),
            clipnorm=_float_or_none(getattr(optimizer, "clipnorm", None)),
            global_clipnorm=_float_or_none(getattr(optimizer, "global_clipnorm", None)),
            probes=int(probes.epoch.nunique()) - (0 in set(probes.epoch)), probe_batch=len(self.x),
        )
        name = nearest_safe_name(model.name)
        results = []
        for info in layers.to_dict("records"):
            layer = info["layer"]
            own = probes[probes.layer == layer].drop(columns="layer").reset_index(drop=True)
            groups = gradients[gradients.group.str.startswith(f"{layer}.")].reset_index(drop=True)
            task = task_settings(USER_MODEL, {"model": model.name, "steps": int(info["steps"]),
                                              "features": int(self.x.shape[-1]) if self.x.ndim > 2 else 1})
            config = RunConfig(cell=nearest_safe_name(f"{name}.{layer}"), mode=USER_MODEL, seed=0,
                               units=int(info["units"]), task=task, train=train, backend=keras.backend.backend(),
                               code=(("fit", self._identity),))
            final = own[own.epoch == own.epoch.max()]
            metrics = {
                "status": status,
                "diverged_epoch": int(nonfinite.epoch.iloc[0]) if len(nonfinite) else None,
                "diverged_in": "loss" if len(nonfinite) else None,
                "epochs_run": int(last.epoch), "loss": float(last.loss),
                "test_mae": float(last.test_mae), "test_mse": float(last.test_mse), "test_mae_next": math.nan,
                "params": int(model.count_params()), "steps": int(history.steps.sum()),
                "seconds": time.perf_counter() - self._fit_started,
                "train_seconds": float(history.train_seconds.sum()), "probe_seconds": self.probe_seconds,
                "decay_rate": decay_rate(final.lag.to_numpy(), final.dhT_dht.to_numpy()),
                "task": USER_MODEL, "model": model.name, "layer": layer, "kind": info["kind"],
                "cell_class": info["cell"], "state_size": int(info["state_size"]), "masked": bool(info["masked"]),
                "written_by": "zoo.ProbeCallback", "versions": _versions(), **_dynamics_metrics(final),
            }
            results.append(RunResult(
                config=config, history=history, gradients=groups, probes=own,
                gates=gates[gates.layer == layer].drop(columns="layer").reset_index(drop=True),
                predictions=pd.DataFrame(columns=["index", "offset", "truth", "prediction"]),
                metrics=metrics, model_bytes=model_bytes))
        return results

    def write_runs(self, runs=None) -> list[Path]:
        """Write the last fit's run folders (``run_results``) into ``runs`` (default: the callback's
        ``runs``), each whole or not at all, and add them to the grid record ``<model>.fit``;
        returns the run folders. Holds the runs folder's lock, as a compare does."""
        from zoo import store
        from zoo.runs.runner import runs_lock

        runs_dir = self.runs if runs is None else _folder("runs", runs)
        if runs_dir is None:
            raise ConfigError("runs = None: pass the runs folder to write into (e.g. 'runs')")
        results = self.run_results()
        name = record_name(self.model)
        with runs_lock(runs_dir):
            _check_record(runs_dir, name)
            paths = [store.write_files(runs_dir, r.config, store.run_files(r)) for r in results]
            old = store.read_grids(runs_dir).get(name, {}).get("run_ids", [])
            run_ids = list(dict.fromkeys([i for i in old if (runs_dir / i).is_dir()] + [p.name for p in paths]))
            configs = [r.config for r in results]
            grid = {
                "name": name, "cells": sorted({c.cell for c in configs}), "modes": [USER_MODEL],
                # Fits of one model are its seeds: run ids are <cell>-user_model-s0-<hash>.
                "seeds": max(Counter(i.rsplit("-", 3)[0] for i in run_ids).values()), "units": configs[0].units,
                "task": configs[0].to_dict()["task"], "train": configs[0].to_dict()["train"], "sweep": {},
                "experiment": f"The Keras model {self.model.name}, trained with model.fit and zoo.ProbeCallback: "
                              "a row per recurrent layer, probed on the callback's probe batch.",
            }
            store.write_grid(runs_dir, name, grid, run_ids)
        return paths

    def _writer(self):
        if self._events is None:
            from zoo.views.tensorboard import _events_writer

            folder = self.log_dir / TB_FOLDER
            folder.mkdir(parents=True, exist_ok=True)
            self._events = _events_writer(folder / f"events.out.tfevents.{int(time.time())}.{os.getpid()}.rnn-zoo")
        return self._events

    def _write_scalars(self, values: dict, step: int) -> None:
        from zoo.views.tensorboard import _scalars

        f, write = self._writer()
        write(_scalars({k: v for k, v in values.items() if v is not None and math.isfinite(v)}), step=step)
        f.flush()

    def _write_tensorboard(self, epoch: int, measured: dict) -> None:
        from tensorboard.compat.proto import summary_pb2

        values = {}
        probes = pd.DataFrame(measured["probes"])
        for name, rows in probes.groupby("layer", sort=False):
            rows = rows.set_index("lag")
            for lag in logged_lags(int(rows.index.max())):
                values[f"dhT_dht/{name}/lag_{lag:04d}"] = rows.dhT_dht.get(lag)
                if lag in rows.index and rows.dL_dx.notna().get(lag, False):
                    values[f"dL_dx/{name}/lag_{lag:04d}"] = rows.dL_dx.get(lag)
            first = rows.iloc[0]
            for column in ("lyapunov_top", "jac_sigma_max", "jac_sigma_min", "jac_sigma_median"):
                if math.isfinite(first[column]):
                    values[f"spectrum/{name}/{column}"] = first[column]
        for row in measured["gradients"]:
            values[f"gradient_groups/{row['group']}"] = row["norm"]
        self._write_scalars({k: float(v) for k, v in values.items() if v is not None}, epoch)
        f, write = self._writer()
        histos = []
        for group, grads in measured["histograms"].items():
            proto = summary_pb2.HistogramProto(**histogram(grads))
            histos.append(summary_pb2.Summary.Value(tag=f"gradients/{group}", histo=proto))
        write(summary_pb2.Summary(value=histos), step=epoch)
        f.flush()


def _folder(where: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not str(os.fspath(value)).strip() or "\0" in str(value):
        raise ConfigError(f"{where} = {show(value)}: expected a folder path")
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{where} = {show(str(path))} is a file; expected a folder")
    return path


def record_name(model) -> str:
    """The grid record of a user's model: ``<model>.fit``."""
    return nearest_safe_name(model.name)[: 80 - len(RECORD_SUFFIX)] + RECORD_SUFFIX


def _check_record(runs_dir: Path, name: str) -> None:
    """Refuse to add a user's runs to a grid record that the zoo's compare wrote (same name)."""
    from zoo import store

    record = store.read_grids(runs_dir).get(name)
    if record is not None and list(record.get("grid", {}).get("modes", [])) != [USER_MODEL]:
        raise ConfigError(f"runs = {show(str(runs_dir))}: its grid record {show(name)} is a zoo grid's, not a "
                          "user model's; rename the model (keras.Model(..., name=...)) or pass another runs folder")


def _learning_rate(optimizer) -> float:
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):  # a schedule, or no optimizer
        return math.nan


def _float_or_none(value) -> float | None:
    return None if value is None else float(value)


def _loss_name(loss) -> str:
    if loss is None:
        return "unknown"
    if isinstance(loss, str):
        return loss
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__)
