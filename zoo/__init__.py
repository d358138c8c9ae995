"""rnn-zoo: compare recurrent cells on the sine task, in loss and in gradients.

    import zoo
    res = zoo.compare(cells=["gru", "lstm"], modes=["many_to_one"], seeds=3, epochs=20)
    res.summary, res.epochs, res.plot_loss()
    zoo.load_runs("runs")
    zoo.load_model("runs/<run-id>")   # .keras only, safe_mode=True
"""

import os

# The engine is written for Keras's JAX backend (see zoo/gradients.py); it must
# be chosen before Keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "jax")
# Keras imports TensorFlow for some utilities; its start-up chatter is noise here.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
__all__ = ["compare", "load_runs", "load_model", "Results"]


def __getattr__(name):
    # Lazy, so that importing zoo (as worker processes do first) loads no Keras.
    if name in __all__:
        from zoo import api

        return getattr(api, name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
