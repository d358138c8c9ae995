"""Fault injection: interrupt, kill and corrupt a real ``compare``, then check
that resuming ends with exactly the runs and report of an uninterrupted one.

Each fault strikes at a deterministic point (when the k-th run folder
appears, or while a worker holds a run), never after a random sleep, and each
test requires the behaviour it names (the retry happened, the stop was
prompt). Signals go only to processes the test started and their children.
"""

import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import cmdline, descendants, tiny_toml, workers

from zoo import store
from zoo.core.grid import expand
from zoo.core.loading import load_grid
from zoo.runs import runner
from zoo.runs.executors.local import LocalExecutor

CONFIG = tiny_toml(seeds=2, epochs=4)
# Wall-clock times, and where a run trained (a Ray worker and a local one see the devices differently).
TIMING = ("seconds", "train_seconds", "probe_seconds", "device")


def _compare(tmp: Path, name: str, wait=True, text=CONFIG):
    """Start ``python -m zoo compare`` on the small grid (or the grid ``text``), into ``tmp/name``.

    One worker: the runs after a fault point then train one after
    another, so a signal lands before the grid ends even when runs take a
    fraction of a second (and a second worker would only add its start-up).
    """
    config = tmp / f"{name}.toml"
    config.write_text(text)
    args = [sys.executable, "-m", "zoo", "compare", "--config", str(config), "--jobs", "1",
            "--runs", str(tmp / name / "runs"), "--reports", str(tmp / name / "reports")]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    # A process started in the background by a shell without job control (as CI
    # may start this suite) inherits SIGINT ignored, and Python then never turns
    # Ctrl-C into KeyboardInterrupt. The compare must see Ctrl-C as a user's does.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if wait:
        out, err = proc.communicate(timeout=300)
        return proc.returncode, out, err
    return proc


def snapshot(folder: Path) -> dict:
    """Everything a compare leaves, minus wall-clock times: runs and report tables."""
    snap = {}
    for run in sorted(p for p in (folder / "runs").iterdir() if not p.name.startswith(".")):
        stored = store.read_run(run)
        metrics = {k: v for k, v in stored.metrics.items() if k not in TIMING}
        snap[run.name] = (
            metrics,
            stored.history.drop(columns=["seconds", "train_seconds"]),
            stored.gradients,
            stored.probes,
            stored.predictions,
        )
    snap["summary"] = pd.read_csv(folder / "reports" / "summary.csv").drop(columns="seconds")
    assert not list((folder / "runs").glob(".*.tmp-*"))
    return snap


def run_folders(folder: Path) -> int:
    runs = folder / "runs"
    return sum(1 for p in runs.iterdir() if not p.name.startswith(".")) if runs.is_dir() else 0


def wait_for_runs(proc, folder: Path, new: int = 1, timeout: float = 120) -> None:
    """Block until ``proc`` has stored ``new`` more run folders in ``folder`` (the fault point)."""
    deadline, k = time.monotonic() + timeout, run_folders(folder) + new
    while run_folders(folder) < k:
        assert proc.poll() is None, f"compare ended before run folder {k} appeared: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"no run folder {k} after {timeout}s"
        time.sleep(0.02)


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if key == "summary":
            pd.testing.assert_frame_equal(a[key], b[key])
            continue
        assert a[key][0] == b[key][0], key
        for x, y in zip(a[key][1:], b[key][1:]):
            pd.testing.assert_frame_equal(x, y)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The uninterrupted compare every faulty one must end up equal to."""
    tmp = tmp_path_factory.mktemp("faults")
    started = time.monotonic()
    code, out, err = _compare(tmp, "clean")
    assert code == 0, err
    return tmp, snapshot(tmp / "clean"), time.monotonic() - started


@pytest.mark.exhaustive
def test_interrupted_then_killed_as_runs_land_then_resumed_equals_a_clean_run(clean):
    tmp, reference, _ = clean
    name = "killed"
    # Ctrl-C as the first run folder lands (the compare must stop within seconds and
    # take its worker with it); the resumed compare is then killed outright as its
    # first new run lands; a third runs to the end.
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = _compare(tmp, name, wait=False)
        wait_for_runs(proc, tmp / name)
        started_workers = workers(proc.pid)
        proc.send_signal(sig)
        started = time.monotonic()
        out, err = proc.communicate(timeout=120)
        assert run_folders(tmp / name) < 4, "the fault came after the grid had finished"
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert time.monotonic() - started < 10
            assert "run the same command again to resume" in err
            assert len(started_workers) == 1
            assert not [p for p in started_workers if Path(f"/proc/{p}").exists() and "multiprocessing" in cmdline(p)]
        else:
            assert proc.returncode == -signal.SIGKILL
            assert "1 finished already" in err or "2 finished already" in err  # the interrupted one's runs kept
    code, out, err = _compare(tmp, name)
    assert code == 0, err
    skipped = int(re.search(r"(\d+) finished already", err).group(1))
    assert 2 <= skipped < 4  # it resumed: the runs stored before the faults were kept
    assert_same(snapshot(tmp / name), reference)


@pytest.mark.exhaustive
def test_a_killed_worker_is_retried_and_the_result_is_the_same(tmp_path, isolated_registry, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_FAULT_DIR", str(tmp_path))
    importlib.reload(importlib.import_module("faulty_cells"))
    grid = _faulty_grid("held_once,simple_rnn")
    said: list[str] = []
    training = threading.Thread(
        target=runner.execute, args=(grid, tmp_path / "runs"), kwargs={"executor": LocalExecutor(2), "say": said.append}
    )
    training.start()
    deadline = time.monotonic() + 120
    while not (held := list(tmp_path.glob("held-*"))):  # the fault point: a worker holds held_once's run
        assert training.is_alive() and time.monotonic() < deadline, said
        time.sleep(0.02)
    pid = int(held[0].name.split("-")[1])
    assert pid in descendants(os.getpid())
    os.kill(pid, signal.SIGKILL)
    training.join(timeout=300)
    retried = "held_once many_to_one seed 0: worker process died (exit code -9); training it again"
    assert retried in capsys.readouterr().err
    # The retried run is the run trained without a fault (the held- file now lets it pass).
    runner.execute(grid, tmp_path / "clean", executor=LocalExecutor(2), say=lambda m: None)
    for run in expand(grid):
        faulted, clean = (store.read_run(tmp_path / runs / run.run_id) for runs in ("runs", "clean"))
        assert faulted.metrics["status"] == "ok"
        timing = ["seconds", "train_seconds"]
        pd.testing.assert_frame_equal(faulted.history.drop(columns=timing), clean.history.drop(columns=timing))
        pd.testing.assert_frame_equal(faulted.probes, clean.probes)


DAMAGES = ("truncate_csv", "bad_json", "truncate_model", "emptied")


def _damage(folder: Path, how: str) -> None:
    if how == "truncate_csv":
        text = (folder / "probes.csv").read_text()
        (folder / "probes.csv").write_text(text[: len(text) // 3])
    elif how == "bad_json":
        (folder / "config.json").write_text('{"cell": ')
    elif how == "truncate_model":
        data = (folder / "model.keras").read_bytes()
        (folder / "model.keras").write_bytes(data[: len(data) // 2])
    else:
        for f in folder.iterdir():
            f.unlink()


@pytest.mark.exhaustive
def test_corrupted_run_folders_are_named_and_retrained(clean):
    tmp, reference, _ = clean
    import shutil

    shutil.copytree(tmp / "clean", tmp / "corrupt")
    victims = sorted(p for p in (tmp / "corrupt" / "runs").iterdir() if not p.name.startswith("."))
    for folder, how in zip(victims, DAMAGES, strict=True):
        _damage(folder, how)
    code, out, err = _compare(tmp, "corrupt")
    assert code == 0, err
    for folder in victims:
        assert f"damaged run folder, training it again: {folder}" in err
    assert f"{len(DAMAGES)} to train" in err
    assert_same(snapshot(tmp / "corrupt"), reference)


@pytest.mark.exhaustive
def test_two_compares_at_once_one_refuses_and_nothing_is_corrupted(clean):
    tmp, reference, _ = clean
    first = _compare(tmp, "concurrent", wait=False)
    time.sleep(0.3)
    second = _compare(tmp, "concurrent", wait=False)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    refusals = [err for (_, err) in outs if "is in use by another compare (pid" in err]
    assert codes == [0, 1] and len(refusals) == 1
    assert_same(snapshot(tmp / "concurrent"), reference)


def _faulty_grid(cells):
    return load_grid(None, cells=cells, modes="many_to_one", seeds=1, epochs=2, units=4)


@pytest.mark.exhaustive
def test_a_run_whose_worker_always_dies_fails_and_the_rest_finish(tmp_path, isolated_registry, monkeypatch):
    monkeypatch.setenv("ZOO_FAULT_DIR", str(tmp_path))
    importlib.reload(importlib.import_module("faulty_cells"))
    grid = _faulty_grid("always_dies,dies_once,simple_rnn")
    said = []
    outcome = runner.execute(grid, tmp_path / "runs", executor=LocalExecutor(2), say=said.append)
    assert len(outcome.failed) == 1 and outcome.failed[0].startswith("always_dies")
    assert "worker process died (exit code -9), 2 times" in outcome.failed[0]
    for run in expand(grid):
        metrics = json.loads((tmp_path / "runs" / run.run_id / "metrics.json").read_text())
        assert metrics["status"] == ("failed" if run.cell == "always_dies" else "ok")
    assert (tmp_path / "died").exists()  # dies_once did die, and its retry trained
