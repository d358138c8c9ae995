"""The compile cache: a second process loads the programs the first compiled, with the same numbers."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_toml

from zoo.core.config import (
    CLASSIC_CPU_EMITTERS,
    COMPILE_CACHE,
    ConfigError,
    compile_cache_dir,
    with_xla_flags,
    xla_cpu_flags,
)
from zoo.runs.executors import thread_env

ROOT = Path(__file__).resolve().parent.parent

CONFIG = tiny_toml(cells=("gru",))


def _compare(tmp: Path, name: str, cache: Path) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", COMPILE_CACHE: str(cache),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    # Its runs and report under tmp, never in the checkout's runs/ or reports/.
    done = subprocess.run([sys.executable, "-m", "zoo", "compare", "--config", str(tmp / "one.toml"), "--jobs", "1",
                           "--runs", str(tmp / name), "--reports", str(tmp / f"{name}-reports")],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp)
    assert done.returncode == 0, done.stderr
    (run,) = [p for p in (tmp / name).iterdir() if not p.name.startswith(".")]
    return json.loads((run / "metrics.json").read_text())


@pytest.mark.exhaustive
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "jax") != "jax", reason="XLA's persistent cache is JAX's")
def test_a_second_process_compiles_nothing_new_and_trains_the_same(tmp_path):
    (tmp_path / "one.toml").write_text(CONFIG)
    cache = tmp_path / "cache"
    first = _compare(tmp_path, "first", cache)
    entries = sorted(p.name for p in cache.glob("jax/*-cache"))  # one per compiled program
    assert len(entries) >= 3  # the training epoch, the evaluation and the probes at least
    second = _compare(tmp_path, "second", cache)
    assert sorted(p.name for p in cache.glob("jax/*-cache")) == entries  # every program came from the cache
    # Wall-clock times, and the checksums of files that hold them.
    timing = ("seconds", "train_seconds", "probe_seconds", "sha256", "sha256_metrics")
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


@pytest.mark.exhaustive  # two TensorFlow processes, each an XLA compile (22 s on an empty cache)
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


def test_xla_flags_are_added_only_where_not_given():
    assert with_xla_flags("--a=1 --b=2", "--b=3 --c=4") == "--a=1 --b=2 --c=4"
    assert with_xla_flags("", " ") == ""


@pytest.mark.parametrize("backend,library", [("jax", "libjax_common.so"),
                                             ("tensorflow", "libtensorflow_framework.so.2")])
def test_the_classic_emitters_are_asked_for_only_when_the_backends_xla_knows_the_flag(tmp_path, monkeypatch,
                                                                                       backend, library):
    import importlib.util
    from types import SimpleNamespace

    # XLA aborts on a flag it does not know: the flag's name must be in the backend's XLA library.
    monkeypatch.setenv("KERAS_BACKEND", backend)
    library = tmp_path / library
    (tmp_path / "empty.so").write_bytes(b"")
    (tmp_path / "libtensorflow_framework.so.1").write_bytes(b"")
    package = SimpleNamespace(submodule_search_locations=[tmp_path])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: package)
    library.write_bytes(b"\0" * 64 + b"xla_cpu_use_fusion_emitters\0")
    assert xla_cpu_flags() == CLASSIC_CPU_EMITTERS
    library.write_bytes(b"\0" * 64 + b"xla_cpu_use_thunk_runtime\0")  # an XLA from before (or after) the flag
    assert xla_cpu_flags() == ""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # the backend is not installed
    assert xla_cpu_flags() == ""


def test_a_worker_compiles_with_the_classic_emitters_unless_the_user_chose(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    flags = thread_env(1)["XLA_FLAGS"].split()
    assert flags[0] == "--xla_force_host_platform_device_count=2" and "--xla_cpu_multi_thread_eigen=false" in flags
    assert (CLASSIC_CPU_EMITTERS in flags) == (xla_cpu_flags() != "")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=true")
    assert thread_env(1)["XLA_FLAGS"].split().count("--xla_cpu_use_fusion_emitters=true") == 1
    assert CLASSIC_CPU_EMITTERS not in thread_env(1)["XLA_FLAGS"]
