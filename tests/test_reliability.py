"""What a cluster, a second version and a careless user do to a compare (issue 24).

Each test makes the fault for real (a planted symbolic link, a flipped bit, a
SIGTERM to a running compare, a cell that hangs, a read-only folder, two
reports at once, a script without the main guard, a damaged compile-cache
entry, a closed pipe) and requires the behaviour the README promises.
Signals go only to processes the test started and their children.
"""

import contextlib
import importlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cmdline, descendants, tiny_grid, tiny_toml, workers

from zoo import cli, new_cell, store
from zoo.core.config import COMPILE_CACHE
from zoo.core.grid import expand
from zoo.core.loading import load_grid
from zoo.runs import runner
from zoo.runs.executors.local import LocalExecutor

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "KERAS_BACKEND": "jax",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def _zoo(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *map(str, args)], capture_output=True, text=True, env=ENV,
                          timeout=300, **kwargs)


def _copy_runs(tiny_runs, tmp_path: Path) -> Path:
    _, stored = tiny_runs
    runs = tmp_path / "runs"
    shutil.copytree(stored, runs)
    return runs


def _tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` made unwritable for real, even for root (which ignores modes): the immutable flag."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode != 0:
        pytest.skip("running as root where chattr +i is not available: no way to make a folder read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


# ------------------------------------------------------------------ 1. never write through what is not ours


@pytest.mark.exhaustive
def test_a_lock_planted_as_a_link_is_refused_and_its_target_untouched(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("a week of notes")
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / ".lock").symlink_to("../notes.txt")
    (tmp_path / "tiny.toml").write_text(tiny_toml())
    done = _zoo("compare", "--config", tmp_path / "tiny.toml", "--runs", runs, "--reports", tmp_path / "reports")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {runs / '.lock'} is not the pid file rnn-zoo writes there (a symbolic link to ../notes.txt); "
        "rnn-zoo never writes through it: remove or rename it, or pass another --runs folder"
    ]
    assert notes.read_text() == "a week of notes" and (runs / ".lock").is_symlink()
    assert sorted(p.name for p in runs.iterdir()) == [".lock"]  # and nothing trained


def test_a_lock_that_is_a_folder_is_one_line(tmp_path):
    runs = tmp_path / "runs"
    (runs / ".lock").mkdir(parents=True)
    with pytest.raises(runner.RunnerBusyError, match=r"\.lock is not the pid file rnn-zoo writes there \(a folder\)"):
        with runner.runs_lock(runs):
            pass
    assert (runs / ".lock").is_dir()


def test_deleting_the_lock_file_does_not_let_a_second_compare_in(tmp_path):
    runs = tmp_path / "runs"
    second = ("import sys\nfrom zoo.runs import runner\ntry:\n    with runner.runs_lock(sys.argv[1]):\n"
              "        print('entered')\nexcept runner.RunnerBusyError as exc:\n    print(exc)\n")
    with runner.runs_lock(runs):
        assert (runs / ".lock").read_text() == str(os.getpid())
        (runs / ".lock").unlink()  # what a careless `rm runs/.lock` does during a compare
        done = subprocess.run([sys.executable, "-c", second, str(runs)], capture_output=True, text=True, env=ENV,
                              timeout=120)
    assert done.stdout.strip() == (f"{runs} is in use by another compare (pid unknown); "
                                   "wait for it to finish or pass another --runs folder"), done.stderr
    with runner.runs_lock(runs):  # released: the next one gets in
        pass


def _add_field(path: Path, where: tuple, field: str = "from_the_future") -> None:
    data = json.loads(path.read_text())
    node = data
    for key in where:
        node = node[key]
    node[field] = 1
    path.write_text(json.dumps(data, indent=2))


@pytest.mark.exhaustive
def test_another_versions_run_folder_and_grid_record_are_left_alone(tiny_runs, tmp_path, capsys):
    grid, _ = tiny_runs
    runs = _copy_runs(tiny_runs, tmp_path)
    newer, top = expand(grid)[:2]
    _add_field(runs / newer.run_id / "config.json", ("train",))  # as a newer version writes a new setting
    _add_field(runs / top.run_id / "config.json", ())
    _add_field(runs / store.GRIDS / "default.json", ("grid", "train"))
    before = _tree(runs)
    said = []
    # A compare of the grid: neither folder is called damaged, deleted or trained over.
    outcome = runner.execute(grid, runs, say=said.append)
    assert (outcome.trained, outcome.skipped) == (0, len(expand(grid)) - 2)
    for run, field in ((newer, "train.from_the_future"), (top, "from_the_future")):
        assert (f"run folder not trained: {runs / run.run_id}: written by another version of rnn-zoo "
                f"(config.json has {field}, unknown to this one); left alone") in "\n".join(said)
    assert not any("damaged" in line for line in said)
    after = _tree(runs)
    # Neither the grid records nor the pid file every compare writes its own pid into (the copied one
    # holds the pid of the process that trained the session's tiny runs, maybe another pytest worker).
    ours = (".grids", ".lock")
    assert ({k: v for k, v in after.items() if not k.startswith(ours)}
            == {k: v for k, v in before.items() if not k.startswith(ours)})
    # The report of another version's grid record: one line each, no traceback.
    _add_field(runs / store.GRIDS / "default.json", ("grid", "train"))
    reports = tmp_path / "reports"
    assert cli.main(["report", "--runs", str(runs), "--reports", str(reports)]) == 0
    err = capsys.readouterr().err
    assert f"grid record {runs / store.GRIDS / 'default.json'}: not readable by this version of rnn-zoo" in err
    assert (reports / "index.html").is_file()


# ------------------------------------------------------------------ 2. every stored file is verified


def _flip_a_digit_bit(path: Path) -> None:
    """Flip the lowest bit of a digit past the header (1 <-> 0, 2 <-> 3...): same length, same line count.
    Not a number's first digit, so the file still parses (JSON refuses 12 -> 02) and only its checksum tells."""
    data = bytearray(path.read_bytes())
    start = data.index(b"\n") + 1 if path.suffix == ".csv" else len(data) // 2
    at = next(i for i in range(start, len(data)) if chr(data[i]).isdigit() and chr(data[i - 1]) in "0123456789.")
    data[at] ^= 1
    path.write_bytes(bytes(data))


FLIPPED = ("history.csv", "gradients.csv", "gates.csv", "probes.csv", "predictions.csv", "metrics.json", "model.keras")


@pytest.mark.exhaustive
def test_a_flipped_bit_in_any_file_is_named_left_out_and_retrained(tiny_runs, tmp_path):
    grid, _ = tiny_runs
    runs = _copy_runs(tiny_runs, tmp_path)
    gated = next(r for r in expand(grid) if r.cell == "gru")  # a SimpleRNN has no gates to record
    others = [r for r in expand(grid) if r != gated]
    victims = {"gates.csv": gated, **dict(zip([f for f in FLIPPED if f != "gates.csv"], others, strict=False))}
    for name, run in victims.items():
        path = runs / run.run_id / name
        if name == "model.keras":
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 1  # inside the archive: its zip directory still reads
            path.write_bytes(bytes(data))
        else:
            _flip_a_digit_bit(path)
    assert len(set(victims.values())) == len(victims)
    # `zoo report`: each named, left out, no traceback.
    done = _zoo("report", "--runs", runs, "--reports", tmp_path / "reports")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name, run in victims.items():
        assert (f"damaged run folder, left out: {runs / run.run_id}: {name} does not match its checksum "
                "(changed after it was written)") in done.stderr
    # The next compare trains exactly these again.
    p = runner.plan(grid, runs)
    assert sorted(r.run_id for r in p.todo) == sorted(r.run_id for r in victims.values())
    assert len(p.damaged) == len(victims)


def test_a_run_without_checksums_from_before_them_still_reads(tiny_runs, tmp_path):
    grid, _ = tiny_runs
    runs = _copy_runs(tiny_runs, tmp_path)
    run = expand(grid)[0]
    metrics = json.loads((runs / run.run_id / "metrics.json").read_text())
    del metrics[store.CHECKSUMS], metrics[store.SELF_CHECKSUM]
    (runs / run.run_id / "metrics.json").write_text(json.dumps(metrics))
    assert store.is_finished(runs, run)
    assert store.read_run(runs / run.run_id).metrics["status"] == "ok"


# ------------------------------------------------------------------ 3. signals and hangs


def _compare(tmp: Path, name: str, text: str) -> subprocess.Popen:
    (tmp / f"{name}.toml").write_text(text)
    args = [sys.executable, "-m", "zoo", "compare", "--config", str(tmp / f"{name}.toml"), "--jobs", "1",
            "--runs", str(tmp / name / "runs"), "--reports", str(tmp / name / "reports")]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.exhaustive
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_a_stop_signal_stops_the_compare_and_its_worker(tmp_path, sig):
    """SIGTERM and SIGHUP (a scheduler, a closed terminal) stop a compare as Ctrl-C does;
    after any signal, SIGKILL included, no worker outlives the driver."""
    proc = _compare(tmp_path, "c", tiny_toml(epochs=2000))
    deadline = time.monotonic() + 120
    while not workers(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    pool = [p for p in descendants(proc.pid) if "multiprocessing" in cmdline(p)]  # a forkserver too, if any
    time.sleep(1.0)  # the worker is busy (starting Keras), not waiting for a message
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + sig, err
        assert f"stopped by {sig.name}: finished runs are stored; run the same command again to resume" in err
        assert "Traceback" not in err
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pool):
        left = [cmdline(p) for p in pool if _alive(p)]
        assert time.monotonic() < deadline, f"worker processes {left} outlived their driver ({sig.name})"
        time.sleep(0.1)


@pytest.mark.exhaustive
def test_a_hung_run_is_ended_and_the_grid_goes_on(tmp_path, isolated_registry, monkeypatch):
    monkeypatch.setenv("ZOO_FAULT_DIR", str(tmp_path))
    importlib.reload(importlib.import_module("faulty_cells"))
    grid = tiny_grid(cells=("hangs", "simple_rnn"), modes=("many_to_one",), units=4)
    # The run clock starts when a worker is ready (Keras imported), so the timeout must only pass a tiny
    # run's own quiet time (build, compile, one epoch: about 2 s, under 10 s on a loaded machine).
    # A worker's start (4.5 s of imports; 20 s and more on a loaded machine, which once ended the
    # healthy run here) has its own, generous allowance.
    timeout, start_allowance = 20, 300
    executor = LocalExecutor(2, run_timeout=timeout, start_timeout=start_allowance)
    started = time.monotonic()
    outcome = runner.execute(grid, tmp_path / "runs", executor=executor, say=lambda m: None)
    assert time.monotonic() - started < start_allowance  # the hung run did not hold the grid
    (failed,) = outcome.failed
    assert failed.startswith("hangs-") and f"no progress for {timeout} s (--run-timeout)" in failed
    for run in expand(grid):
        metrics = json.loads((tmp_path / "runs" / run.run_id / "metrics.json").read_text())
        assert metrics["status"] == ("failed" if run.cell == "hangs" else "ok")


HANGS_WHILE_STARTING = """
import time
if __name__ == "__mp_main__":  # a worker importing this script: its start never ends
    time.sleep(3600)
if __name__ == "__main__":
    from zoo.core.config import GridConfig
    from zoo.core.grid import expand
    from zoo.runs.executors.local import LocalExecutor

    configs = expand(GridConfig(cells=("simple_rnn",), modes=("many_to_one",), seeds=1, units=4))
    started = time.monotonic()
    (finished,) = [e for e in LocalExecutor(1, run_timeout=2).map(configs, lambda *a: None) if e is not None]
    print(f"{time.monotonic() - started:.1f}", finished.error)
"""


@pytest.mark.exhaustive
def test_a_worker_that_hangs_while_starting_is_ended_after_the_timeout_too(tmp_path):
    """The clock that restarts when a worker is ready also runs before: a start that never ends is a hang."""
    script = tmp_path / "hangs_while_starting.py"
    script.write_text(HANGS_WHILE_STARTING)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 0, done.stderr
    seconds, error = done.stdout.strip().split(" ", 1)
    assert error == "no progress for 2 s (--run-timeout): its worker was ended"
    assert 2 <= float(seconds) < 30


def test_the_progress_line_never_names_a_finished_run():
    first, second = expand(tiny_grid())[:2]
    stream = io.StringIO()
    progress = runner.Progress([first, second], stream=stream)
    progress.epoch(first.run_id, 2, 0.5)
    progress.run_done(first, None, "an error")
    progress.last_print = 0.0
    progress.refresh()  # nothing has reported since: nothing to name
    assert stream.getvalue().count("run 2/2") == 0
    progress.epoch(second.run_id, 1, 0.25)
    progress.last_print = 0.0
    progress.refresh()
    assert progress.label(second) in stream.getvalue().splitlines()[-1]


# ------------------------------------------------------------------ 4. concurrency


@pytest.mark.exhaustive
def test_two_reports_at_once_both_succeed(tiny_runs, tmp_path):
    from zoo import report

    runs, reports = _copy_runs(tiny_runs, tmp_path), tmp_path / "reports"
    logs = [tmp_path / f"err{i}" for i in range(2)]
    with report.report_lock(reports):  # both start while a report is being written: the race, for certain
        procs = [subprocess.Popen([sys.executable, "-m", "zoo", "report", "--runs", str(runs), "--reports",
                                   str(reports)], stdout=subprocess.DEVNULL, stderr=log.open("w"), env=ENV)
                 for log in logs]
        deadline = time.monotonic() + 120
        while not all("waiting for it" in log.read_text() for log in logs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [
                log.read_text() for log in logs]
            time.sleep(0.1)
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [log.read_text() for log in logs]
    for log in logs:
        assert "make room" not in log.read_text()
    manifest = json.loads((reports / report.MANIFEST).read_text())
    assert sorted(manifest["files"]) == sorted(p.relative_to(reports).as_posix() for p in reports.rglob("*")
                                               if p.is_file() and p.name != report.MANIFEST)
    assert not list(tmp_path.glob(".reports.*"))  # no leftovers of either


# ------------------------------------------------------------------ 5. messages


@pytest.mark.exhaustive
def test_a_read_only_runs_folder_can_be_reported(tiny_runs, tmp_path):
    runs = _copy_runs(tiny_runs, tmp_path)
    with read_only(runs):
        done = _zoo("report", "--runs", runs, "--reports", tmp_path / "reports")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "reports" / "summary.csv").is_file()


def test_a_permission_error_while_storing_names_permission_not_room(tiny_runs, tmp_path):
    grid, _ = tiny_runs
    runs = _copy_runs(tiny_runs, tmp_path)
    run = expand(grid)[0]
    files = {p.name: p.read_bytes() for p in (runs / run.run_id).iterdir()}
    with read_only(runs):
        with pytest.raises(store.StorageError) as caught:
            store.write_files(runs, run, files)
    message = str(caught.value)
    assert "make room" not in message
    assert "this user may not write there: fix its permissions, or pass another folder" in message


@pytest.mark.exhaustive
def test_a_failed_run_records_the_real_error_not_the_backends_note(tmp_path, isolated_registry, monkeypatch):
    monkeypatch.setenv("ZOO_FAULT_DIR", str(tmp_path))
    importlib.reload(importlib.import_module("faulty_cells"))
    grid = load_grid(None, cells="raises_in_call", modes="many_to_one", seeds=1, epochs=2, units=4)
    outcome = runner.execute(grid, tmp_path / "runs", executor=LocalExecutor(1), say=lambda m: None)
    (failed,) = outcome.failed
    assert "ValueError: " in failed and "injected in call" in failed, failed
    assert "For simplicity" not in failed and "\x1b" not in failed


LONG = "a" * 300


@pytest.mark.parametrize(
    "name,message",
    [("ops", "a name the cell's own code uses"), ("keras", "a name the cell's own code uses"),
     ("int", "a name the cell's own code uses"), ("register_cell", "a name the cell's own code uses"),
     ("a" * 65, "is 65 characters long; at most 64"), ("café", "ASCII letters"), ("_hidden", "starting with a letter"),
     ("match", "not a Python keyword"), ("class", "not a Python keyword")],
)
def test_new_cell_accepts_only_names_that_work_everywhere(tmp_path, name, message):
    with pytest.raises(new_cell.NewCellError, match=message):
        new_cell.create(name, folder=tmp_path)
    assert not list(tmp_path.iterdir())


def test_new_cell_with_a_long_name_blames_the_name_not_a_dir_never_given(capsys):
    assert cli.main(["new-cell", LONG]) == 2
    err = capsys.readouterr().err
    assert "--dir" not in err and "is 300 characters long; at most 64" in err


def test_output_to_a_closed_pipe_or_a_full_device_ends_quietly():
    reader = subprocess.Popen([sys.executable, "-m", "zoo", "list"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=ENV)
    reader.stdout.close()  # `| head -0`: the reader is gone before the first line
    err = reader.stderr.read().decode()
    assert reader.wait(timeout=120) == 141 and err == ""
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "zoo", "list"], stdout=full, stderr=subprocess.PIPE, text=True,
                              env=ENV, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "error: cannot write the output: No space left on device\n"


# ------------------------------------------------------------------ 6. the API in a script


@pytest.mark.exhaustive
def test_the_api_in_a_script_without_the_main_guard_stops_at_once_saying_so(tmp_path):
    (tmp_path / "tiny.toml").write_text(tiny_toml(cells=("simple_rnn",)))
    script = tmp_path / "myexp.py"
    script.write_text(
        "import zoo\n"
        f"res = zoo.compare(config={str(tmp_path / 'tiny.toml')!r}, runs={str(tmp_path / 'runs')!r}, "
        f"reports={str(tmp_path / 'reports')!r}, jobs=1)\n"
        "print('finished', res.summary)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode != 0 and "finished" not in done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        "zoo.runs.executors.local.MainGuardError: zoo.compare was called again by a worker starting: a worker "
        "process imports the script that started it, so call zoo.compare under `if __name__ == \"__main__\":`"
    )
    assert "RunnerBusyError" not in done.stderr
    runs = tmp_path / "runs"
    assert not [p for p in runs.iterdir() if not p.name.startswith(".")]  # no run recorded as failed


# ------------------------------------------------------------------ 7. the compile cache repairs itself

PROGRAM = ("import zoo.engine.backend\nimport jax, jax.numpy as jnp\n"
           "print(jax.jit(lambda x: jnp.tanh(x) * 2 + 1)(jnp.arange(3.0)).tolist())\n")


@pytest.mark.exhaustive
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") != "jax", reason="XLA's persistent cache is JAX's")
def test_a_damaged_compile_cache_entry_is_named_and_replaced(tmp_path):
    env = {**ENV, COMPILE_CACHE: str(tmp_path / "cache")}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)

    def run() -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    first = run()
    (entry,) = (tmp_path / "cache" / "jax").glob("jit__lambda-*-cache")
    good = entry.read_bytes()
    damaged = bytearray(good)
    for i in range(len(damaged) // 3, len(damaged) // 3 + 64):
        damaged[i] ^= 0xFF
    entry.write_bytes(bytes(damaged))
    second = run()
    assert second.stdout == first.stdout  # the numbers never depended on the cache
    assert f"warning: rnn-zoo: compile-cache entry {entry} could not be loaded" in second.stderr
    assert entry.read_bytes() != bytes(damaged)  # stored anew by that compile
    third = run()
    assert third.stdout == first.stdout and "compile-cache entry" not in third.stderr
