"""A flag given is a flag honoured: --quick, a config's [quick] form and a config's own
settings change only what the user did not set, or one error line names both."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.core import catalog
from zoo.core.config import ConfigError, task_name
from zoo.core.loading import CONFIG_DIR, _flat, load_grid, quick_note

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [None, *sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))]  # None: no --config


# flag -> (a value no shipped config or preset uses, what the loaded grid holds for it,
#          the grid setting the flag sets, as _flat names it)
FLAGS = {
    "seeds": (2, lambda g: g.seeds, "seeds"),
    "epochs": (7, lambda g: g.train.epochs, "train.epochs"),
    "units": (12, lambda g: g.units, "units"),
    "cells": ("gru,irnn", lambda g: ",".join(g.cells), "cells"),
    "modes": ("many_to_one", lambda g: ",".join(g.modes), "modes"),
    "task": ("adding", lambda g: ",".join(sorted({task_name(v.task) for v in g.variants()})), "task.name"),
}


def _settings_of(source) -> set[str]:
    """Every key a config file (and its [quick] table) sets, the error must name one."""
    import tomllib

    if source is None:
        return {"quick"}
    raw = tomllib.loads((CONFIG_DIR / f"{source}.toml").read_text())
    keys = set()
    for key, value in raw.items():
        keys.add(key)
        if isinstance(value, dict):
            keys |= {str(k) for k in value} | {f"{key}.{k}" for k in value}
            keys |= {str(k2) for v in value.values() if isinstance(v, dict) for k2 in v}
    return keys


def _changed(source) -> set[str]:
    """The settings --quick (or the config's [quick] form) changes, as _flat names them."""
    full, small = _flat(load_grid(source)), _flat(load_grid(source, quick=True))
    return {k for k in {*full, *small} if full.get(k) != small.get(k)}


@pytest.mark.parametrize("quick", [False, True], ids=["plain", "quick"])
@pytest.mark.parametrize("flag", list(FLAGS))
@pytest.mark.parametrize("source", CONFIGS, ids=[str(c) for c in CONFIGS])
def test_the_flag_wins_or_one_line_names_both(source, flag, quick):
    value, held, _ = FLAGS[flag]
    try:
        grid = load_grid(source, quick=quick, **{flag: value})
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and flag in message
        named = _settings_of(source)
        assert any(key in message for key in named), (message, named)
        return
    assert str(held(grid)) == str(value)
    # the flag holds in every run of the grid, not only in its base settings
    for variant in grid.variants():
        if flag == "units" and variant.param_budget is not None:
            continue  # a budget arm sizes its own units: the grid's other arm holds the flag's
        assert str(held(variant)) == str(value)


@pytest.mark.parametrize("source", CONFIGS, ids=[str(c) for c in CONFIGS])
def test_every_setting_quick_changes_is_a_flag_that_wins_and_is_named(source):
    """The pairs above cover what each preset changes: every setting --quick or the config's
    [quick] form changes that a flag also sets stays as given, and the first line names
    every setting it changed."""
    changed = _changed(source)
    flags = {setting: flag for flag, (_, _, setting) in FLAGS.items()}
    note = quick_note(source)
    gone = {task_name(t) for t in load_grid(source).tasks} - {task_name(t) for t in load_grid(source, quick=True).tasks}
    if not changed:  # a grid already small (the shipped quick one): said so, and it is the same grid
        assert note.endswith("nothing to shrink") and load_grid(source, quick=True) == load_grid(source)
    for setting in changed:
        if setting in ("task.train_stop", "task.test_stop"):
            series = setting.removeprefix("task.").removesuffix("_stop")
            # every shipped config shortens a series at (about) the same gap, and says so
            assert f"{series}_stop " in note and "the same sampling gap" in note, (setting, note)
            continue  # said beside the points: the same gap, fewer points
        if setting == "train.epochs" and load_grid(source).train.steps is not None:
            continue  # a grid in steps does not use epochs
        if setting.split(".")[:2] in (["task", name] for name in gone):
            # a task the quick grid leaves out: said once, by the task list, not setting by setting
            assert "sweep task.name " in note and f"task.{setting.split('.')[1]}." not in note, note
            continue
        assert f"{setting} " in note, (setting, note)
        if setting in flags:
            flag = flags[setting]
            value, held, _ = FLAGS[flag]
            try:
                grid = load_grid(source, quick=True, **{flag: value})
            except ConfigError as exc:
                assert str(exc).startswith(flag)
                continue
            assert str(held(grid)) == str(value)
            assert f"--{flag} {value}" in quick_note(source, **{flag: value})


def test_quick_keeps_seeds_and_epochs_and_shrinks_the_rest():
    grid = load_grid("equal_params", quick=True, seeds=2)
    assert grid.seeds == 2 and grid.train.epochs == 5 and grid.task.train_points == 2000
    assert grid.name == "equal_params-quick"
    grid = load_grid(None, quick=True, seeds=2, epochs=9)
    assert (grid.seeds, grid.train.epochs, grid.task.train_points) == (2, 9, 2000)
    note = quick_note(None, seeds=2, epochs=9)
    assert note.startswith("quick (grid quick, the shipped quick grid")
    assert "seeds" not in note.split(";")[0] and "train.epochs" not in note.split(";")[0]
    assert note.endswith("as given: --seeds 2, --epochs 9")
    assert quick_note("default") == ("quick (grid default-quick, default shrunk): seeds 3 -> 1, "
                                     "task.train_points 10000 -> 2000 (train_stop 100 -> 19.99: the same "
                                     "sampling gap), task.test_points 1000 -> 200 (test_stop 200 -> 119.9: "
                                     "the same sampling gap), "
                                     "train.epochs 120 -> 5")
    assert quick_note("memory", flag="", seeds=2).endswith("as given: seeds=2")


def test_epochs_on_a_grid_in_steps_is_refused_naming_the_steps():
    with pytest.raises(ConfigError, match=r"^epochs = 7: the memory grid trains for train.steps = 3000 "):
        load_grid("memory", epochs=7)
    with pytest.raises(ConfigError, match=r"^epochs = 7: the memory-quick grid trains for train.steps = 200 "):
        load_grid("memory", quick=True, epochs=7)


def test_units_on_a_grid_sized_by_a_budget_is_refused(tmp_path):
    path = tmp_path / "budget.toml"
    path.write_text('param_budget = 5000\ncells = ["gru"]\nmodes = ["many_to_one"]\n')
    with pytest.raises(ConfigError, match=r"^units = 12: the budget grid sizes every cell to param_budget = 5000"):
        load_grid(str(path), units=12)
    path.write_text('cells = ["gru"]\nmodes = ["many_to_one"]\n[sweep]\nunits = [8, 16]\n')
    with pytest.raises(ConfigError, match=r"^units = 12: the budget grid sweeps units = \[8, 16\]"):
        load_grid(str(path), units=12)


def test_task_flag_on_quick_keeps_the_task():
    for task in catalog.list_tasks():
        grid = load_grid(None, quick=True, task=task)
        assert {v.task_name for v in _runs(grid)} == {task}


def _runs(grid):
    from zoo.core.grid import expand

    return expand(grid)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_variables_reach_the_cli_as_flags_beside_quick():
    command = ["make", "-n", "-s", "-f", str(ROOT / "Makefile"), "-o", f"{sys.prefix}/.installed",
               f"VENV={sys.prefix}", "compare", "QUICK=1", "SEEDS=2", "CONFIG=equal_params"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    line = [x for x in done.stdout.splitlines() if " -m zoo compare" in x][0]
    assert "--seeds '2'" in line and "--quick" in line and "--config 'equal_params'" in line


def test_the_quick_note_says_the_same_gap_only_where_it_is(tmp_path):
    config = tmp_path / "gap.toml"
    config.write_text('cells = ["gru"]\nmodes = ["many_to_one"]\n[task]\ntrain_stop = 100.0\ntrain_points = 10000\n'
                      '[quick]\nseeds = 1\n[quick.task]\ntrain_stop = 50.0\ntrain_points = 1000\n')
    note = quick_note(config)
    assert "task.train_points 10000 -> 1000 (train_stop 100 -> 50)" in note and "same sampling gap" not in note
