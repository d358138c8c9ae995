"""rnn-zoo: compare recurrent cells on the sine task, in loss and in gradients.

    import zoo
    res = zoo.compare(cells=["gru", "lstm"], modes=["many_to_one"], seeds=3, epochs=20)
    res.summary, res.epochs, res.plot_loss()
    zoo.load_runs("runs")
    zoo.load_model("runs/<run-id>")   # .keras only, safe_mode=True
    zoo.diagnose(model, x, y)          # your own Keras RNN: gradients through time, by layer
    model.fit(..., callbacks=[zoo.ProbeCallback(x, y, log_dir="logs")])
"""

import os

from zoo.core.config import DEFAULT_BACKEND

# The process environment is the one place Keras reads its backend from, once,
# at its first import: rnn-zoo's default must be set before that.
os.environ.setdefault("KERAS_BACKEND", DEFAULT_BACKEND)
# Keras imports TensorFlow for some utilities; its start-up chatter is noise here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
from zoo.core.registry import register_cell, register_mode, register_task  # noqa: E402  (what a plugin imports)

__all__ = ["compare", "load_runs", "load_model", "Results", "diagnose", "ProbeCallback", "register_cell",
           "register_mode", "register_task"]
_API = ("compare", "load_runs", "load_model", "Results", "diagnose")


def __getattr__(name):
    # Lazy, so that importing zoo (as worker processes do first) loads no Keras.
    if name in _API:
        from zoo import api

        return getattr(api, name)
    if name == "ProbeCallback":
        from zoo import callback

        return callback.ProbeCallback
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
