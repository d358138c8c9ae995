"""``python -m zoo clean`` (and ``make clean``): what rnn-zoo wrote goes, a user's files stay."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import cli, report
from zoo.runs import runner


def _user_files(runs, reports):
    (runs / "notes.txt").write_text("mine")
    (runs / "my-analysis").mkdir()
    (runs / "my-analysis" / "fit.py").write_text("mine")
    (reports / "draft.md").write_text("mine")
    # A folder named like a run, holding a user's file too: not ours to remove.
    lookalike = runs / "gru-many_to_one-s0-0123abcd"
    lookalike.mkdir()
    (lookalike / "config.json").write_text("{}")
    (lookalike / "thesis.tex").write_text("mine")
    # Named like a run and holding only a run's file names, but not a run (its config is not its id's).
    forged = runs / "lstm-many_to_one-s1-89abcdef"
    forged.mkdir()
    (forged / "config.json").write_text('{"cell": "mine"}')
    (runs / ".grids" / "mine.json").write_text('{"name": "not this file"}')


@pytest.mark.exhaustive
def test_clean_removes_runs_and_report_and_keeps_the_users_files(tiny_runs, tmp_path, capsys):
    grid, stored = tiny_runs
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    shutil.copytree(stored, runs)
    report.build(runs, reports, compared=grid.name)
    n_runs = sum(1 for p in runs.iterdir() if not p.name.startswith("."))
    _user_files(runs, reports)

    assert cli.main(["clean", "--runs", str(runs), "--reports", str(reports)]) == 0
    out = capsys.readouterr().out
    assert f"removed {n_runs} run folders" in out and "kept what rnn-zoo did not write" in out
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "reports/draft.md", "runs/.grids/mine.json", "runs/gru-many_to_one-s0-0123abcd/config.json",
        "runs/gru-many_to_one-s0-0123abcd/thesis.tex", "runs/lstm-many_to_one-s1-89abcdef/config.json",
        "runs/my-analysis/fit.py", "runs/notes.txt",
    ]


@pytest.mark.exhaustive
def test_clean_of_only_our_files_leaves_nothing_and_twice_is_fine(tiny_runs, tmp_path):
    grid, stored = tiny_runs
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    shutil.copytree(stored, runs)
    report.build(runs, reports, compared=grid.name)
    for _ in range(2):
        assert cli.main(["clean", "--runs", str(runs), "--reports", str(reports)]) == 0
        assert not runs.exists() and not reports.exists()


def test_a_reports_folder_without_our_manifest_is_left_alone(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "summary.md").write_text("a user's own summary")
    assert cli.main(["clean", "--runs", str(tmp_path / "runs"), "--reports", str(reports)]) == 0
    assert (reports / "summary.md").read_text() == "a user's own summary"


def test_clean_waits_for_no_compare_it_refuses_while_one_runs(tiny_runs, tmp_path, capsys):
    _, stored = tiny_runs
    runs = tmp_path / "runs"
    shutil.copytree(stored, runs)
    before = sorted(p.name for p in runs.iterdir())
    with runner.runs_lock(runs):
        assert cli.main(["clean", "--runs", str(runs), "--reports", str(tmp_path / "reports")]) == 1
    assert "in use by another compare" in capsys.readouterr().err
    assert sorted(p.name for p in runs.iterdir()) == before


@pytest.mark.exhaustive
def test_clean_imports_no_keras(tmp_path):
    import subprocess

    argv = ["clean", "--runs", str(tmp_path / "r"), "--reports", str(tmp_path / "p")]
    code = f"import sys, zoo.cli; zoo.cli.main({argv!r}); print('keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


def test_a_users_own_lock_file_is_neither_overwritten_nor_removed(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / ".lock").write_text("my lock, not a pid")
    assert cli.main(["clean", "--runs", str(runs), "--reports", str(tmp_path / "reports")]) == 0
    assert (runs / ".lock").read_text() == "my lock, not a pid"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_clean_removes_the_python_caches_of_our_folders_only(tmp_path):
    """``make clean`` walks rnn-zoo's own folders for ``__pycache__``; a user's folder beside them keeps its."""
    shutil.copy(Path(__file__).parents[1] / "Makefile", tmp_path)
    ours, users = tmp_path / "zoo" / "cells" / "__pycache__", tmp_path / "my_study" / "__pycache__"
    for cache in (ours, users):
        cache.mkdir(parents=True)
        (cache / "x.cpython-311.pyc").write_bytes(b"")
    done = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not ours.exists() and (tmp_path / "zoo" / "cells").is_dir()
    assert (users / "x.cpython-311.pyc").exists()
