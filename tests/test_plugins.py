"""Cells from outside zoo/cells: another package's entry point, and `zoo new-cell`."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import new_cell, registry

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
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT / "examples" / "plugin")],
        check=True, capture_output=True, timeout=300,
    )
    return target


def _zoo(args, plugin_path, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_path), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_installed_plugin_shows_in_list_and_trains(plugin_path, tmp_path):
    listed = _zoo(["list"], plugin_path, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "softsign_rnn" in listed.stdout and "plugin example" in listed.stdout
    (tmp_path / "tiny.toml").write_text(TINY)
    run = _zoo(["compare", "--config", str(tmp_path / "tiny.toml"), "--jobs", "1"], plugin_path, tmp_path)
    assert run.returncode == 0, run.stderr
    folders = [p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert sorted(f.rsplit("-", 2)[0] for f in folders) == ["softsign_rnn-many_to_one", "softsign_rnn-one_to_many"]
    assert "softsign_rnn" in (tmp_path / "reports" / "summary.csv").read_text()


def test_new_cell_writes_a_cell_that_trains(tmp_path, isolated_registry):
    from zoo import training
    from zoo.config import RunConfig, TaskConfig, TrainConfig

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
     ("gru", "already registered by zoo.cells.gru.gru")],
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


def test_cli_new_cell_error_is_one_line():
    out = subprocess.run([sys.executable, "-m", "zoo", "new-cell", "gru"], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
