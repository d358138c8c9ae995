"""The ``Diagnoser``: every probe of a user's model, compiled once, measured at any weights.

For each recurrent layer (``zoo.engine.diagnose.layers``) it runs the
registered probes' own code with the layer's cell path, mask and reading
order: dL/dx by lag (``zoo.probes.input_gradient``'s ``finish``, on the
gradient at the layer's input, all layers' from one backward pass),
‖dh_T/dh_t‖ by lag and the top exponent (``zoo.probes.state_jacobian``'s
``chain_fn`` and ``finish``), the spectrum (``zoo.probes.spectrum``'s
``spectrum_fn``) and the gates (``zoo.probes.gates``' ``gate_means_fn``); and
the gradient of every weight group. The other registered probes run through
``zoo.engine.diagnose.registered``. Everything takes the weights as
arguments, so a callback probes every epoch without compiling again.
"""

from __future__ import annotations

import importlib
import math
from contextlib import contextmanager

import keras
import numpy as np
from keras import ops

from zoo.engine import backend, probes
from zoo.engine.build import group_kind
from zoo.engine.diagnose.checks import DiagnoseError, check_data, check_model, per_sample_loss_fn
from zoo.engine.diagnose.layers import Recurrent, capturing, find_recurrent, first_look, gate_function, ordered
from zoo.engine.diagnose.registered import RegisteredProbes
from zoo.engine.probe_program import compiled_with_xla

# The registered probes whose code runs here on every layer, masked or backward too.
GATES = importlib.import_module("zoo.probes.gates.measure")
SPECTRUM = importlib.import_module("zoo.probes.spectrum.measure")
INPUT_GRADIENT = importlib.import_module("zoo.probes.input_gradient.measure")
STATE_JACOBIAN = importlib.import_module("zoo.probes.state_jacobian.measure")
HISTOGRAM_BINS = 30


class Diagnoser:
    """Compiled probes of one model on a probe batch of fixed shape.

    ``measure(x, y)`` returns the raw numbers (numpy) of every recurrent layer
    at the model's current weights; ``zoo.report.diagnosis.Diagnosis`` turns
    them into tables and figures. Building one checks everything first:
    ``DiagnoseError`` (one line) for a model, data or loss it cannot measure.
    """

    def __init__(self, model: keras.Model, x, y, loss=None, spectrum_sequences: int | None = None):
        check_model(model)
        # The spectrum (an SVD and a QR step per step and sequence: its cost grows with steps x n^3)
        # is taken over the zoo's share of the batch (``probes.spectrum_batch``), or over at most this many.
        self.spectrum_sequences = spectrum_sequences
        self.model = model
        self.layers = find_recurrent(model)
        if not self.layers:
            kinds = sorted({type(layer).__name__ for layer in model._flatten_layers(include_self=False)})
            raise DiagnoseError(
                f"model {model.name!r} has no recurrent layer (it has {', '.join(kinds) or 'no layers'}); "
                "zoo.diagnose and ProbeCallback measure SimpleRNN, GRU, LSTM, RNN(cell) and Bidirectional layers")
        x, y = check_data(model, x, y)
        self.loss = per_sample_loss_fn(model, loss)
        self.batch = len(x)
        # training=False where the model's call takes it (a subclassed model's may not)
        self._not_training = {"training": False} if getattr(model, "_call_has_training_arg", True) else {}
        # One eager call: shapes, masks and the parity check of each cell path.
        self.input_shapes, self.masked = first_look(model, self.layers, self.loss, x, y, self._not_training)
        self._compile()
        self._registered: RegisteredProbes | None = None  # compiled at the first ``registered``

    # -- the compiled functions, built once
    def _compile(self) -> None:
        model, layers, loss = self.model, self.layers, self.loss
        self.paths = [v.path for v in model.trainable_variables]
        owner = {}
        for rec in layers:
            declared = getattr(rec.cell, "RECURRENT_WEIGHTS", None) or ()  # as StepContext.weight_groups
            for v in rec.cell.trainable_variables:
                owner[id(v)] = (rec.name, declared)
        groups = []
        for v in model.trainable_variables:
            leaf = v.path.split("/")[-1]
            if id(v) in owner:
                name, declared = owner[id(v)]
                groups.append(f"{name}.{group_kind(leaf, leaf in declared)}")
            else:
                path = v.path.removeprefix(f"{model.name}/")  # Sequential's paths start with its name
                groups.append(path.replace("/", "."))
        self.group_of = groups
        self.groups = list(dict.fromkeys(groups))

        def forward(params, ntv, x, y):
            deltas, tv = params
            with capturing(layers, deltas) as captured:
                pred, _ = model.stateless_call(tv, ntv, x, **self._not_training)
            total = ops.sum(loss(y, pred))
            inputs = [ops.convert_to_tensor(c[0]) for c in captured]
            masks = [ops.ones(c[0].shape[:2]) if c[1] is None else ops.cast(c[1], "float32") for c in captured]
            return total, (inputs, masks)

        value_and_grad = backend.value_and_grad(forward)

        def gradients(tv, ntv, x, y):
            deltas = [ops.zeros(shape) for shape in self.input_shapes]
            (total, (inputs, masks)), (d_inputs, d_tv) = value_and_grad((deltas, tv), ntv, x, y)
            d_tv = [_dense(g, v) for g, v in zip(d_tv, tv)]
            return total, inputs, masks, list(d_inputs), d_tv

        self.gradients = backend.compile_fn(gradients)
        self.chains, self.spectra, self.gates = [], [], []
        for rec, masked in zip(layers, self.masked):
            sizes, step = probes.cell_step(rec.cell, masked=masked)
            self.chains.append(backend.compile_fn(STATE_JACOBIAN.chain_fn(sizes, step)))
            # Outside XLA on TensorFlow, as the zoo's own probes (its XLA SVD is slow on a CPU).
            stats = SPECTRUM.spectrum_fn(sizes, step, backend.batch_jacobian, backend.scan)
            self.spectra.append(backend.compile_fn(stats, xla=compiled_with_xla(SPECTRUM)))
            gates = gate_function(rec.cell)
            self.gates.append(
                backend.compile_fn(GATES.gate_means_fn(rec.cell, gates, rec.cell.trainable_variables, backend.scan))
                if gates is not None else None)

    def cell_values(self, rec: Recurrent, tv) -> list:
        index = [self.paths.index(v.path) for v in rec.cell.trainable_variables]
        return [tv[i] for i in index]

    def measure(self, x, y, tv=None, ntv=None, spectrum: bool = True) -> dict:
        """Every layer's probes at the weights ``tv``, ``ntv`` (default: the model's own).

        ``spectrum=False`` leaves out the one-step Jacobian's spectrum (its columns NaN; the
        top exponent, from the lag chain, stays): its SVDs and QR steps are most of the cost."""
        model = self.model
        tv = [v.value for v in model.trainable_variables] if tv is None else tv
        ntv = [v.value for v in model.non_trainable_variables] if ntv is None else ntv
        x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y)
        total, inputs, masks, d_inputs, d_tv = self.gradients(tv, ntv, x, y)
        batch = int(x.shape[0])
        layer_rows, probe_rows, gate_rows = [], [], []
        for k, rec in enumerate(self.layers):
            mask = np.asarray(ops.convert_to_numpy(masks[k]), np.float64) > 0
            grads = np.asarray(ops.convert_to_numpy(d_inputs[k]), np.float64)
            if rec.go_backwards:
                mask, grads = mask[:, ::-1], grads[:, ::-1]
            xs = ordered(rec, inputs[k], masks[k] if self.masked[k] else None)
            cell_vars = self.cell_values(rec, tv)
            # The registered probes' own NumPy steps; with the mask (in reading order), lags count real steps.
            by_mask = {"mask": mask} if self.masked[k] else {}
            with _one_blas_thread():
                jacobian = STATE_JACOBIAN.finish({**self.chains[k](cell_vars, xs), **by_mask})
            dh, top = jacobian["dhT_dht"], float(jacobian["lyapunov_top"][0])
            dl_dx = INPUT_GRADIENT.finish({"grads": grads, "mask": mask})["dL_dx"]
            sequences = probes.spectrum_batch(int(xs.shape[1]))
            if self.spectrum_sequences is not None:
                sequences = min(sequences, self.spectrum_sequences)
            stats = {key: float(v) for key, v in self.spectra[k](cell_vars, xs[:sequences]).items()} if spectrum \
                else {key: math.nan for key in probes.SPECTRUM_COLUMNS}
            stats["lyapunov_top"] = top
            for lag in range(len(dh)):
                probe_rows.append({
                    "layer": rec.name, "lag": lag,
                    "dL_dx": float(dl_dx[lag]) if lag < len(dl_dx) else None,
                    "dhT_dht": float(dh[lag]),
                    **{c: stats.get(c) for c in probes.SPECTRUM_COLUMNS},
                })
            if self.gates[k] is not None:
                seq = ops.flip(inputs[k], 1) if rec.go_backwards else inputs[k]
                for name, value in sorted(self.gates[k](cell_vars, seq).items()):
                    gate_rows.append({"layer": rec.name, "gate": name, "mean": float(value)})
            layer_rows.append({
                "layer": rec.name, "kind": rec.kind, "cell": type(rec.cell).__name__, "units": rec.units,
                "state_size": int(sum(probes.state_sizes(rec.cell))), "steps": int(mask.shape[1]),
                "masked": self.masked[k], "go_backwards": rec.go_backwards,
            })
        grad_rows, histograms = [], {}
        values = [np.asarray(ops.convert_to_numpy(g), np.float64) / batch for g in d_tv]  # of the mean loss
        for group in self.groups:
            flat = np.concatenate([v.ravel() for v, g in zip(values, self.group_of) if g == group])
            grad_rows.append({"group": group, "norm": float(np.sqrt(np.sum(flat**2))),
                              "max_abs": float(np.max(np.abs(flat))), "size": int(flat.size)})
            histograms[group] = flat
        return {
            "loss": float(ops.convert_to_numpy(total)) / batch,
            "layers": layer_rows, "probes": probe_rows, "gradients": grad_rows, "gates": gate_rows,
            "histograms": histograms,
        }


    def registered(self, x, y, tv=None, ntv=None) -> tuple[dict[str, list[dict]], list[str]]:
        """Every other registered probe (``zoo.probes``) on every layer it applies to, run by the probe's
        own ``measure``: rows by probe name (a ``layer`` column, then the probe's unit and columns), and
        a line for each probe and layer it does not apply to, saying why. Compiled at the first call."""
        if self._registered is None:
            self._registered = RegisteredProbes(self)
        tv = [v.value for v in self.model.trainable_variables] if tv is None else tv
        ntv = [v.value for v in self.model.non_trainable_variables] if ntv is None else ntv
        tables = self._registered.tables(tv, ntv, ops.convert_to_tensor(x), ops.convert_to_tensor(y))
        return tables, list(self._registered.notes)


def _dense(grad, like):
    """A gradient as a dense tensor: TensorFlow gives an Embedding's as IndexedSlices, and None for unused weights."""
    if grad is None:
        return ops.zeros(like.shape, like.dtype)
    if backend.BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.convert_to_tensor(grad)
    return grad



@contextmanager
def _one_blas_thread():
    """numpy's LAPACK on one thread for the small SVDs here: beside XLA's or TensorFlow's busy
    thread pools, a multi-threaded OpenBLAS spun 100x longer (2.7 s instead of 0.03 s for eight
    128 x 128 matrices), most of a callback's per-epoch cost."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield



def histogram(values: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    """A histogram of ``values`` as TensorBoard's HistogramProto fields."""
    values = np.asarray(values, np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        finite = np.zeros(1)
    counts, edges = np.histogram(finite, bins=bins)
    return {
        "min": float(finite.min()), "max": float(finite.max()), "num": float(len(finite)),
        "sum": float(finite.sum()), "sum_squares": float(np.sum(finite**2)),
        "bucket_limit": [float(e) for e in edges[1:]], "bucket": [float(c) for c in counts],
    }


def is_finite(number) -> bool:
    return number is not None and math.isfinite(number)
