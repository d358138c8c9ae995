import itertools
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import pytest  # noqa: E402

from zoo.core.config import GridConfig, TaskConfig, TrainConfig  # noqa: E402
from zoo.core.process import keep_tensorflow_out, known_xla_flags, with_xla_flags, xla_cpu_flags  # noqa: E402

# On JAX the suite's process runs as rnn-zoo's own do, without TensorFlow, which
# Keras would otherwise import (5 s per pytest worker). The TensorFlow half has it.
keep_tensorflow_out()

# The suite's programs are tiny, so compiling them is most of its time, and
# LLVM's optimisation passes are most of each compile: at level 0 the gradient
# and fit-parity tests took half the CPU time (115 -> 59 s, no compile cache),
# the whole JAX half about a quarter less on an empty cache (1,540 -> 1,190 s).
# Results agree with XLA's default compile to float32 rounding, not bit for bit
# (a quick compare of 12 runs: losses within 1.3e-5 relative after 5 epochs),
# so each comparison the suite makes is between programs compiled alike, or
# within a tolerance that says why. rnn-zoo's own processes keep XLA's defaults.
SUITE_COMPILE = "--xla_backend_optimization_level=0"

# The engine compiles here as it does in rnn-zoo's workers (before JAX starts
# its backend), and the compares the tests start inherit the flags.
os.environ["XLA_FLAGS"] = with_xla_flags(
    os.environ.get("XLA_FLAGS", ""), f"{xla_cpu_flags()} {known_xla_flags(SUITE_COMPILE)}"
)

# A grid small enough to train in seconds, with the default task's shape.
TINY_TASK = TaskConfig(train_stop=3.0, train_points=300, test_start=100.0, test_stop=106.0, test_points=60)
TINY_TRAIN = TrainConfig(epochs=2, batch_size=32)


def tiny_grid(**changes) -> GridConfig:
    base = GridConfig(
        cells=("simple_rnn", "gru"), modes=("many_to_one", "one_to_many"), seeds=1, units=8,
        task=TINY_TASK, train=TINY_TRAIN,
    )
    return base.__class__(**{**base.__dict__, **changes})


def every_combination(*axes: list) -> list:
    """Each combination of the axes' values (``catalog.list_cells()``, ``catalog.list_modes()``...) as a
    ``pytest.param``, for ``@pytest.mark.parametrize("cell,mode", ...)``; a tuple value is several
    arguments (a task and its mode).

    ``make test-all`` runs every combination. ``make test`` and ``make test-fast`` run a covering
    subset, where each value of each axis appears at least once (row i takes each axis's value i
    modulo its length); the rest are marked exhaustive. So every check still meets every registered
    cell, mode and task, in as many cases as the longest axis has values, not in the product of all
    their lengths: a new cell costs a case per check, not a case per mode and task.
    """
    chosen = set(covering(*axes))

    def flat(combo):
        return [part for value in combo for part in (value if isinstance(value, tuple) else (value,))]

    return [tier(*flat(combo), in_make_test=combo in chosen, id="-".join(map(str, flat(combo))))
            for combo in itertools.product(*axes)]


def covering(*axes: list) -> list[tuple]:
    """The covering subset of the axes' product: row i takes each axis's value i modulo its length."""
    axes = [list(axis) for axis in axes]
    return [tuple(axis[i % len(axis)] for axis in axes) for i in range(max(map(len, axes)))]


def tier(*values, in_make_test: bool, id: str | None = None):
    """A ``pytest.param`` that ``make test`` runs, or else one marked exhaustive (``make test-all`` only)."""
    return pytest.param(*values, id=id, marks=() if in_make_test else pytest.mark.exhaustive)


def every_value(cases: list[tuple]) -> list:
    """``every_combination`` for a list of cases that is not a full product (each task with the modes
    it supports): ``make test`` runs the cases that bring a value no earlier case had, in order, so
    every value of each position appears at least once; the rest are marked exhaustive."""
    seen: list[set] = [set() for _ in cases[0]] if cases else []
    params = []
    for case in cases:
        new = any(value not in seen[i] for i, value in enumerate(case))
        for i, value in enumerate(case):
            seen[i].add(value)
        params.append(tier(*case, in_make_test=new, id="-".join(map(str, case))))
    return params


def pytest_collection_modifyitems(items):
    """An exhaustive test is slow too: ``-m "not slow"`` (``make test-fast``) leaves out both tiers."""
    for item in items:
        if item.get_closest_marker("exhaustive") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


def tiny_toml(cells=("simple_rnn", "gru"), seeds: int = 1, epochs: int = 2) -> str:
    """A config file of the tiny grid (many_to_one), for the tests that start ``python -m zoo compare``."""
    t = TINY_TASK
    return (
        f"cells = {list(cells)!r}\nmodes = [\"many_to_one\"]\nseeds = {seeds}\nunits = 8\n"
        f"[task]\ntrain_stop = {t.train_stop}\ntrain_points = {t.train_points}\ntest_start = {t.test_start}\n"
        f"test_stop = {t.test_stop}\ntest_points = {t.test_points}\n"
        f"[train]\nepochs = {epochs}\nbatch_size = {TINY_TRAIN.batch_size}\n"
    ).replace("'", '"')


@pytest.fixture(scope="session")
def tiny_compare(tmp_path_factory, request):
    """A tiny grid compared once (``runner.execute``): its grid, runs folder and outcome.

    Shared by every test that reads runs, so each does not train its own; a test
    that changes the runs works on a copy (``shutil.copytree``). The pytest workers
    share it too: the first to need it trains it (11 s) while a second one waits.
    """
    import fcntl
    import pickle
    import shutil

    from zoo.runs import runner

    shared = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # a pytest-xdist worker (not an inherited environment)
        shared = shared.parent  # the session's folder, above each worker's own
    runs, recorded = shared / "tiny_runs", shared / "tiny_outcome.pickle"
    grid = tiny_grid(seeds=2)
    with open(shared / "tiny_runs.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not recorded.exists():
            shutil.rmtree(runs, ignore_errors=True)  # a worker that failed halfway: train it whole
            outcome = runner.execute(grid, runs, jobs=1, say=lambda msg: None)
            partial = recorded.with_suffix(".partial")
            partial.write_bytes(pickle.dumps(outcome))
            os.replace(partial, recorded)  # whole or absent
    return grid, runs, pickle.loads(recorded.read_bytes())


@pytest.fixture(scope="session")
def tiny_runs(tiny_compare):
    """A tiny grid trained once and stored, for the tests that read runs: ``(grid, runs)``."""
    grid, runs, _ = tiny_compare
    return grid, runs


@pytest.fixture(scope="session")
def tiny_report(tiny_runs, tmp_path_factory):
    """The tiny grid's report, built once per pytest worker for the tests that only read it:
    ``(grid, runs, reports, results)``."""
    from zoo import report

    grid, runs = tiny_runs
    reports = tmp_path_factory.mktemp("tiny_report") / "reports"
    return grid, runs, reports, report.build(runs, reports, compared=grid.name)


@pytest.fixture
def isolated_registry(monkeypatch):
    """Cells and tasks registered inside the test vanish after it; the built-ins stay."""
    from zoo.core import catalog, registry

    catalog.load()  # load the built-ins first, so the copy holds them
    monkeypatch.setattr(registry, "_CELLS", dict(registry._CELLS))
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))
    monkeypatch.setattr(registry, "_TASK_OF_SETTINGS", dict(registry._TASK_OF_SETTINGS))
    monkeypatch.setattr(catalog, "_loaded", False)
    monkeypatch.setattr(catalog, "_tasks_loaded", False)
    monkeypatch.setattr(catalog, "_failed", {})
    return registry


def descendants(pid: int) -> list[int]:
    """Processes started by ``pid``, and by them, from /proc: the only ones a test may signal."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def workers(pid: int) -> list[int]:
    """The local executor's worker processes under ``pid``: spawned, or forked by its forkserver."""
    return [p for p in descendants(pid)
            if "multiprocessing.spawn" in cmdline(p) or "multiprocessing.forkserver" in cmdline(parent(p))]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
