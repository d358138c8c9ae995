"""One training run: build the model, train it with the instrumented step, probe
its gradients, and return everything as a ``RunResult``. Writes no files.

The loop is Keras's stateless API (``stateless_call``, ``stateless_apply``)
under one compiled function per epoch, so an epoch is one call into XLA (the
``steps_per_execution`` idea taken to the whole epoch), and compiled code is
shared by every run of the same shape (the seeds of one cell x mode).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import keras
import numpy as np
import pandas as pd
from keras import ops

from zoo import gradients, optimizers, registry, tasks
from zoo.config import RunConfig, TaskConfig


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow now, with its C++ start-up log lines sent nowhere.

    Keras imports TensorFlow whenever it is installed (to seed it, and to
    check types while saving), and TensorFlow's native logger writes to the
    stderr file descriptor at import, ignoring TF_CPP_MIN_LOG_LEVEL.
    """
    import importlib.util
    import sys

    if "tensorflow" in sys.modules:  # imported already, or kept out by zoo.executors.prepare_worker
        return
    if importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


_import_tensorflow_quietly()

# ------------------------------------------------------------------ the model


def build_model(cell: str, mode: str, units: int, window: int, horizon: int) -> keras.Model:
    """The Keras model of one cell in one mode."""
    cell_spec = registry.get_cell(cell)
    mode_spec = registry.get_mode(mode)
    return mode_spec.builder(lambda: cell_spec.builder(units), window, horizon)


def expected_param_count(cell: str, mode: str, units: int, window: int, horizon: int) -> int:
    """Closed-form parameter count of ``build_model(...)``."""
    cell_spec = registry.get_cell(cell)
    return registry.get_mode(mode).param_count(cell_spec.param_count, units, window, horizon)


def make_data(task: TaskConfig, mode: str) -> tuple[tasks.Windows, tasks.Windows]:
    spec = registry.get_mode(mode)
    train = tasks.series(task.train_start, task.train_stop, task.train_points)
    test = tasks.series(task.test_start, task.test_stop, task.test_points)
    cut = lambda values: tasks.make_windows(values, task.window, task.horizon, spec.layout, spec.target)  # noqa: E731
    return cut(train), cut(test)


def weight_group(path: str) -> str:
    """Gradient group of a variable: ``<layer>.input_kernel`` and so on, or ``head``."""
    parts = path.split("/")
    layer, leaf = parts[0], parts[-1]
    if layer == "head":
        return "head"
    return f"{layer}.{'input_kernel' if leaf == 'kernel' else leaf}"


def _per_sample_loss(kind: str, pred, y):
    err = ops.abs(pred - y) if kind == "mae" else ops.square(pred - y)
    return ops.mean(ops.reshape(err, (ops.shape(err)[0], -1)), axis=1)


# ----------------------------------------------------------------- the engine


class Engine:
    """Compiled functions for one model shape; shared by all its seeds."""

    def __init__(self, run: RunConfig, instrument: bool = True):
        # ``instrument=False`` drops the per-step gradient statistics; only
        # ``make bench`` uses it, to measure what the statistics cost.
        task, train = run.task, run.train
        self.template = build_model(run.cell, run.mode, run.units, task.window, task.horizon)
        paths = [v.path for v in self.template.trainable_variables]
        self.groups = list(dict.fromkeys(weight_group(p) for p in paths))
        membership = np.zeros((len(self.groups), len(paths)), np.float32)
        for j, p in enumerate(paths):
            membership[self.groups.index(weight_group(p)), j] = 1.0
        self.loss_kind = train.loss
        self.clipnorm, self.global_clipnorm = train.clipnorm, train.global_clipnorm

        model = self.template

        def batch_loss(tv, ntv, x, y, mask):
            pred, ntv = model.stateless_call(tv, ntv, x, training=True)
            per_sample = _per_sample_loss(self.loss_kind, pred, y)
            return ops.sum(per_sample * mask) / ops.sum(mask), ntv

        loss_and_grads = gradients.value_and_grad(batch_loss)

        def train_step(carry, batch):
            tv, ntv, ov, x_all, y_all = carry
            index, mask = batch
            x, y = ops.take(x_all, index, axis=0), ops.take(y_all, index, axis=0)
            (loss, ntv), grads = loss_and_grads(tv, ntv, x, y, mask)
            if not instrument and self.clipnorm is None and self.global_clipnorm is None:
                tv, ov = optimizers.apply(train, ov, grads, tv, None)
                zero = ops.zeros(())
                return (tv, ntv, ov, x_all, y_all), (loss, zero, ops.zeros(len(self.groups)), zero > 0)
            # Statistics of the raw gradient, before the optimizer clips it.
            norms = [ops.sqrt(ops.sum(ops.square(g))) for g in grads]
            squares = ops.square(ops.stack(norms))
            global_norm = ops.sqrt(ops.sum(squares))
            if self.global_clipnorm is not None:
                clipped = global_norm > self.global_clipnorm
            elif self.clipnorm is not None:
                clipped = ops.any(ops.stack(norms) > self.clipnorm)
            else:
                clipped = ops.convert_to_tensor(False)
            tv, ov = optimizers.apply(train, ov, grads, tv, norms)
            stats = (loss, global_norm, ops.sqrt(ops.matmul(membership, squares)), clipped)
            return (tv, ntv, ov, x_all, y_all), stats

        def train_epoch(tv, ntv, ov, x_all, y_all, index, mask):
            (tv, ntv, ov, _, _), stats = gradients.scan(
                train_step, (tv, ntv, ov, x_all, y_all), (index, mask)
            )
            return tv, ntv, ov, stats

        def predict(tv, ntv, x):
            return model.stateless_call(tv, ntv, x, training=False)[0]

        def input_gradients(x, tv, ntv, y):
            # Sum of per-sample losses, so each row is that sample's own gradient.
            pred = model.stateless_call(tv, ntv, x, training=False)[0]
            return ops.sum(_per_sample_loss(self.loss_kind, pred, y))

        self.train_epoch = gradients.compile_fn(train_epoch)
        self.predict = gradients.compile_fn(predict)
        self.input_gradients = gradients.compile_fn(gradients.grad(input_gradients))
        self.state_jacobian_norms = None
        if registry.get_mode(run.mode).layout == "many":
            self.state_jacobian_norms = gradients.compile_fn(self._state_jacobian_fn())
        gate_fn = self._gate_means_fn(registry.get_cell(run.cell))
        self.gate_means = gradients.compile_fn(gate_fn) if gate_fn else None

    def _gate_means_fn(self, spec) -> Callable | None:
        """Mean activation of each gate over the probe batch, units and steps,
        for the layer that reads the model's input; None for ungated cells."""
        from zoo.modes import input_layer_name

        model = self.template
        layer = model.get_layer(input_layer_name(model))
        gates = spec.gate_fn(layer.cell)
        if gates is None or layer.input is not model.inputs[0]:
            return None
        cell = layer.cell
        sizes = list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]

        def means(tv, x):
            # The gate functions read the cell's variables; map them to tv.
            with keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, tv))):
                states = [ops.zeros((x.shape[0], s)) for s in sizes]
                totals: dict = {}
                for t in range(x.shape[1]):
                    for name, value in gates(x[:, t], states).items():
                        totals[name] = totals.get(name, 0.0) + ops.mean(value)
                    _, states = cell.call(x[:, t], states, training=False)
                    states = list(states) if isinstance(states, (list, tuple)) else [states]
                return {name: total / x.shape[1] for name, total in totals.items()}

        return means

    def _state_jacobian_fn(self) -> Callable:
        """Mean Frobenius norm of dh_T/dh_t by lag T - t, for the layer that reads the input.

        The hidden state is the cell's whole carried state (h, and c for an
        LSTM), since gradients through time flow through all of it. The
        Jacobian is chained one step at a time: dh_T/dh_t = dh_T/dh_{t+1} dh_{t+1}/dh_t.
        """
        from zoo.modes import input_layer_name

        model = self.template
        cell = model.get_layer(input_layer_name(model)).cell
        paths = [v.path for v in model.trainable_variables]
        cell_index = [paths.index(v.path) for v in cell.trainable_variables]
        sizes = list(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]
        splits = list(np.cumsum(sizes)[:-1])
        # Dropout seed state and the like: constant while probing.
        cell_constants = [v.value for v in cell.non_trainable_variables]

        def step(cell_vars, x_t, flat):
            states = ops.split(flat, splits, axis=-1) if splits else [flat]
            (_, new_states), _ = cell.stateless_call(cell_vars, cell_constants, x_t, list(states), training=False)
            new_states = new_states if isinstance(new_states, (list, tuple)) else [new_states]
            return ops.concatenate(list(new_states), axis=-1)

        def norms(tv, x):
            cell_vars = [tv[i] for i in cell_index]
            batch, steps = x.shape[0], x.shape[1]
            h = ops.zeros((batch, sum(sizes)))
            hidden = [h]
            for t in range(steps):
                h = step(cell_vars, x[:, t], h)
                hidden.append(h)
            chained = ops.broadcast_to(ops.eye(sum(sizes)), (batch, sum(sizes), sum(sizes)))
            out = [ops.mean(ops.sqrt(ops.sum(ops.square(chained), axis=(1, 2))))]
            for t in reversed(range(steps)):
                one_step = gradients.batch_jacobian(lambda s, t=t: step(cell_vars, x[:, t], s), hidden[t])
                chained = ops.matmul(chained, one_step)
                out.append(ops.mean(ops.sqrt(ops.sum(ops.square(chained), axis=(1, 2)))))
            return ops.stack(out)  # index = lag, 0..steps

        return norms


@lru_cache(maxsize=16)
def _engine_for(shape_key: tuple, run: RunConfig) -> Engine:
    return Engine(run)


def engine(run: RunConfig) -> Engine:
    return _engine_for(run.shape_key, run.__class__(run.cell, run.mode, 0, run.units, run.task, run.train))


# ----------------------------------------------------------------- one run


@dataclass
class RunResult:
    """Everything a run produced; ``zoo.store`` turns it into a run folder."""

    config: RunConfig
    history: pd.DataFrame  # a row per epoch
    gradients: pd.DataFrame  # a row per epoch x weight group
    probes: pd.DataFrame  # a row per probed epoch x lag
    gates: pd.DataFrame  # a row per probed epoch x gate (empty for ungated cells)
    predictions: pd.DataFrame  # test series: truth and prediction
    metrics: dict
    model_bytes: bytes

    @property
    def status(self) -> str:
        return self.metrics["status"]


def probe_epochs(epochs: int, probes: int) -> list[int]:
    """``probes`` epochs spread evenly from the first to the last."""
    return sorted({int(round(e)) for e in np.linspace(1, epochs, max(probes, 1))} | {1, epochs})


def decay_rate(lags: np.ndarray, norms: np.ndarray) -> float:
    """Slope of ln(norm) against lag, over lags >= 1: the per-step decay of dh_T/dh_t.

    Lag 0 is the identity and is left out. Negative means vanishing: the norm
    shrinks by a factor exp(rate) per step back in time.
    """
    keep = (lags >= 1) & np.isfinite(norms) & (norms > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(lags[keep], np.log(norms[keep]), 1)[0])


def _gate_rows(eng: Engine, epoch: int, tv, x) -> list[dict]:
    if eng.gate_means is None:
        return []
    return [{"epoch": epoch, "gate": k, "mean": float(v)} for k, v in sorted(eng.gate_means(tv, x).items())]


def _probe_rows(eng: Engine, epoch: int, tv, ntv, x, y) -> list[dict]:
    grads = np.asarray(eng.input_gradients(x, tv, ntv, y)).reshape(len(x), -1)
    window = grads.shape[1]
    dl_dx = np.sqrt(np.mean(grads**2, axis=0))[::-1]  # position w-1 is lag 0
    dh = np.asarray(eng.state_jacobian_norms(tv, x)) if eng.state_jacobian_norms else None
    lags = range(window + 1 if dh is not None else window)
    return [
        {
            "epoch": epoch,
            "lag": lag,
            "dL_dx": float(dl_dx[lag]) if lag < window else None,  # None: does not apply
            "dhT_dht": float(dh[lag]) if dh is not None else None,
        }
        for lag in lags
    ]


def _versions() -> dict:
    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "backend_version": __import__(keras.backend.backend()).__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


def train_run(run: RunConfig, on_epoch: Callable[[int, float], None] | None = None) -> RunResult:
    """Train one run and return its result. A NaN/inf loss ends it as ``diverged``."""
    started = time.perf_counter()
    task, train = run.task, run.train
    eng = engine(run)
    train_w, test_w = make_data(task, run.mode)

    keras.utils.set_random_seed(run.seed)
    model = build_model(run.cell, run.mode, run.units, task.window, task.horizon)
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    ov = optimizers.init_state(train, tv)

    n, batch = len(train_w.x), train.batch_size
    steps = -(-n // batch)  # the last, partial batch is masked, as Keras's fit would weigh it
    rng = np.random.default_rng(run.seed)
    x_all, y_all = ops.convert_to_tensor(train_w.x), ops.convert_to_tensor(train_w.y)
    probe_at = set(probe_epochs(train.epochs, train.probes))
    probe_index = np.linspace(0, n - 1, min(train.probe_batch, n)).astype(int)
    x_probe, y_probe = train_w.x[probe_index], train_w.y[probe_index]
    valid = np.arange(steps * batch) < n
    mask = valid.reshape(steps, batch).astype(np.float32)

    history, grad_rows, probe_rows, gate_rows = [], [], [], []
    status, diverged_epoch, diverged_in = "ok", None, None
    for epoch in range(1, train.epochs + 1):
        t0 = time.perf_counter()
        order = np.zeros(steps * batch, np.int32)
        order[:n] = rng.permutation(n)
        tv, ntv, ov, stats = eng.train_epoch(tv, ntv, ov, x_all, y_all, order.reshape(steps, batch), mask)
        loss, gnorm, group_norms, clipped = (np.asarray(s) for s in stats)
        train_seconds = time.perf_counter() - t0  # the compiled steps alone, results in hand
        weights = mask.sum(axis=1)
        epoch_loss = float(np.sum(loss * weights) / weights.sum())
        finite = np.isfinite(loss) & np.isfinite(gnorm)
        pred = np.asarray(eng.predict(tv, ntv, test_w.x))
        err = (pred - test_w.y).reshape(len(pred), -1)
        next_col = list(test_w.offsets).index(1)
        history.append(
            {
                "epoch": epoch,
                "loss": epoch_loss,
                "test_mae": float(np.mean(np.abs(err))),
                "test_mse": float(np.mean(err**2)),
                "test_mae_next": float(np.mean(np.abs(err[:, next_col]))),
                "grad_norm_mean": float(np.mean(gnorm[finite])) if finite.any() else np.nan,
                "grad_norm_max": float(np.max(gnorm[finite])) if finite.any() else np.nan,
                "nonfinite_steps": int((~finite).sum()),
                "clipped_steps": int(clipped.sum()),
                "steps": steps,
                "train_seconds": train_seconds,
                "seconds": time.perf_counter() - t0,  # with the test-set evaluation
            }
        )
        for g, name in enumerate(eng.groups):
            col = group_norms[:, g][finite]
            grad_rows.append(
                {
                    "epoch": epoch,
                    "group": name,
                    "norm_mean": float(col.mean()) if len(col) else np.nan,
                    "norm_max": float(col.max()) if len(col) else np.nan,
                }
            )
        checks = {"loss": epoch_loss, "test predictions": pred}
        if epoch in probe_at:
            new_probes = _probe_rows(eng, epoch, tv, ntv, x_probe, y_probe)
            new_gates = _gate_rows(eng, epoch, tv, x_probe)
            probe_rows += new_probes
            gate_rows += new_gates
            checks["probes"] = [v for row in new_probes for v in row.values() if v is not None]
            checks["gate activations"] = [row["mean"] for row in new_gates]
        bad = [what for what, values in checks.items() if not np.all(np.isfinite(values))]
        if bad:  # NaN/inf anywhere ends the run: a result, recorded with where it began
            status, diverged_epoch, diverged_in = "diverged", epoch, bad[0]
            break
        if on_epoch is not None:
            on_epoch(epoch, epoch_loss)

    for var, value in zip(model.trainable_variables, tv):
        var.assign(value)
    for var, value in zip(model.non_trainable_variables, ntv):
        var.assign(value)

    history = pd.DataFrame(history)
    probes = pd.DataFrame(probe_rows, columns=["epoch", "lag", "dL_dx", "dhT_dht"]).astype(
        {"dL_dx": float, "dhT_dht": float}
    )
    last = history.iloc[-1]
    final_probe = probes[probes.epoch == probes.epoch.max()] if len(probes) else probes
    metrics = {
        "status": status,
        "diverged_epoch": diverged_epoch,
        "diverged_in": diverged_in,
        "epochs_run": int(last.epoch),
        "loss": float(last.loss),
        "test_mae": float(last.test_mae),
        "test_mse": float(last.test_mse),
        "test_mae_next": float(last.test_mae_next),
        "params": int(model.count_params()),
        "steps": int(history.steps.sum()),
        "seconds": time.perf_counter() - started,
        "train_seconds": float(history.train_seconds.sum()),
        "decay_rate": decay_rate(final_probe.lag.to_numpy(), final_probe.dhT_dht.to_numpy())
        if len(final_probe)
        else float("nan"),
        "versions": _versions(),
    }
    return RunResult(
        config=run,
        history=history,
        gradients=pd.DataFrame(grad_rows),
        probes=probes,
        gates=pd.DataFrame(gate_rows, columns=["epoch", "gate", "mean"]),
        predictions=_predictions(test_w, pred),
        metrics=metrics,
        model_bytes=_model_bytes(model),
    )


def _predictions(windows: tasks.Windows, pred: np.ndarray) -> pd.DataFrame:
    k = len(windows.offsets)
    return pd.DataFrame(
        {
            "index": (windows.ends[:, None] + windows.offsets).ravel(),
            "offset": np.tile(windows.offsets, len(windows.ends)),
            "truth": windows.y.reshape(-1, k).ravel(),
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
