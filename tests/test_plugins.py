"""Cells from outside zoo/cells: another package's entry point, and `zoo new-cell`."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo import new_cell
from zoo.core import catalog as registry

ROOT = Path(__file__).resolve().parent.parent
TINY = """
cells = ["softsign_rnn"]
modes = ["many_to_one", "one_to_many"]
seeds = 1
units = 8
[task]
train_stop = 3.0
train_points = 300
test_stop = 106.0
test_points = 60
[train]
epochs = 2
batch_size = 32
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    # From a copy: setuptools builds in the source folder (build/, *.egg-info), which is the checkout's.
    source = tmp_path_factory.mktemp("plugin") / "plugin"
    shutil.copytree(ROOT / "examples" / "plugin", source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    return target


def _zoo(args, plugin_path, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def listed(plugin_path, tmp_path_factory):
    """`zoo list` where the plugin is installed, once for the tests that read it (a process start is 4.5 s)."""
    done = _zoo(["list"], plugin_path, tmp_path_factory.mktemp("list"))
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.exhaustive
def test_installed_plugin_shows_in_list_and_trains(plugin_path, listed, tmp_path):
    assert "softsign_rnn" in listed and "plugin example" in listed
    (tmp_path / "tiny.toml").write_text(TINY)
    run = _zoo(["compare", "--config", str(tmp_path / "tiny.toml"), "--jobs", "1"], plugin_path, tmp_path)
    assert run.returncode == 0, run.stderr
    folders = [p.name for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert sorted(f.rsplit("-", 2)[0] for f in folders) == ["softsign_rnn-many_to_one", "softsign_rnn-one_to_many"]
    assert "softsign_rnn" in (tmp_path / "reports" / "summary.csv").read_text()
    # The plugin's probe (entry point rnn_zoo.probes) ran in every run and is in the report.
    for folder in folders:
        rows = (tmp_path / "runs" / folder / "probe_output_rms.csv").read_text().splitlines()
        assert rows[0] == "epoch,output_rms" and [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]
    assert "Probe: output_rms" in (tmp_path / "reports" / "index.html").read_text()
    assert (tmp_path / "reports" / "probe_output_rms.csv").read_text().startswith("cell,mode,output_rms,runs")


TINY_TASK = """
cells = ["gru"]
seeds = 1
units = 4
[task]
name = "recall_first"
length = 4
train_size = 64
test_size = 32
[train]
steps = 20
eval_every = 10
batch_size = 32
"""


@pytest.mark.exhaustive
def test_installed_plugin_task_shows_in_list_trains_and_gets_a_memory_section(plugin_path, listed, tmp_path):
    tasks = listed[listed.index("tasks:"):]
    assert "recall_first" in tasks and "plugin example" in tasks
    (tmp_path / "tiny.toml").write_text(TINY_TASK)
    run = _zoo(["compare", "--config", str(tmp_path / "tiny.toml"), "--jobs", "1"], plugin_path, tmp_path)
    assert run.returncode == 0, run.stderr
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "recall_first" and metrics["baseline"] == pytest.approx(1 / 12) and metrics["steps"] == 20
    assert (tmp_path / "reports" / "memory_recall_first.md").is_file()
    assert "Memory: recall_first" in (tmp_path / "reports" / "index.html").read_text()
    bad = TINY_TASK.replace("length = 4", "lenght = 4")
    (tmp_path / "bad.toml").write_text(bad)
    refused = _zoo(["compare", "--config", str(tmp_path / "bad.toml")], plugin_path, tmp_path)
    assert refused.returncode == 2 and "(task recall_first); valid keys: name, length" in refused.stderr


TINY_CLASSIFICATION = """
cells = ["gru"]
seeds = 1
units = 4
[task]
name = "temporal_order"
length = 10
train_size = 64
test_size = 32
[train]
steps = 20
eval_every = 10
batch_size = 32
"""


@pytest.mark.exhaustive
def test_plugin_classification_task_meets_the_task_contract_and_reports_its_metric(plugin_path, tmp_path):
    # The registry-wide tests, run where the plugin is installed, over its many_to_one classification task.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), str(ROOT)])}
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "temporal_order",
         "tests/test_task_registry.py",
         "tests/test_memory_engine.py::test_every_task_trains_in_every_mode_it_supports"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "4 passed" in tests.stdout  # declares, pure and shaped, baseline, trains
    (tmp_path / "tiny.toml").write_text(TINY_CLASSIFICATION)
    run = _zoo(["compare", "--config", str(tmp_path / "tiny.toml"), "--jobs", "1"], plugin_path, tmp_path)
    assert run.returncode == 0, run.stderr
    (folder,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["metric"] == "test_ce" and metrics["baseline"] == pytest.approx(np.log(4))
    summary = (tmp_path / "reports" / "summary.md").read_text()
    header = summary.splitlines()[0]
    assert "test cross-entropy" in header and "/ baseline" in header and "test MAE" not in header
    assert f"{metrics['metric_value']:.3g}" in summary and f"{metrics['ratio']:.3g}" in summary
    assert "Lowest test cross-entropy" in (tmp_path / "reports" / "index.html").read_text()


def test_new_cell_writes_a_cell_that_trains(tmp_path, isolated_registry):
    from zoo.core.config import RunConfig, TaskConfig, TrainConfig
    from zoo.engine import run as training

    path = new_cell.create("my_rnn", folder=tmp_path)
    spec = importlib.util.spec_from_file_location("my_rnn_cell", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert "my_rnn" in registry.list_cells()
    model = training.build_model("my_rnn", "many_to_one", 5, 4, 2)
    assert model.count_params() == training.expected_param_count("my_rnn", "many_to_one", 5, 4, 2)
    task = TaskConfig(train_stop=3.0, train_points=300, test_stop=106.0, test_points=60)
    result = training.train_run(RunConfig("my_rnn", "many_to_one", 0, 5, task, TrainConfig(epochs=2, batch_size=32)))
    assert result.status == "ok" and result.history.loss.iloc[-1] < result.history.loss.iloc[0]


@pytest.mark.parametrize(
    "name,message",
    [("My-Cell", "not a valid lowercase Python identifier"), ("class", "not a valid"),
     ("gru", "already registered by zoo.models.cells.gru.gru")],
)
def test_new_cell_refuses_bad_or_taken_names(tmp_path, name, message):
    with pytest.raises(new_cell.NewCellError, match=message):
        new_cell.create(name, folder=tmp_path)
    assert not list(tmp_path.iterdir())


def test_new_cell_never_overwrites(tmp_path):
    (tmp_path / "mine.py").write_text("# mine")
    with pytest.raises(new_cell.NewCellError, match="already exists"):
        new_cell.create("mine", folder=tmp_path)
    assert (tmp_path / "mine.py").read_text() == "# mine"


@pytest.mark.exhaustive
def test_cli_new_cell_error_is_one_line():
    out = subprocess.run([sys.executable, "-m", "zoo", "new-cell", "gru"], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


PLUGIN_CELL = '''
import keras

from zoo import register_cell

GAIN = {gain}


@register_cell("edited_rnn", param_count=lambda i, u: u * (i + u) + u)
def edited_rnn(units=64):
    "A plugin cell whose file the test edits."
    return keras.layers.SimpleRNNCell(units, recurrent_initializer=keras.initializers.Orthogonal(GAIN))
'''


@pytest.mark.exhaustive
def test_editing_a_cell_file_retrains_its_runs_and_so_does_a_backend_switch(tmp_path, monkeypatch,
                                                                             isolated_registry):
    from conftest import tiny_grid

    from zoo.core.grid import expand
    from zoo.runs import runner

    module = tmp_path / "edited_rnn.py"
    module.write_text(PLUGIN_CELL.format(gain=1.0))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("edited_rnn")
    grid = tiny_grid(cells=("edited_rnn",), modes=("many_to_one",), seeds=1)
    runs = tmp_path / "runs"
    first = runner.execute(grid, runs, jobs=1, say=lambda m: None)
    assert first.trained == 1
    (old_id,) = [r.run_id for r in expand(grid)]
    assert runner.execute(grid, runs, jobs=1, say=lambda m: None).skipped == 1  # unchanged: skipped

    module.write_text(PLUGIN_CELL.format(gain=0.5))  # the user edits the cell
    importlib.reload(sys.modules["edited_rnn"])
    edited = runner.execute(grid, runs, jobs=1, say=lambda m: None)
    assert (edited.trained, edited.skipped) == (1, 0)  # the edited cell's run trains again
    (new_id,) = [r.run_id for r in expand(grid)]
    assert new_id != old_id and {p.name for p in runs.glob("edited_rnn-*")} == {old_id, new_id}

    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # the ids of another backend differ too
    assert expand(grid)[0].run_id != new_id and expand(grid)[0].backend == "tensorflow"
