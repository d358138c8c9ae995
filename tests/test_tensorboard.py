"""TensorBoard logs: what ``compare --tensorboard`` writes, read back with TensorBoard's reader."""

import dataclasses
import json
import shutil
import sys

import numpy as np
import pytest

from zoo import store
from zoo.core.config import ConfigError
from zoo.core.grid import expand
from zoo.core.probe_registry import KEYED_UNITS
from zoo.probes import get_probe, list_probes, run_table
from zoo.runs import runner
from zoo.views import tensorboard

pytest.importorskip("tensorboard")


def _accumulator(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(path), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


@pytest.mark.exhaustive
def test_each_run_gets_scalars_probe_images_and_an_hparams_session(tmp_path, tiny_runs):
    grid, stored = tiny_runs
    runs = tmp_path / "runs"
    shutil.copytree(stored, runs)
    # The runs are finished: the logs are written from the stored folders.
    outcome = runner.execute(grid, runs, jobs=1, say=lambda m: None, view=tensorboard.Logs())
    assert outcome.trained == 0
    _check_logs(grid, runs)


class _Replay:
    """An executor that sends back the files of runs stored elsewhere, as workers send a run's files."""

    def __init__(self, stored):
        self.stored = stored

    def map(self, configs, on_epoch):
        from zoo.runs.executors import Finished

        for config in configs:
            folder = self.stored / config.run_id
            files = {n: (folder / n).read_bytes() for n in store.written_files(folder)}
            metrics = json.loads(files["metrics.json"])
            for key in (store.CHECKSUMS, store.SELF_CHECKSUM):  # the store adds them as it writes
                del metrics[key]
            yield Finished(config, {**files, "metrics.json": json.dumps(metrics).encode()}, None)


@pytest.mark.exhaustive
def test_a_run_just_stored_reaches_the_logs_from_memory(tmp_path, tiny_runs, monkeypatch):
    """The runner hands the view each run it stores from the bytes in memory: no folder is read back."""
    grid, stored = tiny_runs
    grid = dataclasses.replace(grid, seeds=1)  # the first seed's runs: what is checked is each run's path
    runs = tmp_path / "runs"

    def no_reading(path):
        raise AssertionError(f"read back {path}")

    monkeypatch.setattr(store, "read_run", no_reading)
    outcome = runner.execute(grid, runs, executor=_Replay(stored), say=lambda m: None, view=tensorboard.Logs())
    assert outcome.trained == len(expand(grid))
    monkeypatch.undo()
    _check_logs(grid, runs)


def _check_logs(grid, runs):
    for run in expand(grid):
        acc = _accumulator(runs / run.run_id / "tensorboard")
        tags = acc.Tags()
        stored_run = store.read_run(runs / run.run_id)
        losses = [e.value for e in acc.Scalars("epoch/loss")]
        assert losses == pytest.approx(stored_run.history.loss.tolist(), rel=1e-6)
        # Every registered probe, as its declared unit says (zoo/views/tensorboard.py).
        lag_epochs = set()
        for name in list_probes():
            spec, table = get_probe(name), run_table(stored_run, name)
            if table is None or not len(table):
                assert not [t for t in tags["scalars"] + tags["images"] if t.startswith(f"probe/{name}")]
                continue
            if spec.unit == "lag":
                lag_epochs.update(table.epoch.unique())
                row = table[table.lag == table.lag.max()].iloc[-1]  # the oldest lag: always logged
                column = spec.columns[0]
                if np.isfinite(row[column]):
                    last = acc.Scalars(f"probe/{name}/{column}/lag_{int(row.lag):04d}")[-1]
                    assert (last.step, last.value) == (row.epoch, pytest.approx(row[column], rel=1e-6))
            else:
                row = table.iloc[-1]
                column = spec.columns[0]
                key = f"/{row[spec.unit]}" if spec.unit in KEYED_UNITS else ""
                if np.isfinite(row[column]):
                    last = acc.Scalars(f"probe/{name}/{column}{key}")[-1]
                    assert (last.step, last.value) == (row.epoch, pytest.approx(row[column], rel=1e-6))
            summary = spec.run_summary(table)
            numbers = {k: v for k, v in summary.items() if isinstance(v, float) and np.isfinite(v)}
            for column, value in numbers.items():
                event = acc.Scalars(f"summary/{name}/{column}")[-1]
                assert (event.step, event.value) == (stored_run.history.epoch.max(), pytest.approx(value, rel=1e-6))
        assert [e.step for e in acc.Images(tensorboard.LAG_IMAGE_TAG)] == sorted(lag_epochs)
        session = acc.PluginTagToContent("hparams")
        assert "_hparams_/session_start_info" in session
        assert run.cell.encode() in session["_hparams_/session_start_info"]
    experiment = _accumulator(runs).PluginTagToContent("hparams")
    assert "_hparams_/experiment" in experiment
    assert not list(runs.glob("**/.tensorboard-*"))


def test_without_tensorboard_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ConfigError, match=r"pip install 'rnn-zoo\[tensorboard\]'"):
        tensorboard.check_available()
