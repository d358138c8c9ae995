"""``zoo.ProbeCallback``: the zoo's gradient probes at the end of ``model.fit``'s epochs.

At each chosen epoch (and once on the initial weights, epoch 0, where the
model is built by then) it measures the model's recurrent layers on a small
fixed probe batch with ``zoo.engine.diagnose`` (compiled once, at the first
probe, then reused) and keeps the zoo's run tables: ``history``, ``probes``,
``gradients``, ``gates`` (and ``layers``), and every other registered probe's
table (``probe_tables``: the recurrent gradient's time profile, and any probe
added to ``zoo.probes``; taken with the spectrum, as they cost as much). With
``runs`` it writes them, at
the end of ``fit``, as run folders in the store's format
(``zoo.callback.run_folders``), so ``python -m zoo report --runs <runs>``
shows the model beside the zoo's own runs. With ``log_dir`` it also writes
TensorBoard: each recurrent layer's probes as ``compare --tensorboard`` writes
a run's (``zoo.views.tensorboard``: scalars of each per-epoch, keyed or per-lag
column, an image of the per-lag tables at the epochs the spectrum is taken, the
run summaries at the end),
and the model's loss and a gradient histogram per weight group.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from zoo.callback import run_folders
from zoo.callback.run_folders import folder
from zoo.core.config import ConfigError, keras_backend, show
from zoo.core.names import checked_keywords
from zoo.engine.diagnose import Diagnoser, check_data, check_finite_weights, histogram
from zoo.report.diagnosis import Diagnosis

PROBE_BATCH = 8  # sequences probed each time: the probes' cost grows with it, their noise shrinks
# The one-step Jacobian's spectrum (an SVD and a QR step per step: steps x n^3) dominates the probes'
# cost on long sequences; the callback takes it over this many of the probe sequences.
SPECTRUM_SEQUENCES = 1
HISTORY_COLUMNS = ("epoch", "loss", "test_mae", "test_mse", "test_mae_next", "test_ratio", "grad_norm_mean",
                   "grad_norm_max", "nonfinite_steps", "clipped_steps", "steps", "train_seconds", "seconds")
TB_FOLDER = "zoo_probes"  # beside Keras's own train/ and validation/ in a shared log_dir


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
    The other registered probes (``probe_tables``: the time profile, a gradient
    term per step) are taken at those epochs too.
    ``runs``: at the end of ``fit``, write a run folder per recurrent layer
    into this runs folder (the zoo's ``runs/`` or a new one) and record them
    as the grid ``<model>.fit``, so ``python -m zoo report --runs <runs>``
    shows them (``write_runs``). Each fit adds its runs to that record: fits
    that differ only in their initial weights or data are seeds of one row,
    and a fit that starts from where a recorded one ended continues its run.

    Example:
        probe = zoo.ProbeCallback(x_val, y_val, log_dir="logs")
        model.fit(x, y, epochs=20, callbacks=[probe])
        probe.probes, probe.history      # pandas DataFrames
    """

    @checked_keywords
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
        self.runs = None if runs is None else folder("runs", runs)
        self.log_dir = None
        if log_dir is not None:
            from zoo.views.tensorboard import check_available

            check_available()
            self.log_dir = folder("log_dir", log_dir)
        self.diagnoser: Diagnoser | None = None
        self.history_rows, self.probe_rows, self.grad_rows, self.gate_rows, self.layer_rows = [], [], [], [], []
        self.registered_rows: dict[str, list[dict]] = {}  # the other registered probes' rows, by probe name
        self.notes: list[str] = []  # each registered probe and layer it does not apply to, and why
        self.probe_seconds = 0.0
        self.probe_timings: list[float] = []  # seconds of each probe (the first builds and compiles them)
        self._events: dict[str | None, tuple] = {}  # TensorBoard events files: the model's (None), each layer's
        self._epoch_started = 0.0
        self._fit_started = 0.0
        self._identity = ""  # a digest of the model's weights at the start of fit and of the probe data
        self._start_weights = ""  # a digest of the weights alone at the start of fit: what it continues
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

    @property
    def probe_tables(self) -> dict[str, pd.DataFrame]:
        """The registered probes' tables ``probes`` and the others do not hold (``zoo.probes``), by probe
        name: a row per probed epoch, layer and the probe's unit (a lag, say)."""
        return {name: pd.DataFrame(rows) for name, rows in self.registered_rows.items()}

    # -- Keras hooks
    def on_train_begin(self, logs=None):
        self._fit_started = time.perf_counter()
        self.history_rows, self.probe_rows, self.grad_rows, self.gate_rows = [], [], [], []
        self.registered_rows = {}
        self.probe_seconds, self.probe_timings = 0.0, []
        if self.runs is not None:  # before training: a zoo grid's name is refused
            run_folders.check_record(self.runs, run_folders.record_name(self.model))
        self._start_weights = ""
        if self.diagnoser is not None and self.diagnoser.model is not self.model:  # reused on another model
            self.diagnoser, self.layer_rows, self._identity = None, [], ""
        if self.model.built:
            check_finite_weights(self.model)  # before training: a fit from diverged weights measures nothing
            self._identity = run_folders.digest(self.model, self.x, self.y)
            self._start_weights = run_folders.weights_digest(self.model)
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
        validation = {"mae": logs.get("val_mae", logs.get("val_mean_absolute_error")),
                      "mse": logs.get("val_mse", logs.get("val_mean_squared_error"))}
        compiled = run_folders.loss_kind(getattr(self.model, "loss", None))
        # val_loss is that metric, where the model adds no regularization loss to it
        if compiled in validation and validation[compiled] is None and not self.model.losses:
            validation[compiled] = logs.get("val_loss")
        row = {
            "epoch": number, "loss": loss,
            "test_mae": float(math.nan if validation["mae"] is None else validation["mae"]),
            "test_mse": float(math.nan if validation["mse"] is None else validation["mse"]),
            "test_mae_next": math.nan, "test_ratio": math.nan,
            # The gradient norm of the probe batch's mean loss (Keras's fit does not expose its steps').
            "grad_norm_mean": measured["grad_norm"] if measured else math.nan,
            "grad_norm_max": measured["grad_norm"] if measured else math.nan,
            "nonfinite_steps": 0 if math.isfinite(loss) else 1, "clipped_steps": 0,
            "steps": int(self.params.get("steps") or 0), "train_seconds": train_seconds,
            "seconds": time.perf_counter() - self._epoch_started,
        }
        self.history_rows.append(row)
        if self.log_dir is not None and math.isfinite(loss):
            from zoo.views.tensorboard import _scalars

            f, write = self._writer()
            write(_scalars({"epoch/loss": loss}), step=number)
            f.flush()

    def on_train_end(self, logs=None):
        if self.log_dir is not None and self.history_rows:
            self._write_run_summaries()
        self._close_writers()
        if self.runs is not None and self.history_rows:
            self.write_runs()

    # -- probing
    def _probe(self, epoch: int, spectrum: bool) -> dict:
        started = time.perf_counter()
        if self.diagnoser is None:
            x, y = check_data(self.model, self.x, self.y)
            self.diagnoser = Diagnoser(self.model, x, y, self.loss, spectrum_sequences=self.spectrum_sequences)
        if not self._identity:  # a model built by its first training step
            self._identity = run_folders.digest(self.model, self.x, self.y)
            self._start_weights = run_folders.weights_digest(self.model)
        measured = self.diagnoser.measure(self.x, self.y, spectrum=spectrum)
        measured["probe_tables"], measured["notes"] = {}, self.notes
        if spectrum:  # the other registered probes (a gradient term per step) cost as much: taken alike
            measured["probe_tables"], self.notes = self.diagnoser.registered(self.x, self.y)
            measured["notes"] = self.notes
        for name, rows in measured["probe_tables"].items():
            self.registered_rows.setdefault(name, []).extend({"epoch": epoch, **row} for row in rows)
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
            self._write_tensorboard(epoch, measured["histograms"], images=spectrum)
        self.probe_timings.append(time.perf_counter() - started)
        self.probe_seconds += self.probe_timings[-1]
        return {"grad_norm": grad_norm}

    # -- run folders (zoo.callback.run_folders)
    def run_results(self) -> list:
        """The fit as the zoo's ``RunResult``s: one per recurrent layer (cell ``<model>.<layer>``),
        with the model's history, that layer's probes, weight groups and gates."""
        return run_folders.run_results(self)

    def write_runs(self, runs=None) -> list[Path]:
        """Write the last fit's run folders (``run_results``) into ``runs`` (default: the callback's
        ``runs``), each whole or not at all, and add them to the grid record ``<model>.fit``;
        returns the run folders. Holds the runs folder's lock, as a compare does."""
        runs_dir = self.runs if runs is None else folder("runs", runs)
        if runs_dir is None:
            raise ConfigError("runs = None: pass the runs folder to write into (e.g. 'runs')")
        return run_folders.write_runs(self, runs_dir)

    def _writer(self, layer: str | None = None):
        """The events file of ``log_dir/zoo_probes`` (the model's loss and gradient histograms), or of a
        recurrent layer's ``log_dir/zoo_probes/<layer>`` (its probes): a run each in TensorBoard."""
        if layer not in self._events:
            from zoo.views.tensorboard import _events_writer

            folder = self.log_dir / TB_FOLDER / (layer or "")
            folder.mkdir(parents=True, exist_ok=True)
            self._events[layer] = _events_writer(
                folder / f"events.out.tfevents.{int(time.time())}.{os.getpid()}.rnn-zoo")
        return self._events[layer]

    def _close_writers(self) -> None:
        for f, _ in self._events.values():
            f.close()
        self._events = {}

    def _write_tensorboard(self, epoch: int, histograms: dict, images: bool) -> None:
        """This epoch's probes, each recurrent layer's as the probe schema says (as ``compare
        --tensorboard`` writes a run's), and a gradient histogram per weight group. The per-lag image
        only with ``images`` (the epochs the spectrum is taken): drawing it costs about 0.5 s a layer."""
        from tensorboard.compat.proto import summary_pb2

        from zoo.views.tensorboard import epoch_summaries

        for layer in self.layers.layer:
            f, write = self._writer(layer)
            tables = run_folders.layer_probe_tables(self, layer, epoch=epoch)
            for step, summary in epoch_summaries(tables, f"{self.model.name}.{layer}", images=images):
                write(summary, step=step)
            f.flush()
        f, write = self._writer()
        histos = [summary_pb2.Summary.Value(tag=f"gradients/{group}", histo=summary_pb2.HistogramProto(
            **histogram(grads))) for group, grads in histograms.items()]
        write(summary_pb2.Summary(value=histos), step=epoch)
        f.flush()

    def _write_run_summaries(self) -> None:
        """Each layer's probe run summaries (``summary/<probe>/<column>``) at the fit's last epoch."""
        from zoo.views.tensorboard import run_summary

        for layer in self.layers.layer:
            summary = run_summary(run_folders.layer_probe_tables(self, layer))
            if summary is not None:
                f, write = self._writer(layer)
                write(summary, step=len(self.history_rows))
                f.flush()
