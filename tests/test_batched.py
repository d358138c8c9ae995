"""The batched path (seeds of one shape as one vmapped model) equals training each seed alone."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_TASK, TINY_TRAIN

from zoo.core.config import RunConfig, TrainConfig
from zoo.engine import batched
from zoo.engine import run as training

TIMING = ["seconds", "train_seconds"]
# float32 rounding: a vmapped matmul may sum in another order than the plain one.
RTOL, ATOL = 2e-5, 1e-6
# lyapunov_sum adds the log of every direction's growth, the smallest singular values
# of the Jacobians included, whose float32 relative error is about eps times the
# condition number: a reordered sum moved the LSTM's by 1.1e-3 of -49.85 (2.1e-5
# relative) on one CPU, while its top exponent agreed to every digit.
LOOSER = {"probes": {"lyapunov_sum": 1e-4}}


def _runs(cell, mode, seeds=(0, 1, 2), **train_changes):
    train = TrainConfig(**{**TINY_TRAIN.__dict__, **train_changes})
    return [RunConfig(cell, mode, seed=s, units=8, task=TINY_TASK, train=train) for s in seeds]


def _assert_same_run(alone, replica, replicas=3):
    assert replica.config == alone.config
    for table in ("history", "gradients", "probes", "gates", "predictions"):
        a, b = getattr(alone, table), getattr(replica, table)
        if table == "history":
            a, b = a.drop(columns=TIMING), b.drop(columns=TIMING)
        looser = LOOSER.get(table, {})
        pd.testing.assert_frame_equal(
            a.drop(columns=list(looser)), b.drop(columns=list(looser)), check_exact=False, rtol=RTOL, atol=ATOL,
            obj=f"{alone.config.run_id} {table}",
        )
        for column, rtol in looser.items():
            np.testing.assert_allclose(b[column], a[column], rtol=rtol, err_msg=f"{alone.config.run_id} {column}")
    ma, mb = dict(alone.metrics), dict(replica.metrics)
    for key in ("status", "diverged_epoch", "diverged_in", "epochs_run", "params", "steps"):
        assert ma[key] == mb[key], key
    for key in ("loss", "test_mae", "test_mse", "decay_rate"):
        np.testing.assert_allclose(mb[key], ma[key], rtol=RTOL, atol=ATOL, err_msg=key)
    assert ma["device"]["kind"] == mb["device"]["kind"] == "cpu"
    assert "replicas" not in ma["device"] and mb["device"]["replicas"] == replicas


@pytest.mark.parametrize(
    "cell, mode, changes",
    [
        # the post's model, clipped at every step (clipping acts per replica)
        ("gru", "many_to_one", {"global_clipnorm": 1e-3}),
        # two recurrent layers, a gated cell with two states, a sequence out, MSE, per-variable clipping
        ("lstm", "many_to_many", {"clipnorm": 0.05, "loss": "mse"}),
    ],
)
@pytest.mark.exhaustive
def test_each_seed_of_a_batch_is_the_run_trained_alone(cell, mode, changes):
    runs = _runs(cell, mode, **changes)
    seen = []
    together = batched.train_group(runs, on_epoch=lambda run, epoch, loss: seen.append((run.seed, epoch)))
    assert sorted(seen) == [(s, e) for s in (0, 1, 2) for e in (1, 2)]
    assert (together[0].history.clipped_steps > 0).all()  # the clipping really acted
    for run, replica in zip(runs, together):
        _assert_same_run(training.train_run(run), replica)
    # different seeds really are different models
    assert together[0].metrics["loss"] != together[1].metrics["loss"]


def test_a_diverging_replica_stops_where_it_would_alone_and_the_other_goes_on():
    # SGD at this rate: seed 1 trains, seed 2 blows up at epoch 3 (alone as in the batch).
    runs = _runs("gru", "many_to_one", seeds=(1, 2), epochs=4, optimizer="sgd", learning_rate=1.0, loss="mse")
    together = batched.train_group(runs)
    assert [(r.status, r.metrics["epochs_run"]) for r in together] == [("ok", 4), ("diverged", 3)]
    for run, replica in zip(runs, together):
        _assert_same_run(training.train_run(run), replica, replicas=2)


def test_only_runs_of_one_shape_with_distinct_seeds_batch():
    with pytest.raises(ValueError, match="differ in more than their seed"):
        batched.check_group(_runs("gru", "many_to_one", seeds=(0,)) + _runs("lstm", "many_to_one", seeds=(1,)))
    with pytest.raises(ValueError, match="a seed appears twice"):
        batched.check_group(_runs("gru", "many_to_one", seeds=(0, 0)))


def test_a_batched_run_folder_says_how_it_trained():
    from zoo import store

    (result,) = batched.train_group(_runs("gru", "one_to_one", seeds=(4,), epochs=1))
    metrics = json.loads(store.run_files(result)["metrics.json"])
    assert metrics["device"]["replicas"] == 1 and metrics["device"]["kind"] == "cpu"


@pytest.mark.exhaustive
def test_the_local_executor_trains_each_shape_as_one_task_in_its_planned_environment(tmp_path):
    # A plan as on a machine with two GPUs, run on the CPU: each worker gets its
    # environment before its backend starts (XLA splits the host into 3
    # devices, which only a variable read at start-up can do), its own
    # CUDA_VISIBLE_DEVICES, and a whole shape (both seeds) as one batched task.
    from conftest import tiny_grid

    from zoo import store
    from zoo.core.grid import expand
    from zoo.runs import runner
    from zoo.runs.devices import WorkerPlan
    from zoo.runs.executors.local import LocalExecutor

    env = {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=3"}
    plan = WorkerPlan("gpu", 2, env, batch_seeds=True, note="two fake GPUs", gpus=("0", "1"))
    grid = tiny_grid(cells=("gru",), modes=("many_to_one", "one_to_many"), seeds=2)
    said = []
    outcome = runner.execute(grid, tmp_path, executor=LocalExecutor(plan=plan), say=said.append)
    assert outcome.trained == 4 and not outcome.failed and "two fake GPUs" in said
    visible = {}
    for run in expand(grid):
        stored = store.read_run(tmp_path / run.run_id)
        device = stored.metrics["device"]
        assert (device["kind"], device["count"], device["replicas"]) == ("cpu", 3, 2)
        visible.setdefault(run.mode, set()).add(device["visible"])
        if (run.mode, run.seed) == ("many_to_one", 1):
            alone = training.train_run(run)
            pd.testing.assert_frame_equal(
                stored.history.drop(columns=TIMING), alone.history.drop(columns=TIMING), check_exact=False, rtol=RTOL
            )
    # one task per shape, one worker each: both seeds of a shape on the same "GPU", the shapes on two
    assert sorted(v for s in visible.values() for v in s) == ["0", "1"]


@pytest.mark.exhaustive
def test_a_batch_that_kills_its_worker_is_retried_run_by_run_on_the_same_worker_slot(
    tmp_path, isolated_registry, monkeypatch
):
    import dataclasses
    import importlib

    from test_faults import _faulty_grid

    from zoo.core.grid import expand
    from zoo.runs import runner
    from zoo.runs.devices import WorkerPlan
    from zoo.runs.executors import local

    monkeypatch.setenv("ZOO_FAULT_DIR", str(tmp_path))
    importlib.reload(importlib.import_module("faulty_cells"))
    spawned = []

    class Recorded(local._Worker):
        def __init__(self, context, index, threads, env):
            spawned.append((index, env["CUDA_VISIBLE_DEVICES"]))
            super().__init__(context, index, threads, env)

    monkeypatch.setattr(local, "_Worker", Recorded)
    plan = WorkerPlan("gpu", 2, {"JAX_PLATFORMS": "cpu"}, batch_seeds=True, note="", gpus=("a", "b"))
    grid = dataclasses.replace(_faulty_grid("always_dies,dies_once"), seeds=2)
    outcome = runner.execute(grid, tmp_path / "runs", executor=local.LocalExecutor(plan=plan), say=lambda m: None)
    # always_dies: its batch killed a worker, then each seed alone killed one more
    assert sorted(f.split("-s")[0] for f in outcome.failed) == ["always_dies-many_to_one"] * 2
    for run in expand(grid):
        metrics = json.loads((tmp_path / "runs" / run.run_id / "metrics.json").read_text())
        if run.cell == "dies_once":  # its batch killed a worker once; each seed then trained alone
            assert metrics["status"] == "ok" and "replicas" not in metrics["device"]
    # 2 workers, then one replacement per death (1 batch + 2 runs of always_dies, 1 batch of dies_once),
    # each on the slot (index, GPU) of the worker it replaces
    assert len(spawned) == 2 + 4 and set(spawned) == {(0, "a"), (1, "b")}
