"""The keys a grid file may hold, and what people write instead.

An unknown key is answered with the field most likely meant, in its place: a
real field written in another table (``epochs`` at the top level), or a common
name for one (``lr``, ``seq_len``) from ``ALIASES``.
"""

from __future__ import annotations

import dataclasses

from zoo.core import catalog
from zoo.core.config import ConfigError, SearchSpec, TrainConfig, default_task_settings, show
from zoo.core.names import nearest_hint

GRID_KEYS = ["cells", "modes", "seeds", "units", "param_budget", "task", "train", "sweep", "search", "name",
             "experiment", "report", "quick", "full"]
SEARCH_KEYS = [f.name for f in dataclasses.fields(SearchSpec)]


# What people write for a field, and where the field lives ("" is the top
# level): an unknown key is answered with the field meant, in its place.
ALIASES = {
    **dict.fromkeys(("lr", "learningrate", "learn_rate", "step_size", "eta", "alpha"), ("train", "learning_rate")),
    **dict.fromkeys(("epoch", "n_epochs", "num_epochs", "nb_epochs", "max_epochs", "iterations"), ("train", "epochs")),
    **dict.fromkeys(("batch", "batchsize", "bs", "minibatch", "mini_batch", "batch_len"), ("train", "batch_size")),
    **dict.fromkeys(("optim", "opt", "optimiser", "solver"), ("train", "optimizer")),
    **dict.fromkeys(("loss_fn", "loss_function", "criterion", "objective", "metric"), ("train", "loss")),
    **dict.fromkeys(("clip", "clip_norm", "grad_clip", "gradient_clip", "clipvalue", "clip_value"),
                    ("train", "clipnorm")),
    **dict.fromkeys(("global_clip", "global_clip_norm", "clip_global", "max_norm"), ("train", "global_clipnorm")),
    **dict.fromkeys(("probe", "n_probes", "probe_epochs"), ("train", "probes")),
    **dict.fromkeys(("lookback", "look_back", "seq_len", "sequence_length", "seq_length", "timesteps", "time_steps",
                     "window_size", "lags", "steps", "history"), ("task", "window")),
    **dict.fromkeys(("output_steps", "forecast", "forecast_horizon", "future", "ahead"), ("task", "horizon")),
    **dict.fromkeys(("points", "n_points", "num_points", "samples", "n_samples", "length"), ("task", "train_points")),
    **dict.fromkeys(("cell", "model", "models", "rnn", "rnns", "cell_type", "cell_types", "arch"), ("", "cells")),
    **dict.fromkeys(("mode", "mapping", "mappings", "sequence_mode"), ("", "modes")),
    **dict.fromkeys(("seed", "n_seeds", "num_seeds", "repeats", "repetitions", "trials"), ("", "seeds")),
    **dict.fromkeys(("unit", "hidden", "hidden_size", "hidden_units", "hidden_dim", "num_units", "n_units", "size",
                     "width", "neurons", "state_size"), ("", "units")),
    **dict.fromkeys(("budget", "params", "parameters", "param_count", "n_params", "num_params"),
                    ("", "param_budget")),
    **dict.fromkeys(("title", "label", "id"), ("", "name")),
    **dict.fromkeys(("question", "description", "desc", "about"), ("", "experiment")),
    **dict.fromkeys(("grid", "sweeps", "vary"), ("", "sweep")),
    **dict.fromkeys(("ladder", "horizon_search", "searches"), ("", "search")),
    **dict.fromkeys(("training", "optimization", "optimisation", "fit"), ("", "train")),
    **dict.fromkeys(("data", "dataset", "series"), ("", "task")),
}  # and a table named after a task ([adding]) means [task]: see _meant


def _fields_by_table() -> dict[str, list[str]]:
    return {
        "": list(GRID_KEYS),
        "task": [f.name for f in dataclasses.fields(default_task_settings())],
        "train": [f.name for f in dataclasses.fields(TrainConfig)],
    }


def _place(table: str, field: str, here: str) -> str:
    """How to name ``field`` of ``table`` to someone writing in table ``here``."""
    if here == "sweep":
        return repr(f"{table}.{field}" if table else field)
    if table == here:
        return repr(field)
    return f"{field!r} at the top level" if not table else f"{field!r} under [{table}]"


def _meant(key: str, here: str) -> tuple[str, str] | None:
    """The (table, field) a key most likely means: a real field written in another
    place, or a common name for one (``lr``, ``epoch``)."""
    norm = str(key).strip().lower().replace("-", "_").replace(" ", "_")
    tables = _fields_by_table()
    if here == "sweep" and "." in norm:  # "train.lr", "task.seq_len"
        norm = norm.split(".")[-1]
    order = [here] + [t for t in tables if t != here] if here in tables else list(tables)
    for table in order:
        if norm in tables[table]:
            return table, norm
    if norm in catalog.list_tasks():  # [adding] for [task] name = "adding"
        return "", "task"
    return ALIASES.get(norm) or ALIASES.get(norm.rstrip("s"))


def check_keys(where: str, given: dict, allowed, table: str | None = None) -> None:
    for key in given:
        if key not in allowed:
            meant = _meant(key, table) if table is not None else None
            if meant is not None and table == "sweep" and _place(*meant, "sweep").strip("'") not in allowed:
                meant = None  # not a sweepable field
            if meant is not None and meant[0] == table and meant[1] not in allowed:
                meant = None  # a field of another task (the sine's window is no setting of adding)
            if meant is not None:
                hint = f" (did you mean {_place(*meant, table)}?"
                if meant[0] == "" and table in ("task", "train"):
                    hint += " top-level keys go before the first [table]"
                hint += ")"
            else:
                hint = nearest_hint(key, allowed)
            raise ConfigError(f"unknown key {show(key)} in {where}; valid keys: {', '.join(allowed)}" + hint)
