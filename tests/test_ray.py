"""The Ray executor against the local one, on a local Ray instance (num_cpus=2)."""

import sys

import pandas as pd
import pytest

from zoo import report
from zoo.core.config import ConfigError
from zoo.core.grid import expand
from zoo.runs import runner, store
from zoo.runs.executors import make_executor


def test_without_ray_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs Ray, which is not installed: pip install 'rnn-zoo\[ray\]'"):
        make_executor("ray", jobs=2)


def test_unknown_executor_names_the_choices():
    message = "unknown executor 'rey'; valid choices: local, ray \\(did you mean 'ray'\\?\\)"
    with pytest.raises(ConfigError, match=message):
        make_executor("rey", jobs=2)


def test_ray_and_local_executors_give_identical_results(tmp_path, tiny_runs):
    ray = pytest.importorskip("ray")
    grid, local_runs = tiny_runs  # trained by the local executor
    ray_runs = tmp_path / "ray"
    # One local Ray instance for both compares (the executor joins it, and leaves it running).
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        said = []
        outcome = runner.execute(grid, ray_runs, executor=make_executor("ray", jobs=2), say=said.append)
        assert outcome.trained == len(expand(grid)) and not outcome.failed
        ids = [run.run_id for run in expand(grid)]
        summaries = [report.load_runs(runs, ids).summary.drop(columns="seconds") for runs in (local_runs, ray_runs)]
        pd.testing.assert_frame_equal(*summaries)
        for run in expand(grid):
            a, b = (store.read_run(runs / run.run_id) for runs in (local_runs, ray_runs))
            timing = ["seconds", "train_seconds"]
            pd.testing.assert_frame_equal(a.history.drop(columns=timing), b.history.drop(columns=timing))
            pd.testing.assert_frame_equal(a.probes, b.probes)

        # Resume works as locally: finished runs are not sent again.
        again = runner.execute(grid, ray_runs, executor=make_executor("ray", jobs=2), say=said.append)
        assert again.trained == 0 and again.skipped == len(expand(grid))
        assert ray.is_initialized()  # a Ray this executor did not start is not its to stop
    finally:
        ray.shutdown()
