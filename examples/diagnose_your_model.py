"""Diagnose your own Keras RNN: a text-like classifier trained with fit and zoo.ProbeCallback,
then zoo.diagnose and its HTML report.

The task: sequences of token ids (1-9, 0 = padding at the end, masked by the
embedding) whose class is the FIRST token's parity, so the model must carry
one token's information across the whole sequence: the gradient through time
is what decides whether it learns.

    python examples/diagnose_your_model.py            # 40 steps, 20 epochs
    python examples/diagnose_your_model.py --quick    # 17 s on 2 cores, 53 s the first time (it compiles); CI runs it
    tensorboard --logdir diagnose_out/logs            # the probes, per lag and per weight group
    python -m zoo report --runs diagnose_out/runs --reports diagnose_out/runs_report   # beside any zoo runs
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# This script runs on JAX unless KERAS_BACKEND says otherwise. zoo itself picks no backend for your
# model: it diagnoses it on whichever one your Keras runs (Keras's own default is TensorFlow).
os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402  (after the backend is chosen)
import numpy as np  # noqa: E402

import zoo  # noqa: E402


def make_data(n: int, steps: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 10, size=(n, steps))
    lengths = rng.integers(steps // 2, steps + 1, size=n)
    x[np.arange(steps)[None, :] >= lengths[:, None]] = 0  # padding, masked by the embedding
    y = x[:, 0] % 2
    return x, y


def build(steps: int, units: int) -> keras.Model:
    """A user's model: embedding with mask_zero, two stacked LSTMs, a softmax head."""
    inputs = keras.Input((steps,), dtype="int32")
    h = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    h = keras.layers.LSTM(units, return_sequences=True, name="lstm_1")(h)
    h = keras.layers.LSTM(units, name="lstm_2")(h)
    outputs = keras.layers.Dense(2, activation="softmax")(h)
    return keras.Model(inputs, outputs, name="first_token_parity")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 epochs (for CI)")
    parser.add_argument("--out", default="diagnose_out", help="folder for logs/, runs/ and report/")
    args = parser.parse_args(argv)
    steps, units, n, epochs = (8, 4, 64, 2) if args.quick else (40, 32, 2048, 20)
    out = Path(args.out)

    keras.utils.set_random_seed(0)
    x, y = make_data(n, steps)
    x_val, y_val = make_data(256 if not args.quick else 16, steps, seed=1)
    model = build(steps, units)
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])

    # 1. Train with the probe callback: TensorBoard logs every epoch, and at the end a run folder per
    #    recurrent layer in runs/ (the zoo's own runs folder would do: the report shows them side by side).
    probe = zoo.ProbeCallback(x_val, y_val, every=1, log_dir=out / "logs", runs=out / "runs")
    model.fit(x, y, epochs=epochs, batch_size=64, validation_data=(x_val, y_val), verbose=0, callbacks=[probe])
    print(probe.history[["epoch", "loss", "grad_norm_mean"]].to_string(index=False))
    first, last = probe.probes.epoch.min(), probe.probes.epoch.max()
    for epoch in (first, last):
        rows = probe.probes[(probe.probes.epoch == epoch) & (probe.probes.layer == "lstm_1")]
        print(f"epoch {epoch}: ‖dh_T/dh_1‖ of lstm_1 = {rows.dhT_dht.iloc[-2]:.3g}")

    # 2. Diagnose the trained model on a batch: every recurrent layer, as DataFrames and figures.
    diagnosis = zoo.diagnose(model, x_val[:16], y_val[:16])
    print(diagnosis.layers[["layer", "kind", "decay_factor", "lyapunov_top", "jac_sigma_max"]].to_string(index=False))

    # 3. The HTML report.
    folder = diagnosis.report(out / "report")
    print(f"report: {folder / 'index.html'}")


if __name__ == "__main__":
    main()
