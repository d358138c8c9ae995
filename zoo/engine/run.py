"""One training run: build the model, train it with the compiled step, probe
its gradients, and return everything as a ``RunResult``. Writes no files.

Compiled code is shared by every run of the same shape (the seeds of one cell
x mode) through ``zoo.engine.step.ENGINES``.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from typing import Callable

import keras
import numpy as np
import pandas as pd
from keras import ops

from zoo.core.analysis import decay_factor, decay_rate, late_decay_factor, probe_epochs
from zoo.core.config import RunConfig
from zoo.core.tasks.data import TaskData
from zoo.engine import backend, optimizers
from zoo.engine.build import Resolved, build_model, expected_param_count, make_data, model_of, state_activation  # noqa: F401
from zoo.engine.probe_program import PROGRAMS
from zoo.engine.probes import PROBE_COLUMNS
from zoo.engine.step import ENGINES, Engine
from zoo.store import RunResult


def engine(run: RunConfig, instrument: bool = True) -> Engine:
    """The compiled engine of ``run``'s shape (shared with its other seeds)."""
    return ENGINES.get(Resolved.of(run), instrument)


def _versions() -> dict:
    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "backend_version": __import__(keras.backend.backend()).__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def train_run(
    run: RunConfig, on_epoch: Callable[[int, float], None] | None = None, instrument: bool = True
) -> RunResult:
    """Train one run and return its result. A NaN/inf loss ends it as ``diverged``.

    ``instrument=False`` trains without the per-step gradient statistics (for
    ``make bench``, which measures what they cost). An "epoch" is an
    evaluation period of ``train.eval_every`` steps when the run has a step
    budget (``train.steps``). The probes also run once before training (epoch 0).
    """
    started = time.perf_counter()
    resolved = Resolved.of(run)  # the registry is asked once, here
    train = run.train
    eng = ENGINES.get(resolved, instrument)
    train_w, test_w = make_data(run.task, resolved.mode, run.seed)

    keras.utils.set_random_seed(run.seed)
    model = model_of(resolved)
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    ov = optimizers.init_state(train, tv)

    rng = np.random.default_rng(run.seed)
    x_all, y_all = ops.convert_to_tensor(train_w.x), ops.convert_to_tensor(train_w.y)
    record = Recorder(run, eng, train_w, test_w, started)
    record.start(tv, ntv)

    for epoch in range(1, train.periods + 1):
        t0 = time.perf_counter()
        order = record.order(rng)
        tv, ntv, ov, stats = eng.train_epoch(tv, ntv, ov, x_all, y_all, order, record.mask)
        stats = [np.asarray(s) for s in stats]
        train_seconds = time.perf_counter() - t0  # the compiled steps alone, results in hand
        pred = np.asarray(eng.predict(tv, ntv, test_w.x))
        if not record.epoch(epoch, stats, pred, tv, ntv, train_seconds, time.perf_counter() - t0):
            break  # diverged
        if on_epoch is not None:
            on_epoch(epoch, record.history[-1]["loss"])
    return record.result(model, tv, ntv)


class Recorder:
    """A run's tables, epoch by epoch, and its ``RunResult`` at the end.

    The one place that turns an epoch's compiled outputs into history,
    gradient, probe and gate rows and decides divergence, so a run trained
    alone (``train_run``) and a run trained as one replica of a batch
    (``zoo.engine.batched``) record the same numbers the same way.
    """

    def __init__(self, run: RunConfig, eng: Engine, train_w: TaskData, test_w: TaskData, started: float):
        train = run.train
        self.run, self.eng, self.test_w, self.started = run, eng, test_w, started
        self.task = eng.resolved.task
        self.baseline = float(self.task.baseline(run.task))
        n, batch = len(train_w.x), train.batch_size
        self.n, self.budget = n, train.steps is not None
        # An epoch's steps; in epochs the last, partial batch is masked, as Keras's fit would weigh it.
        self.steps = train.eval_every if self.budget else -(-n // batch)
        self.probe_at = set(probe_epochs(train.periods, train.probes))
        probe_index = np.linspace(0, n - 1, min(train.probe_batch, n)).astype(int)
        self.x_probe, self.y_probe = train_w.x[probe_index], train_w.y[probe_index]
        valid = np.arange(self.steps * batch) < (self.steps * batch if self.budget else n)
        self.mask = valid.reshape(self.steps, batch).astype(np.float32)
        self._queue = np.zeros(0, np.int64)  # a step budget's batches still to come
        self.history = []
        self.program = PROGRAMS.get(eng)  # the registered probes, compiled for this shape
        # The probes' tables: of the probe batch (from epoch 0), and of every training step (from epoch 1).
        self.probe_tables: dict[str, list[dict]] = {name: [] for name in (*self.program.fns, *eng.step_probes.fns)}
        self.status, self.diverged_epoch, self.diverged_in = "ok", None, None
        self.may_stop, self.stopped_epoch = train.stop == "solved", None
        self.pred = None
        self.probe_seconds, self.init_checks = 0.0, {}
        self.device: dict = {}  # where it trained, added to ``backend.device()`` (the batched path: its replicas)

    def order(self, rng: np.random.Generator) -> np.ndarray:
        """An epoch's batches, (steps, batch) indices into the training set.

        In epochs: ``rng``'s next permutation, padded. With a step budget:
        ``eval_every`` full batches, drawn without replacement pass after pass.
        """
        if not self.budget:
            order = np.zeros(self.mask.size, np.int32)
            order[: self.n] = rng.permutation(self.n)
            return order.reshape(self.mask.shape)
        while len(self._queue) < self.mask.size:
            self._queue = np.concatenate([self._queue, rng.permutation(self.n)])
        order, self._queue = self._queue[: self.mask.size], self._queue[self.mask.size :]
        return order.astype(np.int32).reshape(self.mask.shape)

    def start(self, tv, ntv) -> None:
        """Probe the initial weights (epoch 0), before the first step; checked with epoch 1."""
        self.init_checks = self._probe(0, tv, ntv)

    def _probe(self, epoch: int, tv, ntv) -> dict:
        """Run every registered probe at ``epoch``; returns their values by ``probe <name>`` for the
        divergence check, so a NaN/inf is named by the probe that measured it."""
        t0 = time.perf_counter()
        registered = self.program.rows(epoch, tv, ntv, self.x_probe, self.y_probe)
        self.probe_seconds += time.perf_counter() - t0
        for name, rows in registered.items():
            self.probe_tables[name] += rows
        self._last_checks = {f"probe {name}": [row[c] for row in rows for c in self.program.specs[name].columns]
                             for name, rows in registered.items()}
        return self._last_checks

    def epoch(self, epoch: int, stats, pred: np.ndarray, tv, ntv, train_seconds: float, seconds: float) -> bool:
        """Record one epoch from its per-step ``stats`` (numpy) and test predictions.

        ``tv``, ``ntv`` are this run's weights after the epoch (for the probes).
        Returns False when the run diverged and must stop.
        """
        eng, test_w, mask = self.eng, self.test_w, self.mask
        loss, gnorm, step_values, clipped = stats
        self.pred = pred
        weights = mask.sum(axis=1)
        epoch_loss = float(np.sum(loss * weights) / weights.sum())
        finite = np.isfinite(loss) & np.isfinite(gnorm)
        self.history.append(
            {
                "epoch": epoch,
                "loss": epoch_loss,
                **_test_numbers(self.task, pred, test_w, self.baseline),
                "grad_norm_mean": float(np.mean(gnorm[finite])) if finite.any() else np.nan,
                "grad_norm_max": float(np.max(gnorm[finite])) if finite.any() else np.nan,
                "nonfinite_steps": int((~finite).sum()),
                "clipped_steps": int(clipped.sum()),
                "steps": self.steps,
                "train_seconds": train_seconds,
                "seconds": seconds,  # with the test-set evaluation
            }
        )
        step_rows = eng.step_probes.rows(epoch, step_values, finite)  # the step statistics, reduced over the epoch
        for name, rows in step_rows.items():
            self.probe_tables[name] += rows
        checks = {"loss": epoch_loss, "test predictions": pred}
        if epoch == 1:
            checks.update(self.init_checks)
        if epoch in self.probe_at:
            checks.update(self._probe(epoch, tv, ntv))
        if finite.any():  # with no finite step they are NaN, as the history's gradient norm is
            checks.update(eng.step_probes.checks(step_rows))
        bad = [what for what, values in checks.items() if not np.all(np.isfinite(values))]
        if bad:  # NaN/inf anywhere ends the run: a result, recorded with where it began
            self.status, self.diverged_epoch, self.diverged_in = "diverged", epoch, bad[0]
            return False
        if self.may_stop and self.history[-1]["test_ratio"] < self.task.solved_below:
            if epoch not in self.probe_at:  # its gradient "after training" is the one where it stopped
                bad = [what for what, values in self._probe(epoch, tv, ntv).items() if not np.all(np.isfinite(values))]
                if bad:
                    self.status, self.diverged_epoch, self.diverged_in = "diverged", epoch, bad[0]
                    return False
            self.stopped_epoch = epoch
            return False
        return True

    def result(self, model: keras.Model, tv, ntv) -> RunResult:
        """The finished run: ``model`` takes the final weights ``tv``, ``ntv`` and is saved."""
        run, test_w = self.run, self.test_w
        for var, value in zip(model.trainable_variables, tv):
            var.assign(value)
        for var, value in zip(model.non_trainable_variables, ntv):
            var.assign(value)

        history = pd.DataFrame(self.history)
        probe_tables = {name: pd.DataFrame(rows, columns=list(self.program.specs[name].table_columns))
                        for name, rows in self.probe_tables.items()}
        probes = probes_csv(probe_tables, self.program.specs)
        last = history.iloc[-1]
        final_probe = probes[probes.epoch == probes.epoch.max()] if len(probes) else probes
        task, ratio = self.task, float(last.test_ratio)
        metrics = {
            "status": self.status,
            "diverged_epoch": self.diverged_epoch,
            "diverged_in": self.diverged_in,
            "epochs_run": int(last.epoch),
            "stopped_solved": self.stopped_epoch is not None,  # train.stop = "solved" ended it early
            "loss": float(last.loss),
            "test_mae": float(last.test_mae),
            "test_mse": float(last.test_mse),
            "test_mae_next": float(last.test_mae_next),
            "params": int(model.count_params()),
            "state_activation": state_activation(model),  # whether the tanh-slope probe is tanh' (the report's words)
            "steps": int(history.steps.sum()),
            "seconds": time.perf_counter() - self.started,
            "train_seconds": float(history.train_seconds.sum()),
            "probe_seconds": self.probe_seconds,
            "decay_rate": decay_rate(final_probe.lag.to_numpy(), final_probe.dhT_dht.to_numpy())
            if len(final_probe)
            else float("nan"),
            # What the report needs to judge the run without the task's code.
            "task": task.name,
            "length": getattr(run.task, task.length),
            "sequence_steps": int(task.steps(run.task)),
            "metric": task.metric,
            "metric_value": float(last[task.metric]),
            "baseline": self.baseline,
            "ratio": ratio,
            "solved_below": task.solved_below,
            "solved_reason": task.solved_reason,
            "solved": bool(self.status == "ok" and ratio < task.solved_below),
            "cell_declares": self.eng.resolved.cell.declares(),  # and without the cell's (CellSpec.declares)
            "mode_description": self.eng.resolved.mode.description,  # what the page's glossary says of it
            # Whether a recurrent_kernel weight group exists (StepContext.weight_groups): weights of the
            # recurrence's own, apart from the input's, whose per-step terms the time profile sums.
            "own_recurrent_weights": any(g.endswith("recurrent_kernel") for g in self.eng.weight_groups),
            "dhT_dh1_init": _first_step_norm(probes, 0),
            "dhT_dh1": _first_step_norm(probes, int(probes.epoch.max())) if len(probes) else float("nan"),
            **{k: float(last[k]) for k in history.columns if k not in _HISTORY_BASE},  # test_ce, recall_accuracy
            **_dynamics_metrics(final_probe),
            # Each registered probe's per-run summary (its reducer over the epochs it declares); null: not measured.
            "probe_summaries": {
                name: {k: v if isinstance(v, str) or np.isfinite(v) else None  # a name (str) as it is
                       for k, v in self.program.specs[name].run_summary(table).items()}
                for name, table in probe_tables.items()
            },
            "versions": _versions(),
            "device": {**backend.device(), **self.device},
        }
        return RunResult(
            config=run,
            history=history,
            # The gradients probe's table again, as the run folder's gradients.csv (its readers read it there).
            gradients=probe_tables.get("gradients", pd.DataFrame(columns=["epoch", "group", "norm_mean",
                                                                           "norm_max"])).copy(),
            probes=probes,
            # The gates probe's table again, as the run folder's gates.csv (``zoo.store`` lists it).
            gates=probe_tables.get("gates", pd.DataFrame(columns=["epoch", "gate", "mean"])).copy(),
            predictions=_predictions(self.task, test_w, self.pred),
            metrics=metrics,
            model_bytes=_model_bytes(model),
            probe_tables=probe_tables,
        )


def probes_csv(tables: dict[str, pd.DataFrame], specs: dict) -> pd.DataFrame:
    """The run's probes.csv from its registered probes' tables: a row per probed epoch and lag, the
    columns ``PROBE_COLUMNS`` (its readers' contract: the report's lineage, horizon and figures,
    TensorBoard, a notebook). The lag-unit probes holding some of those columns are joined on
    (epoch, lag); a per-epoch probe's are repeated on its epoch's rows; a column no probe measured
    (a one-step layout's dhT_dht) is empty."""
    wanted = [c for c in PROBE_COLUMNS if c not in ("epoch", "lag")]
    probes = None
    for unit in ("lag", "epoch"):  # the lag rows first, then the epoch columns onto them
        for name, table in tables.items():
            shared = [c for c in specs[name].columns if c in wanted and (probes is None or c not in probes)]
            if specs[name].unit != unit or not shared or (unit == "epoch" and probes is None):
                continue
            part = table[[*specs[name].index, *shared]]
            probes = part if probes is None else probes.merge(part, on=list(specs[name].index),
                                                              how="outer" if unit == "lag" else "left")
    probes = pd.DataFrame(columns=list(PROBE_COLUMNS)) if probes is None else probes
    probes = probes.reindex(columns=list(PROBE_COLUMNS)).sort_values(["epoch", "lag"], ignore_index=True)
    return probes.astype({"epoch": int, "lag": int, **{c: float for c in wanted}})


def _dynamics_metrics(final_probe: pd.DataFrame) -> dict:
    """The through-time numbers of the last probed epoch: the per-step factor of
    ‖dh_T/dh_t‖ over lags 1-5 (and over the last fifth of a long window), and the
    one-step Jacobian's spectrum. None where not measured: no state through time,
    a window too short for the late factor, or a run that diverged."""
    nan = float("nan")
    lags, norms = final_probe.lag.to_numpy(), final_probe.dhT_dht.to_numpy()
    first = final_probe.iloc[0] if len(final_probe) else {}
    values = {
        "decay_factor": decay_factor(lags, norms) if len(final_probe) else nan,
        "decay_factor_late": late_decay_factor(lags, norms) if len(final_probe) else nan,
        **{k: float(first.get(k, nan)) for k in ("lyapunov_top", "qr_lyapunov_max", "lyapunov_sum",
                                                  "lyapunov_sum_unresolved", "jac_sigma_max", "jac_sigma_min")},
    }
    return {k: v if np.isfinite(v) else None for k, v in values.items()}  # null in metrics.json: not measured


def _test_numbers(task, pred: np.ndarray, test: TaskData, baseline: float) -> dict:
    """The test metrics of one evaluation, and the task's metric over its baseline."""
    if task.classes:  # pred: log-probabilities (n, steps, k); test.y: ids (n, steps)
        logp = np.take_along_axis(pred, test.y[..., None].astype(np.int64), axis=-1)[..., 0]
        numbers = {"test_mae": np.nan, "test_mse": np.nan, "test_mae_next": np.nan,
                   "test_ce": float(-np.mean(logp))}
    else:
        err = (pred - test.y).reshape(len(pred), -1)
        next_col = list(test.offsets).index(1) if test.offsets is not None and 1 in test.offsets else -1
        numbers = {
            "test_mae": float(np.mean(np.abs(err))),
            "test_mse": float(np.mean(err**2)),
            "test_mae_next": float(np.mean(np.abs(err[:, next_col]))),
        }
    if task.extra_metrics is not None:
        numbers.update(task.extra_metrics(test.y, pred))
    numbers["test_ratio"] = numbers[task.metric] / baseline
    return numbers


_HISTORY_BASE = {"epoch", "loss", "test_mae", "test_mse", "test_mae_next", "test_ratio", "grad_norm_mean",
                 "grad_norm_max", "nonfinite_steps", "clipped_steps", "steps", "train_seconds", "seconds"}


def _first_step_norm(probes: pd.DataFrame, epoch: int) -> float:
    """‖dh_T/dh_1‖ at a probed epoch: the Jacobian over the whole sequence but its first step (lag T-1)."""
    p = probes[probes.epoch == epoch]
    row = p[p.lag == p.lag.max() - 1]
    return float(row.dhT_dht.iloc[0]) if len(row) else float("nan")  # NaN: a one-step mode, or a diverged probe


def _predictions(task, data: TaskData, pred: np.ndarray) -> pd.DataFrame:
    """Test truth and prediction per target; for classification the predicted
    class at the steps whose truth varies (copy: the 10 recalled symbols)."""
    n = len(pred)
    if task.classes:
        truth = data.y.reshape(n, -1)
        chosen = pred.reshape(n, truth.shape[1], -1).argmax(axis=-1)
        keep = np.flatnonzero((truth != truth[:1]).any(axis=0))
        return pd.DataFrame({
            "index": np.repeat(np.arange(n), len(keep)),
            "offset": np.tile(keep, n),
            "truth": truth[:, keep].ravel(),
            "prediction": chosen[:, keep].ravel(),
        })
    offsets = data.offsets if data.offsets is not None else np.array([1])
    ends = data.ends if data.ends is not None else np.arange(n)
    k = len(offsets)
    return pd.DataFrame(
        {
            "index": (ends[:, None] + offsets).ravel(),
            "offset": np.tile(offsets, len(ends)),
            "truth": data.y.reshape(-1, k).ravel(),
            "prediction": pred.reshape(-1, k).ravel(),
        }
    )


def _model_bytes(model: keras.Model) -> bytes:
    """The ``.keras`` archive as bytes, so only the driver writes into runs/."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()
