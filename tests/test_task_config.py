"""[task] name and a task's own settings, the step budget, --task, [quick]: checked like every other field."""

import subprocess
import sys

import pytest

from zoo.core.config import ConfigError, GridConfig
from zoo.core.config_files import CONFIG_DIR, read_toml, shipped_configs
from zoo.core.grid import expand
from zoo.core.loading import grid_from_dict, load_grid


def test_a_task_is_named_and_its_settings_are_its_own():
    grid = grid_from_dict({"task": {"name": "adding", "length": 40}, "train": {"steps": 500}})
    assert grid.task_names == ["adding"] and grid.task.length == 40
    assert grid.modes == ("many_to_one",)  # the default modes the task supports
    assert grid.train.loss == "mse"  # the task's own loss, since the config names none
    run = expand(grid)[0]
    assert run.task_name == "adding" and run.train.loss == "mse" and dict(run.code).keys() == {"cell", "mode", "task"}
    copy = grid_from_dict({"task": {"name": "copy"}})
    assert copy.modes == ("many_to_many_synced",) and copy.train.loss == "cross_entropy"
    assert GridConfig.from_stored(grid.to_dict()) == grid


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"task": {"name": "adding", "window": 5}},
         "unknown key 'window' in \\[task\\] \\(task adding\\); valid keys: name, length, train_size, test_size"),
        ({"task": {"name": "adding", "lenght": 5}}, "did you mean 'length'"),
        ({"task": {"name": "addding"}}, "unknown task 'addding'; valid choices: .*did you mean 'adding'"),
        ({"task": {"name": 3}}, "task.name = 3: expected a task name"),
        ({"task": {"name": "adding", "length": 1}}, "adding: length must be >= 2"),
        ({"task": {"name": "adding", "length": "long"}}, "task.length = 'long': expected int"),
        ({"task": {"name": "adding"}, "modes": ["one_to_one"]},
         "task adding does not support mode one_to_one; it supports: many_to_one"),
        ({"task": {"name": "copy"}, "train": {"loss": "mse"}}, "expected one of cross_entropy \\(task copy"),
        ({"task": {"name": "adding"}, "train": {"loss": "cross_entropy"}}, "expected one of mae, mse"),
        ({"train": {"steps": 250}}, "train.steps = 250: expected a multiple of train.eval_every = 100 "
                                    "\\(nearest: 200 or 300\\)"),
        ({"train": {"steps": 0}}, "train.steps = 0: expected a number greater than 0"),
        ({"task": {"name": "adding"}, "sweep": {"task.window": [5]}},
         "unknown key 'task.window' in \\[sweep\\] \\(task adding\\)"),
        ({"task": {"name": "adding", "length": 10**6}}, "task.length = 1000000: expected at most 100,000"),
        ({"task": {"name": "adding", "train_size": 10**6, "length": 1000}}, "values in memory"),
        ({"sweep": {"task.name": ["adding", "sine_gap"]}, "task": {"train_size": 5}},
         "unknown key 'train_size' in \\[task\\] \\(task sine_gap\\)"),
        ({"sweep": {"task.name": ["adding"]}, "task": {"copy": {"length": 5}}},
         "\\[task.copy\\]: a table of settings for one task, but 'copy' is not a task of this grid"),
        ({"sweep": {"task.name": ["adding", "adding"]}}, "task 'adding' is listed twice"),
        ({"task": {"name": "adding"}, "sweep": {"task.length": [1, 5]}}, "sweep: adding: length must be >= 2"),
        ({"quick": {"seed": 1}}, "unknown key 'seed' in \\[quick\\].*did you mean 'seeds'"),
    ],
)
def test_bad_task_settings_are_refused_in_one_line(raw, message):
    with pytest.raises(ConfigError, match=message) as err:
        grid_from_dict(raw)
    assert "\n" not in str(err.value)


def test_a_task_sweep_gives_each_task_its_settings():
    grid = grid_from_dict({
        "cells": ["gru"], "seeds": 1,
        "task": {"sine_gap": {"test_stop": 110.0}},
        "sweep": {"task.length": [25, 50], "task.name": ["adding", "sine_gap"]},
    })
    runs = expand(grid)
    assert [(r.task_name, r.task.length) for r in runs] == [
        ("adding", 25), ("adding", 50), ("sine_gap", 25), ("sine_gap", 50)]
    assert all(r.task.test_stop == 110.0 for r in runs if r.task_name == "sine_gap")
    assert GridConfig.from_stored(grid.to_dict()) == grid


def test_task_override_keeps_the_grid_and_narrows_its_modes():
    grid = load_grid("default", task="adding")
    assert grid.task_names == ["adding"] and grid.modes == ("many_to_one",) and grid.cells == GridConfig().cells
    assert load_grid("default", task="copy").modes == ("many_to_many_synced",)
    assert load_grid("memory", task="adding").task_names == ["adding"]  # a task sweep gives way to --task
    with pytest.raises(ConfigError, match="task adding does not support mode one_to_many"):
        load_grid("default", task="adding", modes="one_to_many")
    with pytest.raises(ConfigError, match="did you mean 'copy'"):
        load_grid("default", task="cpy")


def _swept_tasks(name: str) -> list[str]:
    sweep = read_toml(CONFIG_DIR / f"{name}.toml").get("sweep", {})
    return list(sweep.get("task.name", []))


@pytest.mark.parametrize("config", [n for n in shipped_configs() if _swept_tasks(n)])
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_task_flag_on_a_task_sweep_keeps_that_tasks_own_table_only(config, quick):
    """--task on a config that sweeps tasks trains that task alone, with the config's [task.<name>]
    table for it (the quick form's over it); the other tasks' tables no longer apply and are dropped."""
    raw = read_toml(CONFIG_DIR / f"{config}.toml")
    for task in _swept_tasks(config):
        grid = load_grid(config, quick=quick, task=task)
        assert grid.task_names == [task] and "task.name" not in dict(grid.sweep)
        own = {**raw.get("task", {}).get(task, {}), **(raw.get("quick", {}).get("task", {}).get(task, {})
                                                       if quick else {})}
        for key, value in own.items():
            assert getattr(grid.task, key) == value, (task, key)


def test_memory_config_and_its_quick_form():
    full, quick = load_grid("memory"), load_grid("memory", quick=True)
    runs = expand(full)
    assert set(full.cells) >= {"simple_rnn", "gru", "lstm"} and full.seeds == 3
    lengths = sorted({r.task.length for r in runs})
    assert len(lengths) >= 3 and lengths[0] >= 25 and lengths[-1] <= 200
    assert {r.task_name for r in runs} == {"adding", "sine_gap"}
    assert full.train.steps and all(r.train.steps == full.train.steps for r in runs)
    assert quick.name == "memory-quick" and quick.seeds == 1 and quick.train.steps < full.train.steps
    assert max(r.task.length for r in expand(quick)) < lengths[0]
    assert load_grid("copy").task_names == ["copy"]
    shrunk = load_grid("copy", quick=True)  # no [quick] table: --quick shrinks it as any grid
    assert (shrunk.name, shrunk.seeds, shrunk.train.steps) == ("copy-quick", 1, 200)
    assert [r.task.length for r in expand(shrunk)] == [r.task.length for r in expand(load_grid("copy"))][::3]


@pytest.mark.slow
def test_list_shows_tasks():
    out = subprocess.run([sys.executable, "-m", "zoo", "list"], capture_output=True, text=True, check=True).stdout
    tasks = out[out.index("tasks:"):]
    for name in ("sine", "adding", "sine_gap", "copy"):
        assert f"  {name} " in tasks
    assert "10-class classification" in tasks and "length setting: task.length" in tasks


@pytest.mark.slow
def test_cli_task_flag_is_checked_before_any_work(tmp_path):
    out = subprocess.run([sys.executable, "-m", "zoo", "compare", "--task", "addng", "--runs", str(tmp_path / "r"),
                          "--reports", str(tmp_path / "p")], capture_output=True, text=True)
    assert out.returncode == 2 and "did you mean 'adding'" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_task_flag_on_a_sweep_keeps_its_shared_task_keys_and_loss_and_refuses_a_misspelt_table():
    """A sweep's plain [task] keys and its loss apply to every task it sweeps, the new one too."""
    from zoo.core.overrides import switch_task

    raw = {"task": {"train_size": 512, "adding": {"length": 7}}, "train": {"loss": "mse"},
           "sweep": {"task.name": ["adding", "copy"]}}
    switch_task(raw, "adding", modes_given=False)
    grid = grid_from_dict(raw)
    assert grid.task_names == ["adding"] and grid.task.train_size == 512 and grid.task.length == 7
    assert grid.train.loss == "mse"
    with pytest.raises(ConfigError, match=r"\[task\.addding\]: .* is not a task of this grid \(adding, copy\)"):
        switch_task({"task": {"addding": {"length": 7}}, "sweep": {"task.name": ["adding", "copy"]}}, "adding",
                    modes_given=False)
