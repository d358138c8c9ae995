import subprocess
import sys

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
