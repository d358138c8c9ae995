import json

import keras
import pandas as pd
import pytest

from zoo import store
from zoo.core.grid import expand
from zoo.engine import saving


def _first_run(tiny_runs):
    grid, runs = tiny_runs
    return expand(grid)[0], runs


def test_run_folders_are_complete(tiny_runs):
    grid, runs = tiny_runs
    for run in expand(grid):
        folder = runs / run.run_id
        stored = store.read_run(folder)
        probe_files = [f"{store.PROBE_PREFIX}{name}.csv" for name in stored.probe_tables]
        assert sorted(p.name for p in folder.iterdir()) == sorted([*store.FILES, *probe_files])
        assert "probe_grad_time_profile.csv" in probe_files  # both modes run over several steps
        assert all(len(t) for t in stored.probe_tables.values())
        assert stored.config == run
        assert len(stored.history) == run.train.epochs
    assert not list(runs.glob(".tmp-*"))


def test_a_run_from_its_files_in_memory_is_the_run_read_back(tiny_runs, tmp_path):
    """``from_files`` (what a view of a fresh run gets) equals ``read_run`` of the folder written from them."""
    grid, runs = tiny_runs
    for run in expand(grid):
        read = store.read_run(runs / run.run_id)
        files = {n: (runs / run.run_id / n).read_bytes() for n in store.written_files(runs / run.run_id)}
        fresh = store.from_files(tmp_path / run.run_id, files)
        assert (fresh.config, fresh.metrics, fresh.path) == (read.config, read.metrics, tmp_path / run.run_id)
        for table in store.TABLES:
            pd.testing.assert_frame_equal(getattr(fresh, table), getattr(read, table))
        assert fresh.probe_tables.keys() == read.probe_tables.keys()
        for name, table in read.probe_tables.items():
            pd.testing.assert_frame_equal(fresh.probe_tables[name], table)


def test_saved_model_reloads_safely(tiny_runs):
    run, runs = _first_run(tiny_runs)
    model = saving.load_model(runs / run.run_id)
    assert model.count_params() == store.read_run(runs / run.run_id).metrics["params"]


def test_a_tampered_archive_holding_a_lambda_is_refused(tiny_runs, tmp_path):
    import shutil

    run, runs = _first_run(tiny_runs)
    folder = tmp_path / run.run_id
    shutil.copytree(runs / run.run_id, folder)
    inputs = keras.Input((5, 1))
    evil = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    evil.save(folder / "model.keras")  # the same file name, now with bytecode inside
    with pytest.raises(saving.UnsafeModelError, match="holds code"):
        saving.load_model(folder)


@pytest.mark.parametrize("name", ["model.h5", "model.pkl", "model.keras"])
def test_other_formats_are_refused(tmp_path, name):
    (tmp_path / name).write_bytes(b"\x80\x04not a zip archive")
    with pytest.raises(saving.UnsafeModelError, match="only .keras archives"):
        saving.load_model(tmp_path / name)


@pytest.mark.parametrize("damage", ["truncate_csv", "bad_json", "missing_file"])
def test_damaged_folder_is_detected(tiny_runs, tmp_path, damage):
    import shutil

    run, runs = _first_run(tiny_runs)
    folder = tmp_path / run.run_id
    shutil.copytree(runs / run.run_id, folder)
    if damage == "truncate_csv":
        text = (folder / "history.csv").read_text()
        (folder / "history.csv").write_text(text[: len(text) // 2])
    elif damage == "bad_json":
        (folder / "metrics.json").write_text("{not json")
    else:
        (folder / "probes.csv").unlink()
    with pytest.raises(store.CorruptRunError, match=run.run_id):
        store.read_run(folder)


def test_failed_run_is_recorded_but_not_finished(tmp_path, tiny_runs):
    run, _ = _first_run(tiny_runs)
    store.write_failed(tmp_path, run, "RuntimeError: boom")
    assert json.loads((tmp_path / run.run_id / "metrics.json").read_text())["status"] == "failed"
    assert store.is_finished(tmp_path, run) is False
