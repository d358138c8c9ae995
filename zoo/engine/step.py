"""The compiled training epoch of one model shape, shared by all its seeds.

The loop is Keras's stateless API (``stateless_call``) under one compiled
function per epoch, so an epoch is one call into XLA (the
``steps_per_execution`` idea taken to the whole epoch). The gradient
statistics (global norm, clipped steps, and the registered step statistics of
``zoo.engine.step_probes``, such as the norm per weight group) are computed in
the same graph, from the raw gradient, before the optimizer clips it.
"""

from __future__ import annotations

from collections import OrderedDict

from keras import ops

from zoo.engine import backend, optimizers
from zoo.engine.build import Resolved, model_of
from zoo.engine.losses import per_sample_loss
from zoo.engine.step_probes import StepContext, StepProbes


def model_key(resolved: Resolved) -> tuple:
    """What the probes depend on: the model, the loss and the probe batch (its size is
    fixed in TensorFlow's traced probes), not the optimizer or clipping. The probe program
    (``zoo.engine.probe_program.PROGRAMS``) is compiled once per key."""
    run = resolved.run
    return (run.cell, run.mode, run.units, run.task, resolved.loss, run.train.probe_batch, run.backend, run.code)


class Engine:
    """Compiled functions for one model shape (a cell x mode x settings).

    ``instrument=False`` leaves out the per-step gradient statistics (their
    columns come back as zeros); ``make bench`` uses it to measure what the
    statistics cost. Runs always train instrumented.
    """

    def __init__(self, resolved: Resolved, instrument: bool = True):
        train = resolved.run.train
        self.resolved = resolved
        self.model_key = model_key(resolved)
        self.template = model_of(resolved)
        model, loss_kind = self.template, resolved.loss
        # The registered statistics of each step (the norm per weight group): one vector per step.
        step_context = StepContext(model, resolved.mode.layout, loss_kind, resolved.cell)
        self.weight_groups = list(step_context.weight_groups())  # their names (StepContext.weight_groups)
        self.step_probes = StepProbes(step_context, [v.value for v in model.trainable_variables])
        needs_norms = instrument or train.clipnorm is not None or train.global_clipnorm is not None

        def batch_loss(tv, ntv, x, y, mask):
            pred, ntv = model.stateless_call(tv, ntv, x, training=True)
            return ops.sum(per_sample_loss(loss_kind, pred, y) * mask) / ops.sum(mask), ntv

        loss_and_grads = backend.value_and_grad(batch_loss)

        def train_step(carry, batch):
            tv, ntv, ov, x_all, y_all = carry
            index, mask = batch
            x, y = ops.take(x_all, index, axis=0), ops.take(y_all, index, axis=0)
            (loss, ntv), grads = loss_and_grads(tv, ntv, x, y, mask)
            tv_before = tv  # the weights the gradient was taken at
            norms = [ops.sqrt(ops.sum(ops.square(g))) for g in grads] if needs_norms else None
            tv, ov, clipped = optimizers.apply(train, ov, grads, tv, norms)
            if instrument:
                global_norm = ops.sqrt(ops.sum(ops.square(ops.stack(norms))))
                stats = (loss, global_norm, self.step_probes(grads, tv_before), clipped)
            else:
                stats = (loss, ops.zeros(()), ops.zeros(self.step_probes.size), clipped)
            return (tv, ntv, ov, x_all, y_all), stats

        def train_epoch(tv, ntv, ov, x_all, y_all, index, mask):
            (tv, ntv, ov, _, _), stats = backend.scan(train_step, (tv, ntv, ov, x_all, y_all), (index, mask))
            return tv, ntv, ov, stats

        def predict(tv, ntv, x):
            return model.stateless_call(tv, ntv, x, training=False)[0]

        self.train_epoch = backend.compile_fn(train_epoch)
        self.predict = backend.compile_fn(predict)
        # train_epoch and predict vmapped over seeds (zoo.engine.batched), compiled on first use:
        # held here, so they live and go with the engine and its cache (ENGINES).
        self.vmapped: tuple | None = None


class EngineCache:
    """Compiled engines by model shape, so the seeds of a cell x mode compile once.

    One per worker process (``ENGINES``); bounded, since a worker may train
    many shapes in a long grid.
    """

    def __init__(self, maxsize: int = 16):
        self.maxsize = maxsize
        self._engines: OrderedDict = OrderedDict()

    def get(self, resolved: Resolved, instrument: bool = True) -> Engine:
        key = (resolved.run.engine_key, instrument)
        if key not in self._engines:
            self._engines[key] = Engine(resolved, instrument)
            if len(self._engines) > self.maxsize:
                self._engines.popitem(last=False)
        self._engines.move_to_end(key)
        return self._engines[key]


ENGINES = EngineCache()
