"""TensorBoard logs of the runs, for ``compare --tensorboard``: a view beside the report.

Each run gets ``runs/<run-id>/tensorboard/``: per epoch, the loss, the test
metrics and the global gradient norm (the run's history), and an HParams session
(cell, mode, seed, settings). Every registered probe (``zoo.probes``) is written
as its declared unit says, with no probe known here by name: a per-epoch column
is the scalar ``probe/<probe>/<column>``; a keyed one (a gate, a weight group)
``probe/<probe>/<column>/<key>``; a per-lag one the scalars ``probe/<probe>/<column>/lag_<k>``
at lags 1, 2, 5, 10, 20, 50, ... and the oldest, and the per-lag tables one image
``probe/by_lag`` per probed epoch, a row per probe and a panel per column against
the lag; and the probe's run summary
(its ``summarize``) the scalars ``summary/<probe>/<column>`` at the last epoch.
``runs/`` itself gets the grid's HParams experiment, so the HParams tab lists
and compares every run by those summaries. ``tensorboard --logdir runs`` shows
them.

``Logs`` is what the runner is handed (``zoo.runs.runner.execute(view=...)``):
a run it has just stored comes from memory (``zoo.store.from_files``), never
read back from its folder; only runs stored by an earlier compare are read.
The logs are written by the driver with TensorBoard's protobufs and record
writer, so workers and TensorFlow play no part. Each log folder appears whole
(written aside, then renamed), like runs.
"""

from __future__ import annotations

import io
import math
import os
import time
from pathlib import Path

from zoo import probes as probe_folders
from zoo import store
from zoo.core.config import ConfigError, RunConfig
from zoo.core.probe_registry import KEYED_UNITS
from zoo.store.atomic import atomic_file, atomic_folder

INSTALL_HINT = "pip install 'rnn-zoo[tensorboard]' (in a checkout: make extras)"
LOG_DIR = store.TENSORBOARD
EXPERIMENT_FILE = store.TENSORBOARD_EXPERIMENT
# Settings shown as HParams columns beside cell, mode and seed.
HPARAM_SETTINGS = ("units", "task.window", "task.horizon", "train.epochs", "train.learning_rate",
                   "train.optimizer", "train.loss", "train.clipnorm", "train.global_clipnorm")
LAG_IMAGE_TAG = "probe/by_lag"  # the per-lag probes of a probed epoch, one image
HISTORY_METRICS = {  # scalar tag -> what the HParams tab calls it; the probes' summaries follow
    "epoch/loss": "training loss",
    "epoch/test_mae": "test MAE",
    "gradients/global_norm_mean": "mean gradient norm",
}


def hparams_metrics() -> dict:
    """The HParams tab's metrics: the history's, then every registered probe's numeric summary columns."""
    found = dict(HISTORY_METRICS)
    for name in probe_folders.list_probes():
        spec = probe_folders.get_probe(name)
        for column in spec.summary:
            found[f"summary/{name}/{column}"] = f"{name}: {column}"
    return found


def check_available(flag: str = "--") -> None:
    """Fail before any work if TensorBoard is not installed; ``flag`` as in ``zoo.api.compare_outcome``."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        asked = "--tensorboard" if flag else "tensorboard=True"
        raise ConfigError(f"{asked} needs TensorBoard, which is not installed: {INSTALL_HINT}") from None


def hparams_of(config: RunConfig) -> dict:
    settings = config.settings()
    values = {"cell": config.cell, "mode": config.mode, "seed": config.seed}
    for key in HPARAM_SETTINGS:
        if key not in settings:  # a setting of the sine task only (window, horizon)
            continue
        value = settings[key]
        # One type per column: clipping is "none" or a number, so it is text.
        values[key.rpartition(".")[2]] = "none" if value is None else (str(value) if "clip" in key else value)
    return values


def _events_writer(path: Path):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    f = open(path, "wb")
    writer = RecordWriter(f)

    def write(summary=None, step: int = 0, **fields) -> None:
        event = event_pb2.Event(wall_time=time.time(), step=step, summary=summary, **fields)
        writer.write(event.SerializeToString())

    write(file_version="brain.Event:2")
    return f, write


def _scalars(values: dict):
    from tensorboard.compat.proto import summary_pb2

    return summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()]
    )


def _finite(values: dict) -> dict:
    return {tag: float(v) for tag, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def _lag_image(tables: list, epoch: int, title: str):
    """PNG of one probed epoch's per-lag probes: a row per probe, a panel per declared column against
    the lag (a log scale where the column is positive). One figure per epoch, as drawing is what costs."""
    from matplotlib.figure import Figure  # not pyplot: no backend is switched
    from tensorboard.compat.proto import summary_pb2

    columns = max(len(spec.columns) for spec, _ in tables)
    width, height = 3.2 * columns, 0.4 + 2.5 * len(tables)
    fig = Figure(figsize=(width, height), dpi=100)
    grid = fig.subplots(len(tables), columns, squeeze=False)
    for row, (spec, rows) in zip(grid, tables):
        for ax, column in zip(row, spec.columns):
            data = rows[["lag", column]].dropna()
            ax.plot(data.lag, data[column], marker="o", markersize=3)
            if len(data) and (data[column] > 0).all():
                ax.set_yscale("log")
            ax.set_xlabel("lag T - t (steps back)", fontsize=8)
            ax.set_title(f"{spec.name}: {column}", fontsize=9)
        for ax in row[len(spec.columns):]:
            ax.set_visible(False)
    fig.suptitle(f"{title}, epoch {epoch}", fontsize=9)
    # Margins in inches, fixed: tight_layout measured every label first and doubled the drawing's time.
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.2 / width, bottom=0.5 / height, top=1 - 0.6 / height,
                        hspace=0.45, wspace=0.45)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    image = summary_pb2.Summary.Image(height=int(height * 100), width=int(width * 100), colorspace=4,
                                      encoded_image_string=buffer.getvalue())
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=LAG_IMAGE_TAG, image=image)])


def _probe_summaries(run: store.StoredRun, title: str):
    """(step, summary) for every registered probe's table in ``run``, as the probe's unit says."""
    tables = {name: probe_folders.run_table(run, name) for name in probe_folders.list_probes()}
    tables = {name: table for name, table in tables.items() if table is not None and len(table)}
    yield from epoch_summaries(tables, title)
    summary = run_summary(tables)
    if summary is not None:
        yield int(run.history.epoch.max()) if len(run.history) else 0, summary


def logged_lags(oldest: int) -> list[int]:
    """The lags a per-lag probe is logged at as scalars: 1, 2, 5, 10, 20, 50, ... and the oldest."""
    lags, scale = [], 1
    while scale <= oldest:
        lags += [k * scale for k in (1, 2, 5) if k * scale <= oldest]
        scale *= 10
    return sorted(set(lags) | {oldest})


def epoch_summaries(tables: dict, title: str, images: bool = True):
    """(step, summary) for each epoch of registered probes' tables (by probe name): a per-epoch or keyed
    column's scalars; a per-lag column's scalars at the ``logged_lags`` (``.../lag_0005``), to follow
    through the epochs, and, with ``images``, the per-lag tables as one image per epoch. A run's, or
    one layer's of a fit."""
    by_lag: dict[int, list] = {}  # epoch -> (spec, rows) of each per-lag probe: one image per epoch
    for name, table in tables.items():
        spec = probe_folders.get_probe(name)
        for epoch, rows in table.groupby("epoch"):
            if spec.unit == "lag":
                by_lag.setdefault(int(epoch), []).append((spec, rows))
                at = rows.set_index("lag")
                values = {f"probe/{name}/{column}/lag_{lag:04d}": at[column].get(lag)
                          for lag in logged_lags(int(at.index.max())) if lag in at.index for column in spec.columns}
            else:
                keyed = spec.unit in KEYED_UNITS
                values = {f"probe/{name}/{column}" + (f"/{getattr(row, spec.unit)}" if keyed else ""):
                          getattr(row, column) for row in rows.itertuples() for column in spec.columns}
            if _finite(values):
                yield int(epoch), _scalars(_finite(values))
    for epoch, lag_tables in sorted(by_lag.items()) if images else ():
        yield epoch, _lag_image(lag_tables, epoch, title)


def run_summary(tables: dict):
    """The scalars ``summary/<probe>/<column>`` of each probe's run summary (its ``summarize``), or None."""
    summary = {}
    for name, table in tables.items():
        spec = probe_folders.get_probe(name)
        summary.update(_finite({f"summary/{name}/{k}": v for k, v in spec.run_summary(table).items()}))
    return _scalars(summary) if summary else None


class Logs:
    """The view the runner keeps up to date (``zoo.runs.runner.RunsView``)."""

    def grid(self, runs_dir: Path, runs: list[RunConfig], done: list[RunConfig]) -> None:
        """The grid's HParams experiment, and the logs of its runs stored before this compare."""
        write_experiment(runs_dir, runs)
        for run in done:
            write_stored_logs(Path(runs_dir) / run.run_id)

    def stored(self, run: store.StoredRun) -> None:
        """The logs of a run just stored, from memory."""
        write_run_logs(run)


def write_stored_logs(folder: Path) -> bool:
    """Write ``folder/tensorboard/`` from the stored run, read from its folder; False if the logs exist."""
    if (Path(folder) / LOG_DIR).exists():
        return False  # not read at all
    return write_run_logs(store.read_run(folder))


def write_run_logs(run: store.StoredRun) -> bool:
    """Write ``run.path/tensorboard/`` from ``run``; returns False if it exists already."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    target = Path(run.path) / LOG_DIR
    if target.exists() or run.metrics.get("status") == "failed":
        return False
    with atomic_folder(target) as tmp:
        f, write = _events_writer(tmp / f"events.out.tfevents.{int(time.time())}.rnn-zoo")
        with f:
            write(hp.hparams_pb(hparams_of(run.config), trial_id=run.config.run_id))
            for row in run.history.itertuples():
                write(_scalars({
                    "epoch/loss": row.loss,
                    "epoch/test_mae": row.test_mae,
                    "epoch/test_mse": row.test_mse,
                    "gradients/global_norm_mean": row.grad_norm_mean,
                    "gradients/global_norm_max": row.grad_norm_max,
                    "gradients/clipped_fraction": row.clipped_steps / row.steps,
                }), step=int(row.epoch))
            title = f"{run.config.cell} {run.config.mode} seed {run.config.seed}"
            for step, summary in _probe_summaries(run, title):
                write(summary, step=step)
            f.flush()
            os.fsync(f.fileno())
    return True


def write_experiment(runs_dir: Path, configs: list[RunConfig]) -> None:
    """The HParams experiment of a grid: its columns and their values, and the metrics."""
    from tensorboard.plugins.hparams import summary_v2 as hp

    columns: dict[str, set] = {}
    for config in configs:
        for key, value in hparams_of(config).items():
            columns.setdefault(key, set()).add(value)
    hparams = [hp.HParam(key, hp.Discrete(sorted(values))) for key, values in columns.items()]
    metrics = [hp.Metric(tag, display_name=name) for tag, name in hparams_metrics().items()]
    with atomic_file(Path(runs_dir) / EXPERIMENT_FILE) as tmp:
        f, write = _events_writer(tmp)
        with f:
            write(hp.hparams_config_pb(hparams=hparams, metrics=metrics))
