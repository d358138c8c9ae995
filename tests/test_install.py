"""A normal, non-editable install works: the named configs ship with the
package, and the command line runs from any working directory."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("install")
    # Built from a copy of the sources: setuptools builds in the source tree (build/, *.egg-info) and
    # never prunes build/lib, so a wheel built in the checkout would leave files there and could ship a
    # module since moved or deleted.
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "runs", "reports", "logs"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"),
         str(source)], capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp / "dist").glob("rnn_zoo-*.whl")
    target = tmp / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                           str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (target / "zoo" / "configs" / "quick.toml").is_file()
    assert not (target / "zoo" / "__editable__").exists()
    return target


def _zoo(args, target: Path, cwd: Path):
    # The installed copy only: the checkout is not on the path, and the cwd is elsewhere.
    env = {**os.environ, "PYTHONPATH": str(target), "KERAS_BACKEND": "jax"}
    script = f"import sys; sys.path = [p for p in sys.path if p not in ('', {str(ROOT)!r})]; " \
             "import zoo; print('zoo from', zoo.__file__, file=sys.stderr); " \
             "from zoo.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.mark.exhaustive
def test_list_and_a_tiny_compare_run_from_an_installed_wheel(installed, tmp_path):
    listed = _zoo(["list"], installed, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "gru" in listed.stdout and "many_to_one" in listed.stdout
    assert f"zoo from {installed}" in listed.stderr  # the wheel's copy, not the checkout's
    ran = _zoo(["compare", "--quick", "--cells", "gru", "--modes", "many_to_one", "--epochs", "1"], installed, tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "trained 1 run," in ran.stdout
    assert (tmp_path / "reports" / "summary.csv").is_file()
