import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import tiny_grid

from zoo import report, store
from zoo.core.grid import expand
from zoo.runs import runner


@pytest.mark.slow
def test_tiny_compare_writes_runs_and_a_summary(tmp_path, tiny_compare):
    grid, runs, outcome = tiny_compare  # the session's compare, which the tests that read runs share
    n = len(expand(grid))
    assert outcome.trained == n == 8 and outcome.skipped == 0 and not outcome.failed
    stored = sorted(p.name for p in runs.iterdir() if not p.name.startswith("."))
    assert stored == sorted(r.run_id for r in expand(grid))
    results = report.build(runs, tmp_path / "reports", compared=grid.name)
    summary = pd.read_csv(tmp_path / "reports" / "summary.csv")
    assert len(summary) == 4 and set(summary.ok) == {2}
    pd.testing.assert_frame_equal(summary, results.summary, check_dtype=False)
    for name in ("summary.md", "epochs.csv", "loss_curves.png", "gradient_norms.png"):
        assert (tmp_path / "reports" / name).stat().st_size > 0


@pytest.mark.slow
def test_resume_skips_finished_runs_and_retrains_damaged_ones(tmp_path, tiny_runs):
    grid, stored = tiny_runs  # a finished compare, copied: the resume trains only what it must
    runs = tmp_path / "runs"
    shutil.copytree(stored, runs)
    n = len(expand(grid))
    said = []
    again = runner.execute(grid, runs, jobs=1, say=said.append)
    assert again.trained == 0 and again.skipped == n
    assert f"{n} finished already (skipped), 0 to train" in said[-1]

    victim = runs / expand(grid)[1].run_id
    (victim / "metrics.json").write_text("{")
    said.clear()
    third = runner.execute(grid, runs, jobs=1, say=said.append)
    assert third.trained == 1 and third.skipped == n - 1
    assert any("damaged" in m and victim.name in m for m in said)
    store.read_run(victim)


@pytest.mark.slow
def test_a_failing_run_is_recorded_and_the_grid_goes_on(tmp_path, isolated_registry):
    import importlib

    importlib.reload(importlib.import_module("faulty_cells"))  # registers into this test's registry copy
    grid = tiny_grid(cells=("always_raises", "simple_rnn"), modes=("many_to_one",))
    outcome = runner.execute(grid, tmp_path / "runs", jobs=1, say=lambda m: None)
    assert len(outcome.failed) == 1 and "RuntimeError: injected" in outcome.failed[0]
    assert outcome.trained == 2
    summary = report.build(tmp_path / "runs", tmp_path / "reports", compared=grid.name).summary
    assert summary.set_index("cell").loc["always_raises", "failed"] == 1
    assert summary.set_index("cell").loc["simple_rnn", "ok"] == 1


@pytest.mark.exhaustive  # two worker processes, each importing Keras and compiling its runs
def test_results_do_not_depend_on_jobs(tmp_path, tiny_runs):
    from dataclasses import replace

    grid, serial_runs = tiny_runs
    grid = replace(grid, seeds=1)  # seed 0 of each run, as trained alone: 4 runs, 2 at a time
    runner.execute(grid, tmp_path, jobs=2, say=lambda m: None)
    assert len(expand(grid)) == 4
    for run in expand(grid):
        a = store.read_run(serial_runs / run.run_id).history.drop(columns=["seconds", "train_seconds"])
        b = store.read_run(tmp_path / run.run_id).history.drop(columns=["seconds", "train_seconds"])
        pd.testing.assert_frame_equal(a, b)


def test_a_second_runner_on_the_same_runs_is_refused(tmp_path):
    with runner.runs_lock(tmp_path):
        with pytest.raises(runner.RunnerBusyError, match="in use by another compare"):
            runner.execute(tiny_grid(), tmp_path, jobs=1, say=lambda m: None)


def test_stale_temporary_folders_are_cleaned(tmp_path, tiny_runs):
    grid, stored = tiny_runs  # a finished compare, copied: the cleaning comes first, whatever is left to train
    runs = tmp_path / "runs"
    shutil.copytree(stored, runs)
    (runs / ".gru-x.tmp-1234abcd").mkdir()  # what a run killed mid-write leaves
    (runs / "notes.tmp").write_text("mine")  # a user's file is not ours to remove
    runner.execute(grid, runs, jobs=1, say=lambda m: None)
    assert not list(runs.glob(".*.tmp-*"))
    assert (runs / "notes.tmp").read_text() == "mine"


@pytest.mark.slow
def test_a_full_disk_stops_with_a_clear_error_and_keeps_finished_runs(tmp_path, monkeypatch):
    import errno

    grid = tiny_grid(cells=("simple_rnn",), modes=("many_to_one",), seeds=3)
    real, written = store.write_bytes, []

    def filling(path, data):
        if len(written) >= 2 * len(store.FILES):  # the third run finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        if Path(path).name in store.FILES:  # run folders' files, not the grid record
            written.append(path)
        real(path, data)

    monkeypatch.setattr(store, "write_bytes", filling)
    with pytest.raises(store.StorageError, match="No space left on device; the runs stored before it are intact"):
        runner.execute(grid, tmp_path, jobs=1, say=lambda m: None)
    finished = [r for r in expand(grid) if (tmp_path / r.run_id).exists()]
    assert len(finished) == 2 and not list(tmp_path.glob(".*.tmp-*"))
    for run in finished:
        store.read_run(tmp_path / run.run_id)


def test_the_eta_waits_for_a_finished_run_then_follows_the_pace(monkeypatch):
    """The first epoch's time is mostly starting and compiling, a cost per run: no ETA from it."""
    todo = expand(tiny_grid())  # 4 runs of 2 epochs: 8 epochs in all
    clock = iter([0.0, 100.0])
    monkeypatch.setattr(runner.time, "monotonic", lambda: next(clock))
    progress = runner.Progress(todo, stream=io.StringIO())  # started at 0 s
    progress.epoch(todo[0].run_id, 1, 0.5)
    assert progress.eta() == "after the first run"
    progress.run_done(todo[0], None, "a test's failure")  # 2 of 8 epochs done
    assert progress.eta() == "5m00s"  # at 100 s for 2 epochs, 6 epochs are 300 s
