"""TensorBoard logs of the runs, for ``compare --tensorboard``: a view beside the report.

Each run gets ``runs/<run-id>/tensorboard/``: per-epoch loss and test metrics,
the global gradient norm and the norm of each weight group, the through-time
probes as an image per probed epoch and, per probed epoch, the scalars of the
one-step Jacobian's spectrum (top Lyapunov exponent, σ_max, σ_min, median σ) and
the per-step factor of ‖dh_T/dh_t‖ over lags 1-5, and an HParams session (cell, mode, seed,
settings). ``runs/`` itself gets the grid's HParams experiment, so the HParams
tab lists and compares every run. ``tensorboard --logdir runs`` shows them.

``Logs`` is what the runner is handed (``zoo.runs.runner.execute(view=...)``):
a run it has just stored comes from memory (``zoo.store.from_files``), never
read back from its folder; only runs stored by an earlier compare are read.
The logs are written by the driver with TensorBoard's protobufs and record
writer, so workers and TensorFlow play no part. Each log folder appears whole
(written aside, then renamed), like runs.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from zoo import store
from zoo.core.analysis import decay_factor
from zoo.core.config import ConfigError, RunConfig
from zoo.store.atomic import atomic_file, atomic_folder

INSTALL_HINT = "pip install 'rnn-zoo[tensorboard]' (in a checkout: make extras)"
LOG_DIR = store.TENSORBOARD
EXPERIMENT_FILE = store.TENSORBOARD_EXPERIMENT
# Settings shown as HParams columns beside cell, mode and seed.
HPARAM_SETTINGS = ("units", "task.window", "task.horizon", "train.epochs", "train.learning_rate",
                   "train.optimizer", "train.loss", "train.clipnorm", "train.global_clipnorm")
METRICS = {  # scalar tag -> what the HParams tab calls it
    "epoch/loss": "training loss",
    "epoch/test_mae": "test MAE",
    "gradients/global_norm_mean": "mean gradient norm",
    "probes/dh_factor_per_step": "‖dh_T/dh_t‖ factor per step (lags 1-5)",
    "probes/lyapunov_top": "top Lyapunov exponent (finite-time, most expanding direction)",
}
# probes.csv column -> scalar tag, one value per probed epoch (step = epoch; 0 = initial weights)
SPECTRUM_TAGS = {
    "lyapunov_top": "probes/lyapunov_top",
    "jac_sigma_max": "probes/jacobian_sigma_max",
    "jac_sigma_min": "probes/jacobian_sigma_min",
    "jac_sigma_median": "probes/jacobian_sigma_median",
}


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


def _probe_image(probes, epoch: int, title: str):
    """PNG of one probed epoch: dL/dx and ||dh_T/dh_t|| against lag, log scale."""
    from matplotlib.figure import Figure  # not pyplot: no backend is switched
    from tensorboard.compat.proto import summary_pb2

    rows = probes[probes.epoch == epoch]
    fig = Figure(figsize=(5, 3.2), dpi=100)
    ax = fig.subplots()
    for column, label in (("dL_dx", "RMS dL/dx_t"), ("dhT_dht", "‖dh_T/dh_t‖")):
        data = rows[["lag", column]].dropna()
        if len(data):
            ax.plot(data.lag, data[column], marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("lag T - t (steps back in time)")
    ax.set_ylabel("gradient norm")
    ax.set_title(f"{title}\nepoch {epoch}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    image = summary_pb2.Summary.Image(
        height=320, width=500, colorspace=4, encoded_image_string=buffer.getvalue()
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="probes/through_time", image=image)])


def _spectrum_scalars(rows) -> dict:
    """One probed epoch's spectrum scalars; none where the model has no state through time."""
    import math

    values = {tag: float(rows[col].iloc[0]) for col, tag in SPECTRUM_TAGS.items() if col in rows.columns}
    through = rows.dropna(subset=["dhT_dht"])
    if len(through):
        values["probes/dh_factor_per_step"] = decay_factor(through.lag.to_numpy(), through.dhT_dht.to_numpy())
    return {tag: v for tag, v in values.items() if math.isfinite(v)}


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
                values = {
                    "epoch/loss": row.loss,
                    "epoch/test_mae": row.test_mae,
                    "epoch/test_mse": row.test_mse,
                    "gradients/global_norm_mean": row.grad_norm_mean,
                    "gradients/global_norm_max": row.grad_norm_max,
                    "gradients/clipped_fraction": row.clipped_steps / row.steps,
                }
                groups = run.gradients[run.gradients.epoch == row.epoch]
                values.update({f"gradient_groups/{g.group}": g.norm_mean for g in groups.itertuples()})
                write(_scalars(values), step=int(row.epoch))
            title = f"{run.config.cell} {run.config.mode} seed {run.config.seed}"
            for epoch in sorted(run.probes.epoch.unique()):
                write(_probe_image(run.probes, int(epoch), title), step=int(epoch))
                spectrum = _spectrum_scalars(run.probes[run.probes.epoch == epoch])
                if spectrum:
                    write(_scalars(spectrum), step=int(epoch))
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
    metrics = [hp.Metric(tag, display_name=name) for tag, name in METRICS.items()]
    with atomic_file(Path(runs_dir) / EXPERIMENT_FILE) as tmp:
        f, write = _events_writer(tmp)
        with f:
            write(hp.hparams_config_pb(hparams=hparams, metrics=metrics))
