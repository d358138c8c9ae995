import re
import subprocess
import sys
from pathlib import Path

import pytest


def _zoo(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.slow
def test_list_shows_cells_and_modes_with_descriptions():
    out = _zoo("list")
    assert out.returncode == 0
    assert "gru" in out.stdout and "Gated recurrent unit" in out.stdout
    assert "many_to_many_synced" in out.stdout


@pytest.mark.slow
def test_bad_cell_is_one_line_and_exit_2(tmp_path):
    out = _zoo("compare", "--cells", "grux", "--runs", str(tmp_path / "r"), "--reports", str(tmp_path / "p"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: cells: unknown cell 'grux'; valid choices: " + ", ".join(_cells()) + " (did you mean 'gru'?)"
    ]
    assert not (tmp_path / "r").exists()


def _cells():
    from zoo.core import catalog as registry

    return registry.list_cells()


@pytest.mark.slow
def test_unwritable_runs_folder_is_refused_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = _zoo("compare", "--cells", "gru", "--runs", str(blocker / "runs"), "--reports", str(tmp_path / "p"))
    assert out.returncode == 2
    expected = f"error: --runs = '{blocker / 'runs'}': cannot write there (Not a directory)"
    assert out.stderr.strip().splitlines() == [expected]
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_unknown_executor_and_bad_jobs_are_usage_errors(tmp_path):
    where = ["--runs", str(tmp_path / "r"), "--reports", str(tmp_path / "p")]
    out = _zoo("compare", "--cells", "gru", "--executor", "threads", *where)
    assert out.returncode == 2 and "unknown executor 'threads'; valid choices: local, ray" in out.stderr
    out = _zoo("compare", "--cells", "gru", "--jobs", "0", *where)
    assert out.returncode == 2 and "--jobs = 0: expected a number greater than 0" in out.stderr


# ------------------------------------------------- one front door: CLI == API


def _compare_flags() -> dict:
    """``python -m zoo compare``'s options, by the API name they map to: name -> argparse action."""
    from zoo.cli import parsing

    parser = parsing.parser().commands["compare"]
    return {a.dest: a for a in parser._actions if a.dest != "help"}


def test_compare_flags_are_the_api_arguments_one_to_one():
    """Every flag of ``compare`` is an argument of ``zoo.compare`` of the same name and default, and every
    argument a flag: a new option added to one front door and not the other fails here."""
    import inspect

    from zoo import api

    api_params = inspect.signature(api.compare).parameters
    flags = _compare_flags()
    assert sorted(flags) == sorted(api_params)
    for name, action in flags.items():
        default = api_params[name].default
        # argparse gives strings (the API's checks take "1" as 1); a switch is False unless given
        assert action.default == (str(default) if isinstance(action.default, str) else default), name
        assert (action.nargs == 0) == isinstance(default, bool), f"--{name}: a switch where the API takes a bool"
    # compare is compare_outcome, whose one extra argument says how messages name the options
    shared = inspect.signature(api.compare_outcome).parameters
    assert list(shared) == [*api_params, "flag"]
    assert all(shared[n].default == p.default for n, p in api_params.items())


def test_the_cli_compare_is_one_call_to_the_api(monkeypatch, tmp_path):
    """The command line's compare hands every flag to ``api.compare_outcome`` (counts as numbers, flag="--")
    and trains or checks nothing itself."""
    from zoo import api, cli

    seen = {}

    class Called(Exception):
        pass

    def fake(**kwargs):
        seen.update(kwargs)
        raise Called

    monkeypatch.setattr(api, "compare_outcome", fake)
    argv = ["compare", "--cells", "gru", "--seeds", "2", "--epochs", "1e1", "--tensorboard", "--cpus-per-task", "3",
            "--runs", str(tmp_path / "r"), "--reports", str(tmp_path / "p"), "--run-timeout", "60"]
    with pytest.raises(Called):
        cli.main(argv)
    assert seen.pop("flag") == "--"
    assert set(seen) == set(_compare_flags())
    assert seen == {**{n: a.default for n, a in _compare_flags().items()}, "cells": "gru", "seeds": 2, "epochs": 10,
                    "tensorboard": True, "cpus_per_task": "3", "runs": str(tmp_path / "r"),
                    "reports": str(tmp_path / "p"), "run_timeout": "60"}
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()


def test_the_api_hands_the_runner_tensorboards_view(monkeypatch, tmp_path):
    """``zoo.compare(tensorboard=True)`` asks the runner for TensorBoard logs, as ``--tensorboard`` does:
    it hands the runner TensorBoard's view, which the runner keeps up to date."""
    from zoo import api
    from zoo.runs import runner
    from zoo.views import tensorboard

    seen = {}

    class Called(Exception):
        pass

    def fake_execute(grid, runs, **kwargs):
        seen.update(kwargs)
        raise Called

    monkeypatch.setattr(tensorboard, "check_available", lambda flag="--": None)
    monkeypatch.setattr(runner, "execute", fake_execute)
    with pytest.raises(Called):
        api.compare(cells="gru", modes="many_to_one", runs=tmp_path / "r", reports=tmp_path / "p", tensorboard=True)
    assert isinstance(seen["view"], tensorboard.Logs)


def test_without_tensorboard_each_door_names_its_own_option(monkeypatch, tmp_path):
    from zoo import api
    from zoo.core.config import ConfigError

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    where = dict(cells="gru", modes="many_to_one", runs=tmp_path / "r", reports=tmp_path / "p", tensorboard=True)
    with pytest.raises(ConfigError, match=r"^tensorboard=True needs TensorBoard"):
        api.compare(**where)
    with pytest.raises(ConfigError, match=r"^--tensorboard needs TensorBoard"):
        api.compare_outcome(**where, flag="--")
    assert not (tmp_path / "r").exists() and not (tmp_path / "p").exists()


def test_the_help_names_the_folder_new_cell_writes_into():
    from zoo import new_cell
    from zoo.cli import parsing

    folder = new_cell.CELLS_DIR.relative_to(Path(new_cell.__file__).resolve().parent.parent).as_posix()
    assert f"write {folder}/NAME.py" in parsing.parser().format_help()


@pytest.mark.skipif(subprocess.run(["which", "make"], capture_output=True).returncode, reason="make is not installed")
def test_make_help_names_every_variable_make_compare_takes():
    """`make help` is where a user learns the variables: each of the Makefile's VALUE_FLAGS and SWITCHES."""
    root = Path(__file__).parents[1]
    names = set(re.findall(r"\b([A-Z]+)=--[a-z]", (root / "Makefile").read_text()))  # VAR=--flag: the tables
    assert {"CELLS", "UNITS", "RUNS", "REPORTS", "FULL", "QUICK", "TENSORBOARD"} <= names  # the parse found them
    shown = subprocess.run(["make", "-s", "help"], cwd=root, capture_output=True, text=True).stdout
    assert not [name for name in sorted(names) if f"{name}=" not in shown]


def test_list_names_every_shipped_config_with_its_description(capsys):
    from zoo.cli.commands import run_list
    from zoo.core.config_files import shipped_configs

    assert run_list(None) == 0
    out = capsys.readouterr().out.split("configs (make compare CONFIG=name")[1]
    for name in shipped_configs():
        (line,) = [line for line in out.splitlines() if line.split()[:1] == [name]]
        assert len(line.split(maxsplit=1)[1]) > 10, line  # a description, not just the name
    assert "Do gradients vanish through time?" in out  # long_lag's experiment, its first sentence
