"""rnn-zoo: compare recurrent cells on the sine task, in loss and in gradients.

    import zoo
    res = zoo.compare(cells=["gru", "lstm"], modes=["many_to_one"], seeds=3, epochs=20)
    res.summary, res.epochs, res.plot_loss()
    zoo.load_runs("runs")
    zoo.load_model("runs/<run-id>")   # .keras only, safe_mode=True
    zoo.diagnose(model, x, y)          # your own Keras RNN: gradients through time, by layer
    model.fit(..., callbacks=[zoo.ProbeCallback(x, y, log_dir="logs")])

Importing zoo changes no process-wide setting (no environment variable, no
matplotlib backend): the defaults Keras reads at its import (JAX as the
backend) are set by the layers that import Keras (``zoo.core.process``).
"""

__version__ = "0.1.0"
from zoo.core.probe_registry import register_probe  # noqa: E402  (what a plugin imports)
from zoo.core.registry import register_cell, register_mode, register_task  # noqa: E402

__all__ = ["compare", "load_runs", "load_model", "Results", "diagnose", "ProbeCallback", "register_cell",
           "register_mode", "register_task", "register_probe"]
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
