"""Property tests: random configs thrown at the loader.

Every input is either accepted, and then its runs build (windows, models of
the declared size), or refused with one ``ConfigError`` line; never another
exception.
"""

import tomllib

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from zoo.core import catalog as registry
from zoo.core.config import ConfigError, GridConfig
from zoo.core.grid import expand
from zoo.core.loading import CONFIG_DIR, grid_from_dict, grid_to_dict, load_grid
from zoo.engine import run as training

DEFAULT = grid_to_dict(GridConfig())
NAMES = registry.list_cells() + registry.list_modes() + ["all", "gruu", "", "none"]

scalars = st.one_of(
    st.integers(-3, 200),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0.0, 300.0),
    st.booleans(),
    st.sampled_from(NAMES),
    st.text(max_size=8),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.lists(st.sampled_from(NAMES), max_size=4))


def _table(keys: list[str]):
    # Mostly real keys, sometimes a stray one; values of any type.
    key = st.one_of(st.sampled_from(keys), st.text(min_size=1, max_size=10))
    return st.dictionaries(key, values, max_size=4)


random_configs = st.fixed_dictionaries(
    {},
    optional={
        "cells": st.one_of(values, st.lists(st.sampled_from(registry.list_cells()), min_size=1, max_size=3)),
        "modes": st.one_of(values, st.lists(st.sampled_from(registry.list_modes()), min_size=1, max_size=2)),
        "seeds": values,
        "units": st.one_of(st.integers(1, 16), values),
        "param_budget": values,
        "task": st.one_of(_table(list(DEFAULT["task"])), values),
        "train": st.one_of(_table(list(DEFAULT["train"])), values),
        "sweep": st.one_of(st.dictionaries(st.sampled_from(["units", "task.window", "train.loss"]), values), values),
        "stray": values,
    },
)



@st.composite
def near_default_configs(draw):
    """The default config with one or two fields changed: mostly valid, so the
    accepted branch (windows, models) gets exercised too."""
    raw = {"task": dict(DEFAULT["task"]), "train": dict(DEFAULT["train"])}
    for _ in range(draw(st.integers(1, 2))):
        table = draw(st.sampled_from(["task", "train"]))
        key = draw(st.sampled_from(list(DEFAULT[table])))
        raw[table][key] = draw(st.one_of(st.integers(-2, 300), st.floats(-1.0, 300.0), values))
    return raw


configs = st.one_of(random_configs, near_default_configs())


def _check_accepted(grid: GridConfig) -> None:
    """An accepted grid must be one that trains: its windows and models build."""
    event("accepted")
    seen = set()
    for run in expand(grid):
        key = (run.cell, run.mode, run.units, run.task)
        if key in seen or len(seen) >= 3:
            continue
        seen.add(key)
        train_w, test_w = training.make_data(run.task, run.mode)
        assert len(train_w.x) >= run.train.batch_size and len(test_w.x) > 0
        model = training.build_model(run.cell, run.mode, run.units, run.task.window, run.task.horizon)
        expected = training.expected_param_count(run.cell, run.mode, run.units, run.task.window, run.task.horizon)
        assert model.count_params() == expected


def _assert_one_clear_line(exc: ConfigError) -> None:
    message = str(exc)
    event("refused")
    assert message and "\n" not in message and "Traceback" not in message


@pytest.mark.exhaustive
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_random_config_dicts_are_accepted_or_refused_in_one_line(raw):
    try:
        grid = grid_from_dict(raw)
    except ConfigError as exc:
        _assert_one_clear_line(exc)
        return
    _check_accepted(grid)


@pytest.mark.exhaustive
@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.data())
def test_damaged_toml_files_are_accepted_or_refused_in_one_line(tmp_path_factory, data):
    text = (CONFIG_DIR / data.draw(st.sampled_from(["default.toml", "quick.toml", "clipping.toml"]))).read_text()
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 6))
    junk = data.draw(st.text(alphabet='[]="#.,0123456789-abcxyz \n', max_size=6))
    path = tmp_path_factory.mktemp("toml") / "damaged.toml"
    path.write_text(text[:at] + junk + text[at + cut :])
    try:
        grid = load_grid(str(path))
    except ConfigError as exc:
        _assert_one_clear_line(exc)
        try:
            tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError:
            assert "malformed TOML" in str(exc) and "line" in str(exc)
        return
    _check_accepted(grid)


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"cells": "gru,lstm,gru"}, "listed twice"),
        ({"modes": "many_to_onee"}, "did you mean 'many_to_one'"),
        ({"seeds": 0}, "seeds = 0: expected a number greater than 0"),
        ({"units": -1}, "units = -1"),
    ],
)
def test_cli_style_overrides_are_checked_like_the_file(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_grid("default", **overrides)
