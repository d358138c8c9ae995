"""The sequence-mapping modes: how the window is fed and what is predicted.

"one" is one time step (a vector), "many" is several time steps. Every mode
sees the same ``window`` past values; they differ only in the input's shape and
in the target (see ``zoo.core.tasks.sine``). Each builder takes a zero-argument cell
factory (so encoder and decoder get separate cells) and returns a
``keras.Model`` whose layers are named ``rnn`` / ``encoder`` / ``decoder`` and
``head``, the names that gradient groups and probes use.

The task sets the rest (``zoo.core.registry.TaskSpec``): ``features`` input
channels per step, and a head of ``outputs`` units with ``activation`` (one
linear value for regression; log-probabilities over k classes for
classification). ``param_count(cell, units, window, horizon, features,
outputs)`` counts the whole model in closed form.
"""

from __future__ import annotations

import keras

from zoo.core.registry import register_mode


def _head(x, outputs: int = 1, activation: str | None = None):
    # Dense on a (batch, steps, units) tensor maps every step: a per-step head.
    return keras.layers.Dense(outputs, activation=activation, name="head")(x)


def _head_params(units: int, outputs: int = 1) -> int:
    return outputs * (units + 1)


@register_mode(
    "one_to_one",
    layout="one",
    target="next",
    param_count=lambda cell, u, w, h, f=1, k=1: cell(w * f, u) + _head_params(u, k),
)
def one_to_one(make_cell, window: int, horizon: int, features: int = 1, outputs: int = 1,
               activation: str | None = None) -> keras.Model:
    """The w values as ONE step of w features -> the next value."""
    inputs = keras.Input((1, window * features), name="window")
    hidden = keras.layers.RNN(make_cell(), name="rnn")(inputs)
    return keras.Model(inputs, _head(hidden, outputs, activation), name="one_to_one")


@register_mode(
    "many_to_one",
    layout="many",
    target="next",
    param_count=lambda cell, u, w, h, f=1, k=1: cell(f, u) + _head_params(u, k),
)
def many_to_one(make_cell, window: int, horizon: int, features: int = 1, outputs: int = 1,
                activation: str | None = None) -> keras.Model:
    """w steps of one value -> the next value (the seed post's model)."""
    inputs = keras.Input((window, features), name="window")
    hidden = keras.layers.RNN(make_cell(), name="rnn")(inputs)
    return keras.Model(inputs, _head(hidden, outputs, activation), name="many_to_one")


@register_mode(
    "one_to_many",
    layout="one",
    target="horizon",
    param_count=lambda cell, u, w, h, f=1, k=1: cell(w * f, u) + _head_params(u, k),
)
def one_to_many(make_cell, window: int, horizon: int, features: int = 1, outputs: int = 1,
                activation: str | None = None) -> keras.Model:
    """The w values as one step -> the next h values, decoded by the cell over h steps."""
    inputs = keras.Input((1, window * features), name="window")
    # The one input vector is shown to the decoder at each of the h steps,
    # Keras's usual RepeatVector pattern for one-to-many.
    context = keras.layers.RepeatVector(horizon, name="repeat")(
        keras.layers.Flatten(name="flatten")(inputs)
    )
    hidden = keras.layers.RNN(make_cell(), return_sequences=True, name="rnn")(context)
    return keras.Model(inputs, _head(hidden, outputs, activation), name="one_to_many")


@register_mode(
    "many_to_many",
    layout="many",
    target="horizon",
    param_count=lambda cell, u, w, h, f=1, k=1: cell(f, u) + cell(u, u) + _head_params(u, k),
)
def many_to_many(make_cell, window: int, horizon: int, features: int = 1, outputs: int = 1,
                 activation: str | None = None) -> keras.Model:
    """w steps -> the next h values: an encoder reads, then a decoder writes (delayed)."""
    inputs = keras.Input((window, features), name="window")
    summary = keras.layers.RNN(make_cell(), name="encoder")(inputs)
    context = keras.layers.RepeatVector(horizon, name="repeat")(summary)
    hidden = keras.layers.RNN(make_cell(), return_sequences=True, name="decoder")(context)
    return keras.Model(inputs, _head(hidden, outputs, activation), name="many_to_many")


@register_mode(
    "many_to_many_synced",
    layout="many",
    target="synced",
    param_count=lambda cell, u, w, h, f=1, k=1: cell(f, u) + _head_params(u, k),
    required=False,
)
def many_to_many_synced(make_cell, window: int, horizon: int, features: int = 1, outputs: int = 1,
                        activation: str | None = None) -> keras.Model:
    """w steps -> an output at each step (sine: the next value; copy: a symbol each step)."""
    inputs = keras.Input((window, features), name="window")
    hidden = keras.layers.RNN(make_cell(), return_sequences=True, name="rnn")(inputs)
    return keras.Model(inputs, _head(hidden, outputs, activation), name="many_to_many_synced")
