"""Cells that kill the worker process training them, for the fault-injection tests.

``dies_once`` kills its worker the first time it is built (a marker file in
``$ZOO_FAULT_DIR`` remembers), then trains like SimpleRNN; ``always_dies``
kills every worker that builds it; ``held_once`` holds its first worker (so
a test can kill it while it is certainly mid-run), then trains like SimpleRNN;
``raises_in_call`` raises inside the compiled step; ``hangs``' call never returns.
"""

import os
import signal
import time
from pathlib import Path

import keras

from zoo.core.registry import register_cell

_SIMPLE = lambda i, u: u * (i + u + 1)  # noqa: E731


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@register_cell("dies_once", param_count=_SIMPLE)
def dies_once(units: int = 64):
    """SimpleRNN whose first worker is killed."""
    marker = Path(os.environ["ZOO_FAULT_DIR"]) / "died"
    if not marker.exists():
        marker.touch()
        _die()
    return keras.layers.SimpleRNNCell(units)


@register_cell("always_dies", param_count=_SIMPLE)
def always_dies(units: int = 64):
    """A cell whose every worker is killed."""
    _die()


@register_cell("always_raises", param_count=_SIMPLE)
def always_raises(units: int = 64):
    """A cell whose builder raises: the run fails, the worker lives."""
    raise RuntimeError("injected")


@register_cell("held_once", param_count=_SIMPLE)
def held_once(units: int = 64):
    """SimpleRNN whose first worker writes ``held-<pid>`` and waits (a minute at most) for the test's kill."""
    folder = Path(os.environ["ZOO_FAULT_DIR"])
    if not list(folder.glob("held-*")):
        (folder / f"held-{os.getpid()}").touch()
        time.sleep(60)
    return keras.layers.SimpleRNNCell(units)


class _RaisesInCall(keras.layers.SimpleRNNCell):
    def call(self, inputs, states, training=False):
        raise ValueError("injected in call")  # while the backend traces the step: JAX adds its own note


@register_cell("raises_in_call", param_count=_SIMPLE)
def raises_in_call(units: int = 64):
    """A cell whose call raises inside the compiled step: the run fails with this error, not the backend's note."""
    return _RaisesInCall(units)


class _Hangs(keras.layers.SimpleRNNCell):
    def call(self, inputs, states, training=False):
        while True:  # a call that never returns: only --run-timeout ends its run
            time.sleep(1)


@register_cell("hangs", param_count=_SIMPLE)
def hangs(units: int = 64):
    """A cell whose call never returns."""
    return _Hangs(units)
