"""The models layer: cells (``zoo.models.cells``) and modes (``zoo.models.modes``).

This is the first layer that imports Keras. Keras imports TensorFlow whenever
it is installed, and TensorFlow's native logger writes to the stderr file
descriptor at import, ignoring TF_CPP_MIN_LOG_LEVEL, so it is imported here
first, with that file descriptor sent nowhere.
"""

import os

from zoo.core.process import prepare_for_keras

prepare_for_keras()  # before Keras (and TensorFlow) can be imported


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow now, with its C++ start-up log lines sent nowhere.

    Keras imports TensorFlow whenever it is installed (to seed it, and to
    check types while saving), and TensorFlow's native logger writes to the
    stderr file descriptor at import, ignoring TF_CPP_MIN_LOG_LEVEL.
    """
    import importlib.util
    import sys

    if "tensorflow" in sys.modules:  # imported already, or kept out by zoo.runs.executors.prepare_worker
        return
    if importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


_import_tensorflow_quietly()
