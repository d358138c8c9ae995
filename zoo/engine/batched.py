"""The seeds of one shape trained as one vectorized model (``jax.vmap``). JAX only.

A step of these small models is latency-bound on a GPU: S models in one step
cost little more than one (see the README's GPU section). So a GPU worker
trains all the seeds of a cell x mode (runs that differ only in seed, one
``shape_key``) at once, as replicas along a leading axis of every weight and
optimizer slot; on a CPU that is no faster (``make bench``: 0.96x with 3
seeds), and the worker plan (``zoo.runs.devices``) does not ask for it there.

Each replica is the run trained alone (``zoo.engine.run.train_run``), to
float32 rounding (``tests/test_batched.py`` checks it):
- the same initial weights: each seed's model is built after
  ``keras.utils.set_random_seed(seed)``, as ``train_run`` builds it;
- the same batches: each seed's own ``numpy`` RNG draws its permutations;
- the same compiled step, vmapped: loss, gradient, the per-step gradient
  statistics, clipping and the optimizer all act on each replica alone;
- the same probes and bookkeeping: ``Recorder`` (from ``zoo.engine.run``)
  records each replica, and calls the one-run compiled probes on its slice
  of the weights;
- divergence ends a replica at its epoch, with the weights it had then, as it
  would end the run alone; the others go on (a NaN stays in its own lane).

The TensorFlow backend keeps the per-run path (``train_run``), and so do
tasks whose data depends on the seed (adding, copy: each seed draws its own
sequences), since the replicas share one training set.
"""

from __future__ import annotations

import time
from typing import Callable

import keras
import numpy as np
from keras import ops

from zoo.core.config import RunConfig
from zoo.engine import backend, optimizers
from zoo.engine.build import Resolved, make_data, model_of
from zoo.engine.run import Recorder, RunResult, train_run
from zoo.engine.step import ENGINES, Engine

if backend.BACKEND == "jax":
    import jax
    import jax.numpy as jnp

def available() -> bool:
    """Whether this process's backend can train seeds batched (JAX only)."""
    return backend.BACKEND == "jax"


def _vmapped(eng: Engine) -> tuple[Callable, Callable]:
    """The engine's functions vmapped over seeds, compiled once per engine (so per shape)."""
    if eng.vmapped is None:
        # (tv, ntv, ov, x_all, y_all, index, mask): the data and the mask are shared.
        train_epoch = jax.jit(jax.vmap(eng.train_epoch, in_axes=(0, 0, 0, None, None, 0, None)))
        predict = jax.jit(jax.vmap(eng.predict, in_axes=(0, 0, None)))
        eng.vmapped = (train_epoch, predict)
    return eng.vmapped


def _stack(per_replica: list[list]) -> list:
    """[replica][variable] -> [variable] with a leading replica axis."""
    return [jnp.stack(values) for values in zip(*per_replica)]


def _replica(stacked: list, s: int) -> list:
    return [v[s] for v in stacked]


def _same_data(a, b) -> bool:
    return np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)


def check_group(runs: list[RunConfig]) -> None:
    """A batch is runs of one shape with distinct seeds; anything else is a caller's bug."""
    if not runs:
        raise ValueError("train_group: no runs")
    if len({r.shape_key for r in runs}) != 1:
        raise ValueError("train_group: the runs differ in more than their seed: " + ", ".join(r.run_id for r in runs))
    if len({r.seed for r in runs}) != len(runs):
        raise ValueError("train_group: a seed appears twice: " + ", ".join(r.run_id for r in runs))


def train_group(
    runs: list[RunConfig], on_epoch: Callable[[RunConfig, int, float], None] | None = None
) -> list[RunResult]:
    """Train ``runs`` (one shape, distinct seeds) as one vmapped model; a result per run, in order.

    Each result equals ``train_run(run)``'s but in its timings: an epoch's
    time is shared out equally between the replicas, so that times add up
    over runs as they do for runs trained one by one, and ``metrics.json``
    says under ``device.replicas`` how many trained together.
    """
    if not available():
        raise RuntimeError(f"training seeds batched needs the jax backend, not {backend.BACKEND}")
    check_group(runs)
    started = time.perf_counter()
    resolved = Resolved.of(runs[0])
    train = runs[0].train
    eng = ENGINES.get(resolved)
    train_epoch, predict = _vmapped(eng)
    train_w, test_w = make_data(runs[0].task, resolved.mode, runs[0].seed)
    if any(not _same_data(train_w, make_data(r.task, resolved.mode, r.seed)[0]) for r in runs[1:]):
        # Each seed draws its own data: the replicas cannot share it, so run by run.
        return [train_run(r, None if on_epoch is None else (lambda e, loss, r=r: on_epoch(r, e, loss)))
                for r in runs]

    models, tvs, ntvs = [], [], []
    for run in runs:  # each seed's model as train_run builds it
        keras.utils.set_random_seed(run.seed)
        model = model_of(resolved)
        models.append(model)
        tvs.append([v.value for v in model.trainable_variables])
        ntvs.append([v.value for v in model.non_trainable_variables])
    tv, ntv = _stack(tvs), _stack(ntvs)
    ov = _stack([optimizers.init_state(train, t) for t in tvs])
    del tvs, ntvs

    rngs = [np.random.default_rng(run.seed) for run in runs]
    x_all, y_all = ops.convert_to_tensor(train_w.x), ops.convert_to_tensor(train_w.y)
    records = [Recorder(run, eng, train_w, test_w, started) for run in runs]
    for s, rec in enumerate(records):
        rec.start(_replica(tv, s), _replica(ntv, s))
    replicas = len(runs)
    stopped: list[tuple | None] = [None] * replicas  # a diverged replica's final (tv, ntv)

    for epoch in range(1, train.periods + 1):
        t0 = time.perf_counter()
        order = np.stack([rec.order(rng) for rec, rng in zip(records, rngs)])
        tv, ntv, ov, stats = train_epoch(tv, ntv, ov, x_all, y_all, order, records[0].mask)
        stats = [np.asarray(s) for s in stats]
        train_seconds = (time.perf_counter() - t0) / replicas  # each replica's share
        pred = np.asarray(predict(tv, ntv, test_w.x))
        seconds = (time.perf_counter() - t0) / replicas
        for s, rec in enumerate(records):
            if stopped[s] is not None:
                continue  # diverged earlier: its lane computes on, unrecorded
            probed = epoch in rec.probe_at or rec.may_stop  # a run that may stop is probed where it stops
            tv_s = _replica(tv, s) if probed else None
            ntv_s = _replica(ntv, s) if probed else None
            if not rec.epoch(epoch, [st[s] for st in stats], pred[s], tv_s, ntv_s, train_seconds, seconds):
                stopped[s] = (_replica(tv, s), _replica(ntv, s))
            elif on_epoch is not None:
                on_epoch(runs[s], epoch, rec.history[-1]["loss"])
        if all(stop is not None for stop in stopped):
            break

    results = []
    for s, (rec, model) in enumerate(zip(records, models)):
        rec.device = {"replicas": replicas}
        final = stopped[s] or (_replica(tv, s), _replica(ntv, s))
        results.append(rec.result(model, *final))
    share = (time.perf_counter() - started) / replicas
    for result in results:
        result.metrics["seconds"] = share
    return results
