"""Bad input, one line per case, through every door: CLI flags, TOML files,
Make variables, environment variables and the Python API.

Each case asserts the project's standard answer: exit code 2 (a ``ConfigError``
from the API), exactly one line on stderr that names the bad value, nothing
on stdout, and nothing created, changed or removed around the working folder.
The CLI cases run ``zoo.cli.main`` in this process, with training and the
report replaced by a tripwire; only the environment and Make cases start a
process. Then: the data-loss guarantees of ``--reports``, faults while the
report is written, a grid whose every run diverges, and plugins.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import cli
from zoo.core.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent
VALID_TOML = 'cells = ["gru"]\nmodes = ["many_to_one"]\nseeds = 1\n'

# ------------------------------------------------------------------ the tables
# (command line, text the one line must contain). Paths are relative to a
# sandbox holding: a_file, mydocs/ (a user's notes), stored/ (an empty runs
# folder), link_reports -> mydocs, noext (a TOML file without the suffix),
# folder.toml/ (a folder), fifo.toml (a pipe), big.toml (2 MB), bin.toml
# (binary), cfg.json.
CLI = [
    # counts: one rule (a whole number, 1e3 included), a range per field
    ("compare --epochs ten", "'ten'"),
    ("compare --epochs 2.5", "'2.5'"),
    ("compare --epochs -5", "-5"),
    ("compare --epochs 0", "epochs = 0"),
    ("compare --epochs=", "--epochs = ''"),
    ("compare --epochs 1e400", "'1e400'"),
    ("compare --epochs nan", "'nan'"),
    ("compare --epochs inf", "'inf'"),
    ("compare --epochs 99999999999", "99999999999"),
    ("compare --epochs 0x10", "'0x10'"),
    ("compare --epochs '5 6'", "'5 6'"),
    ("compare --epochs 1e3 --seeds 0", "seeds = 0"),
    ("compare --seeds -1", "seeds = -1"),
    ("compare --seeds 1,2", "'1,2'"),
    ("compare --seeds abc", "'abc'"),
    ("compare --seeds 1001", "1001"),
    ("compare --units 0", "units = 0"),
    ("compare --units 3.5", "'3.5'"),
    ("compare --units 4096", "4096"),
    ("compare --units big", "'big'"),
    # names
    ("compare --cells alll", "'alll'"),
    ("compare --cells ALL", "'ALL'"),
    ("compare --cells 'gru lstm'", "'gru lstm'"),
    ("compare --cells gru lstm", "'lstm'"),
    ("compare --cells gru lstm --modes many_to_one", "'lstm'"),
    ("compare --cells=gru lstm", "--cells gru,lstm"),
    ("compare --cells ''", "''"),
    ("compare --cells ,", "','"),
    ("compare --cells all,gru", "'all'"),
    ("compare --cells gru,gru", "'gru'"),
    ("compare --cells GRU", "'GRU'"),
    ("compare --cells 'gru;lstm'", "'gru;lstm'"),
    ("compare --cells grux", "'grux'"),
    ("compare --cells 'g*'", "'g*'"),
    ("compare --cells ../gru", "'../gru'"),
    ("compare --modes many2one", "'many2one'"),
    ("compare --modes ''", "''"),
    ("compare --modes ALL", "'ALL'"),
    ("compare --modes 'many_to_one one_to_one'", "'many_to_one one_to_one'"),
    ("compare --modes many_to_onee", "'many_to_onee'"),
    # where runs train
    ("compare --jobs -1", "--jobs = -1"),
    ("compare --jobs 0", "--jobs = 0"),
    ("compare --jobs x", "'x'"),
    ("compare --jobs 100000", "100000"),
    ("compare --jobs 1.5", "'1.5'"),
    ("compare --jobs ''", "''"),
    ("compare --task adding,copy", "one task only; to compare several, sweep them in a config"),
    ("compare --cpus-per-task 0", "= 0"),
    ("compare --cpus-per-task -2", "-2"),
    ("compare --cpus-per-task two", "'two'"),
    ("compare --cpus-per-task 5000", "5000"),
    ("compare --executor threads", "'threads'"),
    ("compare --executor RAY", "'RAY'"),
    ("compare --executor ''", "''"),
    ("compare --executor Local", "'Local'"),
    ("compare --address 1.2.3.4:6379", "'1.2.3.4:6379'"),
    ("compare --executor ray --address nohost", "'nohost'"),
    ("compare --executor ray --address h:99999", "'h:99999'"),
    ("compare --executor ray --address h:0", "'h:0'"),
    ("compare --executor ray --address :6379", "':6379'"),
    ("compare --executor ray --address http://h:6379", "'http://h:6379'"),
    # folders
    ("compare --runs ''", "--runs = ''"),
    ("compare --runs a_file", "'a_file'"),
    ("compare --runs a_file/runs", "'a_file/runs'"),
    ("compare --runs /proc/x", "'/proc/x'"),
    ("compare --runs " + "r" * 300, "rrrr"),
    ("compare --reports mydocs", "'mydocs'"),
    ("compare --reports mydocs/thesis", "'mydocs/thesis'"),
    ("compare --reports a_file", "'a_file'"),
    ("compare --reports /proc/x", "'/proc/x'"),
    ("compare --reports ''", "--reports = ''"),
    ("compare --reports link_reports", "'link_reports'"),
    ("compare --runs r --reports r", "'r'"),
    ("compare --runs r --reports r/in", "'r/in'"),
    ("compare --runs r/in --reports r", "'r/in'"),
    ("compare --reports .", "'.'"),
    ("compare --reports ..", "'..'"),
    ("compare --reports /", "'/'"),
    ("compare --runs stored --reports stored/", "'stored' is the runs folder"),
    # flags themselves
    ("compare --epoch 5", "'--epoch'"),
    ("compare --cell gru", "'--cell'"),
    ("compare --seed 1", "'--seed'"),
    ("compare --Cells gru", "'--Cells'"),
    ("compare --quick=yes", "'yes'"),
    ("compare --tensorboard=1", "'1'"),
    ("compare --jobs", "--jobs"),
    ("compare --config", "--config"),
    ("compare extra", "'extra'"),
    ("compare --cells gru extra", "'extra'"),
    ("compar", "'compar'"),
    ("frobnicate", "'frobnicate'"),
    ("COMPARE", "'COMPARE'"),
    ("''", "''"),
    ("--help2", "'--help2'"),
    ("--cells gru compare", "'--cells'"),
    ("list extra", "'extra'"),
    # config files
    ("compare --config /proc/1/environ", "'/proc/1/environ'"),
    ("compare --config noext", "'noext'"),
    ("compare --config ./noext", "'./noext'"),
    ("compare --config folder.toml", "'folder.toml'"),
    ("compare --config mydocs", "'mydocs'"),
    ("compare --config fifo.toml", "'fifo.toml'"),
    ("compare --config big.toml", "'big.toml'"),
    ("compare --config bin.toml", "'bin.toml'"),
    ("compare --config x.yaml", "'x.yaml'"),
    ("compare --config cfg.json", "'cfg.json'"),
    ("compare --config defualt", "'defualt'"),
    ("compare --config ''", "''"),
    ("compare --config /dev/null", "'/dev/null'"),
    ("compare --config missing.toml", "'missing.toml'"),
    ("compare --config a_file/x.toml", "'a_file/x.toml'"),
    ("compare --config long_lag.v2", "'long_lag.v2'"),
    ("compare --quick --config defualt", "'defualt'"),
    ("compare --quick --epochs 0", "epochs = 0"),
    ("compare --run-timeout 0", "--run-timeout = 0"),
    ("compare --run-timeout soon", "'soon'"),
    ("compare --run-timeout 1e9", "expected at most 604,800"),
    # report
    ("report --runs nothere", "'nothere'"),
    ("report --runs a_file", "'a_file'"),
    ("report --runs ''", "''"),
    ("clean --runs ''", "''"),
    ("clean --runs a_file", "'a_file'"),
    ("clean --reports a_file", "'a_file'"),
    ("clean --run stored", "--run"),
    ("clean --reports", "--reports"),
    ("report --runs stored --reports /proc/x", "'/proc/x'"),
    ("report --runs stored --reports mydocs", "'mydocs'"),
    ("report --runs stored --reports stored", "'stored'"),
    ("report --runs stored --reports a_file", "'a_file'"),
    ("report --runs stored --reports link_reports", "'link_reports'"),
    ("report --runs stored --config defualt", "'defualt'"),
    ("report --runs stored --config /proc/1/environ", "'/proc/1/environ'"),
    ("report --cells gru", "'--cells'"),
    # new-cell
    ("new-cell Bad", "'Bad'"),
    ("new-cell 1abc", "'1abc'"),
    ("new-cell class", "'class'"),
    ("new-cell gru", "'gru'"),
    ("new-cell my-rnn", "'my-rnn'"),
    ("new-cell ''", "''"),
    ("new-cell fine_name --dir a_file", "'a_file'"),
    ("new-cell fine_name --dir /proc/nope", "'/proc/nope'"),
    ("new-cell ops", "'ops'"),
    ("new-cell café", "'café'"),
]

# (TOML text, text the one line must contain): each goes through
# `compare --config bad.toml` and `zoo.compare(config=...)`.
TOML = [
    ("epoch = 5", "'epochs' under [train]"),
    ("[train]\nlr = 0.1", "'lr'"),
    ("[task]\ntrain_stop = -5", "-5.0"),
    ('name = "../../../escaped"\nexperiment = "x"', "'../../../escaped'"),
    ('name = "a\\u0000b"', "'a\\x00b'"),
    ('name = ""', "name = ''"),
    ('name = ".hidden"', "'.hidden'"),
    ('name = "a/b"', "'a/b'"),
    ('name = "a b"', "'a b'"),
    ('name = "x\\ny"', "'x\\ny'"),
    ('name = "${HOME}"', "'${HOME}'"),
    ('name = "' + "n" * 100 + '"', "nnnn"),
    ("name = 5", "name = 5"),
    ('cells = "alll"', "'alll'"),
    ('cells = "ALL"', "'ALL'"),
    ('cells = "gru lstm"', "'gru lstm'"),
    ("cells = []", "[]"),
    ('cells = ["all", "gru"]', "'all'"),
    ('cells = ["gru", "gru"]', "'gru'"),
    ("cells = 5", "5"),
    ("cells = [5]", "[5]"),
    ('cells = ["gruu"]', "'gruu'"),
    ('cells = ["' + "c" * 5000 + '"]', "cccc"),
    ('modes = ["many2one"]', "'many2one'"),
    ('modes = "one_to_one;many_to_one"', "'one_to_one;many_to_one'"),
    ("seeds = 0", "seeds = 0"),
    ("seeds = -1", "seeds = -1"),
    ("seeds = 2.5", "seeds = 2.5"),
    ('seeds = "3"', "'3'"),
    ("seeds = true", "True"),
    ("seeds = 100000", "100000"),
    ("seeds = inf", "inf"),
    ("seeds = nan", "nan"),
    ("seeds = 2024-01-01", "2024"),
    ("units = 0", "units = 0"),
    ("units = -3", "units = -3"),
    ("units = 1e9", "1000000000"),
    ("units = [64, 128]", "[64, 128]"),
    ("param_budget = -5", "-5"),
    ("param_budget = 0", "param_budget = 0"),
    ('param_budget = "big"', "'big'"),
    ("[train]\nepochs = 0", "epochs = 0"),
    ("[train]\nepochs = 2.5", "2.5"),
    ("[train]\nepochs = 1_000_000", "1000000"),
    ("[train]\nepochs = " + "9" * 5000, "5000 digits"),
    ("[train]\nepochs = " + "9" * 4000, "4000-digit number"),
    ("[train]\nlearning_rate = 0", "learning_rate = 0.0"),
    ("[train]\nlearning_rate = -1e-3", "-0.001"),
    ("[train]\nlearning_rate = inf", "inf"),
    ("[train]\nlearning_rate = nan", "nan"),
    ('[train]\nlearning_rate = "fast"', "'fast'"),
    ("[train]\nbatch_size = 0", "batch_size = 0"),
    ("[train]\nbatch_size = 20000", "20000"),
    ('[train]\noptimizer = "adamw"', "'adamw'"),
    ('[train]\noptimizer = "Adam"', "'Adam'"),
    ('[train]\nloss = "mae2"', "'mae2'"),
    ('[train]\nloss = ["mae"]', "['mae']"),
    ("[train]\nclipnorm = 0", "clipnorm = 0.0"),
    ("[train]\nclipnorm = 1.0\nglobal_clipnorm = 2.0", "2.0"),
    ("[train]\nprobes = 0", "probes = 0"),
    ("[train]\nprobes = 5000", "5000"),
    ("[train]\nprobe_batch = -1", "-1"),
    ("[train]\ncells = [\"gru\"]", "'cells' at the top level"),
    ("[train]\nadam = {beta = 0.9}", "'adam'"),
    ("[train]\nepochs = 5\nepochs = 6", "bad.toml"),
    ("[task]\nwindow = 0", "window = 0"),
    ("[task]\nwindow = 9000", "9000"),
    ("[task]\nwindow = 5.5", "5.5"),
    ("[task]\nhorizon = 0", "horizon = 0"),
    ("[task]\ntrain_points = 3", "train_points = 3"),
    ("[task]\ntrain_points = 100000000", "100000000"),
    ("[task]\ntest_stop = 50.0", "50.0"),
    ('[task]\ntrain_start = "zero"', "'zero'"),
    ("[task]\ntrain_stop = 1e999", "inf"),
    ("[task]\nlookback = 10", "'lookback'"),
    ("[Train]\nepochs = 5", "'Train'"),
    ("[training]\nepochs = 5", "'training'"),
    ("[[train]]\nepochs = 5", "[{'epochs': 5}]"),
    ("task = 3", "task = 3"),
    ('train = "fast"', "'fast'"),
    ("[sweep]\nwindow = [5, 10]", "'window'"),
    ('[sweep]\n"task.window" = []', "[]"),
    ('[sweep]\n"task.window" = 5', "= 5"),
    ('[sweep]\n"task.window" = [5, 5]', "[5, 5]"),
    ('[sweep]\n"task.window" = [5, "x"]', "'x'"),
    ('[sweep]\n"task.window" = [5, 0]', "= 0"),
    ('[sweep]\n"train.loss" = ["mae", "huber"]', "'huber'"),
    ('[sweep]\ncells = ["gru"]', "'cells'"),
    ("[sweep]\nunits = [8, 100000]", "100000"),
    ('[sweep]\n"train.clipnorm" = ["none", "off"]', "'off'"),
    ("sweep = 5", "sweep = 5"),
    ("experiment = 5", "experiment = 5"),
    ('cells = ["gru"]\nstray = 1', "'stray'"),
    ("hidden_size = 32", "'hidden_size'"),
    ('"cells\\u0000" = 1', "'cells\\x00'"),
    ('cells = ["gru"', "bad.toml"),
    ('cells = ["gru",]]', "bad.toml"),
    ("= 5", "bad.toml"),
    ("[train]\n[train]", "bad.toml"),
    ("x = " + "[" * 5000 + "]" * 5000, "bad.toml"),
]

# (keyword arguments of zoo.compare, text the ConfigError must contain)
API = [
    (dict(jobs=-1), "jobs = -1"),
    (dict(jobs=0), "jobs = 0"),
    (dict(jobs=True), "True"),
    (dict(jobs="x"), "'x'"),
    (dict(jobs=2.5), "2.5"),
    (dict(jobs=10**6), "1000000"),
    (dict(cpus_per_task=0), "cpus_per_task = 0"),
    (dict(executor="threads"), "'threads'"),
    (dict(executor=None), "None"),
    (dict(executor=5), "5"),
    (dict(address="h:1"), "'h:1'"),
    (dict(cells="alll"), "'alll'"),
    (dict(cells=["gru", 5]), "['gru', 5]"),
    (dict(cells=5), "cells = 5"),
    (dict(cells=[]), "[]"),
    (dict(cells="gru lstm"), "'gru lstm'"),
    (dict(modes="ALL"), "'ALL'"),
    (dict(seeds=0), "seeds = 0"),
    (dict(seeds="3"), "'3'"),
    (dict(seeds=True), "True"),
    (dict(seeds=2.5), "2.5"),
    (dict(epochs=-1), "-1"),
    (dict(epochs=float("nan")), "nan"),
    (dict(epochs=10**400), "401-digit number"),
    (dict(units=0), "units = 0"),
    (dict(config=5), "config = 5"),
    (dict(config="defualt"), "'defualt'"),
    (dict(config="/proc/1/environ"), "'/proc/1/environ'"),
    (dict(runs=""), "runs = ''"),
    (dict(runs=5), "runs = 5"),
    (dict(runs="a\0b"), "'a\\x00b'"),
    (dict(runs="a_file/runs"), "'a_file/runs'"),
    (dict(reports="mydocs"), "'mydocs'"),
    (dict(runs="r", reports="r"), "'r'"),
    (dict(runs="r", reports="r/in"), "'r/in'"),
    (dict(reports=b"bytes"), "b'bytes'"),
    (dict(quick="yes"), "'yes'"),
    (dict(tensorboard="yes"), "tensorboard = 'yes'"),
    (dict(full=1), "full = 1"),
]

# (callable name, argument, text): the readers of stored runs
API_READERS = [
    ("load_runs", "nothere", "'nothere'"),
    ("load_runs", "a_file", "'a_file'"),
    ("load_runs", 5, "runs = 5"),
    ("load_runs", "", "runs = ''"),
    ("load_model", "nothere", "'nothere'"),
    ("load_model", "stored", "'stored'"),
    ("load_model", "", "path = ''"),
]

# (environment, command line, text): each in a fresh process
ENV = [
    ({"KERAS_BACKEND": "torch"}, "compare", "'torch'"),
    ({"KERAS_BACKEND": "bogus"}, "compare", "'bogus'"),
    ({"KERAS_BACKEND": ""}, "compare", "''"),
    ({"KERAS_BACKEND": "TENSORFLOW"}, "compare", "'TENSORFLOW'"),
    ({"KERAS_BACKEND": "jax "}, "compare", "'jax '"),
    ({"KERAS_BACKEND": "torch"}, "list", "'torch'"),
    ({"KERAS_BACKEND": "torch"}, "report --runs stored --config default", "'torch'"),
    ({"KERAS_BACKEND": "torch"}, "new-cell my_rnn --dir stored", "'torch'"),
    ({"RNN_ZOO_COMPILE_CACHE": "/proc/nope"}, "compare", "'/proc/nope'"),
    ({"RNN_ZOO_COMPILE_CACHE": "/dev/null"}, "compare", "'/dev/null'"),
]

# (make arguments, text): `make -s compare|report VAR=...` in the sandbox
MAKE = [
    ("compare EPOCH=5", "EPOCH=5"),
    ("compare CELS=gru", "(did you mean CELLS?)"),
    ("compare cells=gru", "cells=gru"),
    ("compare CELLS=", "CELLS"),
    ("compare QUICK=banana", "QUICK=banana"),
    ("compare TENSORBOARD=2", "TENSORBOARD=2"),
    ("compare 'CELLS=gru lstm'", "'gru lstm'"),
    ("compare EPOCHS=abc", "'abc'"),
    ("compare SEEDS=0", "seeds = 0"),
    ("compare JOBS=-1", "--jobs = -1"),
    ("compare REPORTS=/proc/x", "'/proc/x'"),
    ("compare REPORTS=mydocs", "'mydocs'"),
    ("compare EXECUTOR=threads", "'threads'"),
    ("compare CONFIG=/proc/1/environ", "'/proc/1/environ'"),
    ("compare \"CELLS=gru' ; touch pwned ; echo '\"", "touch pwned"),
    ("compare 'CELLS=$(shell touch pwned)'", "$(shell touch pwned)"),
    ("compare 'EPOC=$(shell touch pwned)'", "EPOC=$(shell touch pwned)"),
    ("report CELLS=gru", "CELLS=gru"),
    ("report RUNS=nothere", "'nothere'"),
]


# ------------------------------------------------------------------ the sandbox


def _tripwire(*args, **kwargs):
    raise AssertionError("a bad input got past the checks: training or the report started")


@pytest.fixture
def no_training(monkeypatch):
    from zoo.runs import runner

    monkeypatch.setattr(runner, "execute", _tripwire)


@pytest.fixture
def sandbox(tmp_path, monkeypatch, no_training):
    """A working folder with a user's files in it, and training and the report made impossible."""
    from zoo import report

    monkeypatch.setattr(report, "build", _tripwire)
    cwd = tmp_path / "cwd"
    (cwd / "mydocs" / "thesis").mkdir(parents=True)
    (cwd / "mydocs" / "notes.txt").write_text("my notes")
    (cwd / "mydocs" / "thesis" / "ch1.tex").write_text("chapter 1")
    (cwd / "a_file").write_text("a file")
    (cwd / "stored").mkdir()
    (cwd / "link_reports").symlink_to("mydocs")
    (cwd / "noext").write_text(VALID_TOML)
    (cwd / "folder.toml").mkdir()
    os.mkfifo(cwd / "fifo.toml")
    (cwd / "big.toml").write_text("# padding\n" * 200_000)
    (cwd / "bin.toml").write_bytes(b"\x00\xff\xfe binary \x89PNG")
    (cwd / "cfg.json").write_text('{"cells": ["gru"]}')
    monkeypatch.chdir(cwd)
    return tmp_path


def _tree(root: Path) -> dict:
    """Every path under ``root`` with its kind, size and modification time."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            tree[path.relative_to(root).as_posix()] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return tree


def _one_clean_line(err: str, expected: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    line = lines[0]
    assert expected in line, f"{expected!r} not named in: {line}"
    assert "Traceback" not in line
    return line


# ------------------------------------------------------------------ the cases


@pytest.mark.parametrize("command,expected", CLI, ids=[c for c, _ in CLI])
def test_cli_flag(sandbox, capsys, command, expected):
    before = _tree(sandbox)
    code = cli.main(shlex.split(command))
    out, err = capsys.readouterr()
    assert code == 2, err
    assert _one_clean_line(err, expected).startswith("error: ")
    assert out == ""
    assert _tree(sandbox) == before


@pytest.mark.parametrize("text,expected", TOML, ids=[t[:40] for t, _ in TOML])
def test_toml_file(sandbox, capsys, text, expected):
    from zoo import api

    (sandbox / "cwd" / "bad.toml").write_text(text)
    before = _tree(sandbox)
    code = cli.main(["compare", "--config", "bad.toml"])
    out, err = capsys.readouterr()
    assert code == 2, err
    line = _one_clean_line(err, expected)
    assert out == ""
    with pytest.raises(ConfigError) as raised:  # the API says the same
        api.compare(config="bad.toml")
    assert f"error: {raised.value}" == line
    assert _tree(sandbox) == before


@pytest.mark.parametrize("kwargs,expected", API, ids=[repr(k)[:40] for k, _ in API])
def test_api_argument(sandbox, kwargs, expected):
    from zoo import api

    before = _tree(sandbox)
    with pytest.raises(ConfigError) as raised:
        api.compare(**{"cells": "gru", "modes": "many_to_one", **kwargs})
    _one_clean_line(str(raised.value), expected)
    assert _tree(sandbox) == before


@pytest.mark.parametrize("reader,arg,expected", API_READERS, ids=[f"{r}({a!r})" for r, a, _ in API_READERS])
def test_api_reader(sandbox, reader, arg, expected):
    import zoo

    before = _tree(sandbox)
    with pytest.raises(ConfigError) as raised:
        getattr(zoo, reader)(arg)
    _one_clean_line(str(raised.value), expected)
    assert isinstance(raised.value, FileNotFoundError) or arg in ("", 5)
    assert _tree(sandbox) == before


def _env(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **extra}


@pytest.mark.parametrize("env,command,expected", ENV, ids=[f"{e}-{c}" for e, c, _ in ENV])
def test_environment(sandbox, env, command, expected):
    before = _tree(sandbox)
    done = subprocess.run([sys.executable, "-m", "zoo", *shlex.split(command)], capture_output=True, text=True,
                          env=_env(env), timeout=120)
    assert done.returncode == 2, done.stderr
    _one_clean_line(done.stderr, expected)
    assert _tree(sandbox) == before


@pytest.mark.exhaustive
def test_api_refuses_a_bad_backend_before_keras(sandbox):
    code = "import sys, zoo\ntry:\n    zoo.compare()\nexcept ValueError as e:\n    sys.exit(f'{type(e).__name__}: {e}')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env({"KERAS_BACKEND": "torch"}), timeout=120)
    assert _one_clean_line(done.stderr, "'torch'").startswith("ConfigError: KERAS_BACKEND")


MAKE_TRAILER = re.compile(r"^make(\[\d+\])?: \*\*\* \[.*\] Error \d+$")


@pytest.mark.exhaustive
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("arguments,expected", MAKE, ids=[a for a, _ in MAKE])
def test_make_variable(sandbox, arguments, expected):
    before = _tree(sandbox)
    # The project's venv is this interpreter's; -o: never reinstall it.
    command = ["make", "-s", "-f", str(ROOT / "Makefile"), "-o", f"{sys.prefix}/.installed", f"VENV={sys.prefix}",
               *shlex.split(arguments)]
    if arguments.startswith("compare"):  # never the default folders of wherever make runs
        command += [f"{var}={var.lower()}_here" for var in ("RUNS", "REPORTS") if f"{var}=" not in arguments]
    done = subprocess.run(command, capture_output=True, text=True, env=_env({}), timeout=120)
    assert done.returncode == 2, done.stderr
    # make adds its own "make: *** [compare] Error 2" when the CLI refuses; the answer is the line before.
    lines = [line for line in done.stderr.splitlines() if not MAKE_TRAILER.match(line)]
    _one_clean_line("\n".join(lines), expected)
    assert _tree(sandbox) == before


def test_the_count_of_bad_inputs():
    """The issue asks for at least 150 distinct bad inputs; every one answers cleanly above."""
    count = len(CLI) + len(TOML) + len(API) + len(API_READERS) + len(ENV) + len(MAKE) + 2  # + the two below
    assert count >= 150
    assert len(set(CLI)) == len(CLI) and len(set(TOML)) == len(TOML)


# ------------------------------------------------------------------ data loss


def _report_args(runs, reports) -> list[str]:
    return ["report", "--runs", str(runs), "--reports", str(reports)]


@pytest.fixture
def stored(tiny_runs, tmp_path, no_training):
    """A copy of the tiny grid's runs, to report from."""
    grid, runs = tiny_runs
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    return copy


@pytest.mark.exhaustive
def test_a_foreign_file_in_reports_survives_and_the_command_is_refused(stored, tmp_path, capsys):
    docs = tmp_path / "mydocs"
    (docs / "thesis").mkdir(parents=True)
    (docs / "notes.txt").write_text("mine")
    (docs / "thesis" / "ch1.tex").write_text("mine too")
    before = _tree(tmp_path)
    for command in (_report_args(stored, docs), ["compare", "--runs", str(stored), "--reports", str(docs)]):
        assert cli.main(command) == 2
        _one_clean_line(capsys.readouterr().err, "notes.txt")
        assert _tree(tmp_path) == before
    # one foreign file among an earlier report's files is enough to refuse
    report_dir = tmp_path / "reports"
    assert cli.main(_report_args(stored, report_dir)) == 0
    (report_dir / "my_edit.md").write_text("mine")
    capsys.readouterr()
    assert cli.main(_report_args(stored, report_dir)) == 2
    _one_clean_line(capsys.readouterr().err, "my_edit.md")
    assert (report_dir / "my_edit.md").read_text() == "mine"


@pytest.mark.parametrize("where", ["same", "inside", "contains"])
def test_reports_equal_to_inside_or_containing_runs_is_refused(stored, tmp_path, capsys, where):
    runs = {"same": stored, "inside": stored, "contains": stored}[where]
    reports = {"same": stored, "inside": stored / "reports", "contains": tmp_path}[where]
    before = _tree(tmp_path)
    for command in (_report_args(runs, reports), ["compare", "--runs", str(runs), "--reports", str(reports)]):
        assert cli.main(command) == 2
        line = _one_clean_line(capsys.readouterr().err, "the runs folder")
        assert {"same": " is the runs", "inside": "is inside", "contains": "contains"}[where] in line
        assert _tree(tmp_path) == before


# Every file a benchmark writes into reports/ (`out / "name"` in benchmarks/*.py), so a new one is covered.
BENCH_FILES = sorted({name for script in (ROOT / "benchmarks").glob("*.py")
                      for name in re.findall(r'out / "([\w.]+)"', script.read_text())})


@pytest.mark.exhaustive
def test_a_report_of_ours_is_replaced_twice_and_bench_files_stay(stored, tmp_path, capsys):
    assert {"benchmark.md", "worker_start.md"} <= set(BENCH_FILES)  # the scan finds make bench's files
    reports = tmp_path / "reports"
    (tmp_path / ".reports.tmp-mine").write_text("a user's file named like a leftover")
    (tmp_path / ".reports.old-notes").mkdir()
    assert cli.main(_report_args(stored, reports)) == 0
    manifest = json.loads((reports / ".rnn-zoo-report").read_text())
    assert "summary.csv" in manifest["files"] and manifest["written_by"] == "rnn-zoo"
    for name in BENCH_FILES:  # what make bench writes
        (reports / name).write_text("bench")
    assert cli.main(_report_args(stored, reports)) == 0
    assert cli.main(_report_args(stored, reports)) == 0
    assert {name: (reports / name).read_text() for name in BENCH_FILES} == dict.fromkeys(BENCH_FILES, "bench")
    # no temporary folder left, and the user's look-alikes untouched
    assert sorted(p.name for p in tmp_path.glob(".reports.*")) == [".reports.old-notes", ".reports.tmp-mine"]


@pytest.mark.exhaustive
def test_a_full_disk_while_the_report_is_written_is_one_line_and_the_old_report_stays(
    stored, tmp_path, capsys, monkeypatch
):
    from zoo import report

    reports = tmp_path / "reports"
    assert cli.main(_report_args(stored, reports)) == 0
    before = _tree(reports)
    capsys.readouterr()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report, "_write_main", full)
    assert cli.main(_report_args(stored, reports)) == 1
    line = _one_clean_line(capsys.readouterr().err, "No space left on device")
    assert "previous report is intact" in line
    assert _tree(reports) == before
    assert not list(tmp_path.glob(".reports.*"))


@pytest.mark.exhaustive
def test_report_names_damaged_run_folders(stored, tmp_path, capsys):
    victim = sorted(p for p in stored.iterdir() if not p.name.startswith("."))[0]
    (victim / "history.csv").write_text("epoch,loss\n1,")
    assert cli.main(_report_args(stored, tmp_path / "reports")) == 0
    err = capsys.readouterr().err
    assert f"damaged run folder, left out: {victim}" in err
    assert victim.name in (tmp_path / "reports" / "index.html").read_text()


@pytest.mark.exhaustive
def test_report_without_config_shows_the_grid_that_was_compared(stored, tmp_path, capsys):
    # the tiny grid is recorded under "default" by conftest; rename it as a user's grid would be
    grids = stored / ".grids"
    record = json.loads((grids / "default.json").read_text())
    record["name"] = record["grid"]["name"] = "mine"
    (grids / "default.json").unlink()
    (grids / "mine.json").write_text(json.dumps(record))
    assert cli.main(_report_args(stored, tmp_path / "reports")) == 0
    results = json.loads((tmp_path / "reports" / "grid.json").read_text())
    assert results["name"] == "mine"


@pytest.mark.exhaustive
def test_a_stored_grid_record_with_an_unsafe_name_cannot_place_a_report_outside(stored, tmp_path):
    from zoo import report

    grids = stored / ".grids"
    record = json.loads((grids / "default.json").read_text())
    record["name"] = record["grid"]["name"] = "../../escaped"
    record["grid"]["experiment"] = "a hand-edited record"
    (grids / "evil.json").write_text(json.dumps(record))
    report.build(stored, tmp_path / "reports")
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


# ------------------------------------------------------------------ a diverged grid


@pytest.mark.exhaustive
def test_a_grid_where_every_run_diverges_gets_a_report(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("diverge.toml").write_text(
        'cells = ["simple_rnn"]\nmodes = ["many_to_one", "one_to_one"]\nseeds = 1\nunits = 8\n'
        "[task]\ntrain_stop = 3.0\ntrain_points = 300\ntest_start = 100.0\ntest_stop = 106.0\ntest_points = 60\n"
        "[train]\nepochs = 2\nbatch_size = 32\nlearning_rate = 1e300\n"
    )
    assert cli.main(["compare", "--config", "diverge.toml", "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 runs diverged" in out and "simple_rnn many_to_one seed 0 diverged at epoch" in out
    page = Path("reports/index.html").read_text()
    assert "simple_rnn one_to_one seed 0 diverged at epoch" in page
    for png in ("loss_curves", "test_mae", "gradient_norms", "predictions"):
        assert Path(f"reports/{png}.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["report"]) == 0  # and again, from the stored runs
    assert "diverged at epoch" in capsys.readouterr().out


def test_log_axes_only_where_the_data_allows():
    import numpy as np

    from zoo.report import plots

    fig, (a, b) = plots.subplots(1, 2)
    a.plot([1, 2], [np.nan, np.inf])
    a.set(yscale="log", ylabel="loss (log scale)")
    b.plot([1, 2], [0.1, 1.0])
    b.set(yscale="log")
    plots.log_scale_where_possible(fig)
    assert (a.get_yscale(), b.get_yscale()) == ("linear", "log") and a.get_ylabel() == "loss"
    fig.savefig(os.devnull, format="png")


# ------------------------------------------------------------------ plugins


class _EntryPoint:
    def __init__(self, name, load):
        self.name, self.value, self.load = name, f"{name}_module", load


def _with_plugins(monkeypatch, isolated_registry, *entry_points):
    from importlib import metadata

    from zoo.core import catalog

    monkeypatch.setattr(metadata, "entry_points", lambda group=None: list(entry_points))
    monkeypatch.setattr(catalog, "_loaded", False)
    return catalog


def test_a_plugin_whose_cell_name_is_taken_fails_every_time_in_one_line(sandbox, capsys, monkeypatch,
                                                                         isolated_registry):
    def clash():
        @isolated_registry.register_cell("gru", param_count=lambda i, u: 0)
        def gru(units=64):
            """A second gru."""

    _with_plugins(monkeypatch, isolated_registry, _EntryPoint("clash", clash))
    for _ in range(2):  # not just the first call: loading is not marked done
        assert cli.main(["list"]) == 2
        line = _one_clean_line(capsys.readouterr().err, "'gru'")
        assert "registered twice" in line


def test_a_broken_plugin_warns_once_in_one_line(sandbox, capsys, monkeypatch, isolated_registry):
    import warnings

    def broken():
        raise ImportError("no module named nowhere")

    _with_plugins(monkeypatch, isolated_registry, _EntryPoint("broken", broken))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["list"]) == 0
        assert cli.main(["list"]) == 0
    assert "gru" in capsys.readouterr().out
    assert [str(w.message) for w in caught if "plugin broken" in str(w.message)] == [
        "rnn-zoo: plugin broken (broken_module) failed to load: ImportError: no module named nowhere"
    ]
    # and the CLI shows it as one line, not Python's two (file:line, then the source)
    shown = cli._one_line_warning(UserWarning(str(caught[0].message)), UserWarning, "catalog.py", 1)
    assert shown == f"warning: {caught[0].message}\n"


def test_a_ray_address_where_nothing_answers_is_one_line_and_nothing_is_written(sandbox, capsys):
    pytest.importorskip("ray")
    before = _tree(sandbox)
    assert cli.main(["compare", "--executor", "ray", "--address", "127.0.0.1:1"]) == 2
    _one_clean_line(capsys.readouterr().err, "'127.0.0.1:1'")
    assert _tree(sandbox) == before


@pytest.mark.parametrize(("call", "keyword", "nearest"), [
    ("compare", "epoch", "epochs"), ("diagnose", "los", "loss"), ("ProbeCallback", "evry", "every"),
])
def test_a_misspelt_keyword_of_the_api_names_the_valid_ones_and_the_nearest(call, keyword, nearest):
    import zoo

    with pytest.raises(TypeError) as err:  # before any work: refused on the keyword alone
        getattr(zoo, call)(**{keyword: 1})
    message = str(err.value)
    assert message.startswith(f"{call}() got an unknown keyword {keyword!r}; valid keywords: ")
    assert message.endswith(f"(did you mean {nearest!r}?)") and "\n" not in message
