"""The compile cache: a second process loads the programs the first compiled, with the same numbers."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_toml

from zoo.core.config import COMPILE_CACHE, ConfigError, compile_cache_dir

ROOT = Path(__file__).resolve().parent.parent

CONFIG = tiny_toml(cells=("gru",))


def _compare(tmp: Path, name: str, cache: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", COMPILE_CACHE: str(cache),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    done = subprocess.run([sys.executable, "-m", "zoo", "compare", "--config", str(tmp / "one.toml"), "--jobs", "1",
                           "--runs", str(tmp / name)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    (run,) = [p for p in (tmp / name).iterdir() if not p.name.startswith(".")]
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") != "jax", reason="XLA's persistent cache is JAX's")
def test_a_second_process_compiles_nothing_new_and_trains_the_same(tmp_path):
    (tmp_path / "one.toml").write_text(CONFIG)
    cache = tmp_path / "cache"
    first = _compare(tmp_path, "first", cache)
    entries = sorted(p.name for p in cache.glob("jax/*-cache"))  # one per compiled program
    assert len(entries) >= 3  # the training epoch, the evaluation and the probes at least
    second = _compare(tmp_path, "second", cache)
    assert sorted(p.name for p in cache.glob("jax/*-cache")) == entries  # every program came from the cache
    timing = ("seconds", "train_seconds", "probe_seconds")
    assert {k: v for k, v in first.items() if k not in timing} == {k: v for k, v in second.items() if k not in timing}


def test_the_default_folder_is_per_user_and_per_host(tmp_path, monkeypatch):
    monkeypatch.delenv(COMPILE_CACHE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compile_cache_dir() == tmp_path / "rnn-zoo" / "xla" / platform.node()
    assert compile_cache_dir().is_dir()


@pytest.mark.parametrize("value", ["off", "OFF", " off "])
def test_off_means_no_cache(monkeypatch, value):
    monkeypatch.setenv(COMPILE_CACHE, value)
    assert compile_cache_dir() is None


def test_an_unwritable_folder_is_refused_by_name_but_the_default_one_is_only_skipped(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(COMPILE_CACHE, str(tmp_path / "file" / "cache"))
    with pytest.raises(ConfigError, match=r"RNN_ZOO_COMPILE_CACHE = '.*file/cache': cannot keep compiled programs"):
        compile_cache_dir()
    assert compile_cache_dir(check=False) is None
    monkeypatch.delenv(COMPILE_CACHE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    assert compile_cache_dir() is None  # a default that cannot be made costs speed, never the compare


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") != "tensorflow", reason="TensorFlow's own XLA cache")
def test_tensorflow_keeps_its_compiled_programs_in_the_cache_too():
    import tensorflow as tf
    from conftest import TINY_TASK, TINY_TRAIN

    from zoo.core.config import RunConfig
    from zoo.engine import run as training

    folder = compile_cache_dir(check=False) / f"tensorflow-{tf.__version__}"
    assert f"--tf_xla_persistent_cache_directory={folder}" in os.environ["TF_XLA_FLAGS"]
    assert training.train_run(RunConfig("gru", "many_to_one", 3, 8, TINY_TASK, TINY_TRAIN)).status == "ok"
    assert list(folder.glob("*.pb"))  # written by this run, or by an earlier one of the same program
