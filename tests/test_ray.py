"""The Ray executor against the local one, on a local Ray instance (num_cpus=2)."""

import os
import signal
import sys
import threading
import time

import pandas as pd
import pytest
from conftest import cmdline, descendants

from zoo import report, store
from zoo.core.config import ConfigError
from zoo.core.grid import expand
from zoo.runs import runner
from zoo.runs.executors import make_executor


def test_without_ray_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs Ray, which is not installed: pip install 'rnn-zoo\[ray\]'"):
        make_executor("ray", jobs=2)


def test_unknown_executor_names_the_choices():
    message = "unknown executor 'rey'; valid choices: local, ray \\(did you mean 'ray'\\?\\)"
    with pytest.raises(ConfigError, match=message):
        make_executor("rey", jobs=2)


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module's compares (the executor joins it, and leaves it running)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def assert_same_runs(grid, a_runs, b_runs):
    for run in expand(grid):
        a, b = (store.read_run(runs / run.run_id) for runs in (a_runs, b_runs))
        assert b.metrics["status"] == "ok"
        timing = ["seconds", "train_seconds"]
        pd.testing.assert_frame_equal(a.history.drop(columns=timing), b.history.drop(columns=timing))
        pd.testing.assert_frame_equal(a.probes, b.probes)


@pytest.mark.exhaustive
def test_ray_and_local_executors_give_identical_results(tmp_path, tiny_runs, ray_instance):
    grid, local_runs = tiny_runs  # trained by the local executor
    ray_runs = tmp_path / "ray"
    said = []
    outcome = runner.execute(grid, ray_runs, executor=make_executor("ray", jobs=2), say=said.append)
    assert outcome.trained == len(expand(grid)) and not outcome.failed
    ids = [run.run_id for run in expand(grid)]
    summaries = [report.load_runs(runs, ids).summary.drop(columns="seconds") for runs in (local_runs, ray_runs)]
    pd.testing.assert_frame_equal(*summaries)
    assert_same_runs(grid, local_runs, ray_runs)

    # Resume works as locally: finished runs are not sent again.
    again = runner.execute(grid, ray_runs, executor=make_executor("ray", jobs=2), say=said.append)
    assert again.trained == 0 and again.skipped == len(expand(grid))
    assert ray_instance.is_initialized()  # a Ray this executor did not start is not its to stop


@pytest.mark.exhaustive
def test_a_killed_ray_worker_is_retried_by_ray_and_the_result_is_the_same(tmp_path, tiny_runs, ray_instance):
    grid, local_runs = tiny_runs
    said: list[str] = []
    training = threading.Thread(target=runner.execute, args=(grid, tmp_path / "ray"),
                                kwargs={"executor": make_executor("ray", jobs=2), "say": said.append})
    training.start()
    deadline, killed = time.monotonic() + 90, None
    while killed is None and training.is_alive():
        assert time.monotonic() < deadline, said
        time.sleep(0.01)
        # This process started the Ray instance, so Ray's workers are its descendants; signal no other.
        tasks = [p for p in descendants(os.getpid()) if "ray::_train" in cmdline(p)]
        if tasks:
            try:
                os.kill(tasks[0], signal.SIGKILL)
                killed = tasks[0]
            except ProcessLookupError:
                continue  # that task had just finished; catch the next one
    training.join(timeout=300)
    assert killed is not None, said
    assert_same_runs(grid, local_runs, tmp_path / "ray")
