"""A fit that continues an earlier recorded fit of the same model (``ProbeCallback(runs=...)``):
one run whose epochs follow the earlier's, however fit numbered them; built from tables, no fit."""

import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

pytest.importorskip("keras")

from zoo.callback.run_folders import _continued_runs, continue_run  # noqa: E402
from zoo.core.config import RunConfig, TrainConfig  # noqa: E402
from zoo.store import RunResult  # noqa: E402


def _history(epochs, losses=None):
    losses = losses or [1.0 / e for e in epochs]
    return pd.DataFrame({"epoch": epochs, "loss": losses, "steps": 4, "train_seconds": 0.5})


def _probes(epochs):
    return pd.DataFrame({"epoch": [e for e in epochs for _ in (1, 2)], "lag": [1, 2] * len(epochs), "dhT_dht": 0.5})


EARLIER = SimpleNamespace(
    history=_history([1, 2]), probes=_probes([0, 1, 2]), gradients=pd.DataFrame(), gates=pd.DataFrame(),
    probe_tables={}, path=Path("runs/m.rnn-user_model-s0-aaaa"),
    metrics={"status": "ok", "seconds": 3.0, "probe_seconds": 1.0, "weights_start": "w0", "weights_end": "w2"})


def _later(epochs, losses=None, probed=None):
    metrics = {"status": "ok", "diverged_epoch": None, "seconds": 2.0, "probe_seconds": 0.5, "weights_start": "w2",
               "weights_end": "w4"}
    config = RunConfig(cell="m.rnn", mode="user_model", seed=0, train=TrainConfig(epochs=len(epochs), probes=2))
    return RunResult(config, _history(epochs, losses), pd.DataFrame(), _probes(probed or [0, *epochs]),
                     pd.DataFrame(), pd.DataFrame(), metrics, b"")


@pytest.mark.parametrize("epochs", [[1, 2], [3, 4], [2, 3, 4]], ids=["restarted", "initial_epoch=2",
                                                                      "initial_epoch=1"])
def test_the_later_epochs_follow_the_earlier_however_fit_numbered_them(epochs):
    run = continue_run(EARLIER, _later(epochs))
    assert list(run.history.epoch) == list(range(1, 3 + len(epochs)))  # no gap, no repeat
    assert sorted(set(run.probes.epoch)) == list(range(0, 3 + len(epochs)))  # the later start: the earlier end
    assert run.config.train.epochs == 2 + len(epochs) and run.config.train.probes == 2 + len(epochs)
    assert run.metrics["continues"] == EARLIER.path.name and run.metrics["weights_start"] == "w0"
    assert run.metrics["seconds"] == 5.0 and run.metrics["status"] == "ok"


def test_a_continuation_that_diverges_names_its_epoch_in_the_whole_run():
    later = dataclasses.replace(_later([1, 2, 3], losses=[0.5, math.inf, math.nan]),
                                metrics={**_later([1]).metrics, "status": "diverged", "diverged_epoch": 2})
    run = continue_run(EARLIER, later)
    assert (run.metrics["status"], run.metrics["diverged_epoch"]) == ("diverged", 4)


def test_an_unreadable_recorded_folder_is_said_not_skipped_silently(tmp_path):
    (tmp_path / "m.rnn-user_model-s0-bbbb").mkdir()  # a folder without its files
    with pytest.warns(UserWarning, match="if this fit continued it, it is recorded as a new run"):
        assert _continued_runs(tmp_path, ["m.rnn-user_model-s0-bbbb"], "w2") == {}
