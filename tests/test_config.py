import dataclasses

import pytest

from zoo.core import report_spec
from zoo.core.config import ConfigError, GridConfig, RunConfig
from zoo.core.grid import expand
from zoo.core.loading import grid_from_dict, load_grid


def test_default_config_file_is_the_default_grid():
    grid = load_grid("default")
    # Its [report] table declares what a grid without one shows (zoo.core.report_spec.default_spec).
    assert dataclasses.replace(grid, report=None) == GridConfig()
    assert grid.report == report_spec.default_spec(GridConfig())
    assert len(expand(grid)) == 36
    assert grid.train.epochs == 120 and grid.train.batch_size == 64 and grid.train.learning_rate == 1e-3


def test_quick_grid_trains_every_cell_in_the_four_modes():
    from zoo.core import catalog as registry

    grid = load_grid("quick")
    assert grid.cells == tuple(registry.list_cells()) and len(grid.modes) == 4 and grid.seeds == 1


def test_overrides_apply():
    grid = load_grid("default", cells="gru", modes="many_to_one", seeds=1, epochs=7)
    assert grid.cells == ("gru",) and grid.modes == ("many_to_one",) and grid.train.epochs == 7


def test_run_id_is_stable_and_depends_on_the_whole_config():
    a = RunConfig("gru", "many_to_one", 0)
    assert a.run_id == RunConfig("gru", "many_to_one", 0).run_id
    assert a.run_id != RunConfig("gru", "many_to_one", 1).run_id
    assert a.run_id.startswith("gru-many_to_one-s0-")
    assert RunConfig.from_dict(a.to_dict()) == a


@pytest.mark.parametrize(
    "raw,message",
    [
        ({"cell": ["gru"]}, "unknown key 'cell' in the config; valid keys: .* \\(did you mean 'cells'\\?\\)"),
        ({"train": {"epoch": 3}}, "unknown key 'epoch' in \\[train\\].*did you mean 'epochs'"),
        ({"train": {"epochs": "ten"}}, "train.epochs = 'ten': expected int \\(a whole number\\), got str"),
        ({"train": {"epochs": 0}}, "train.epochs = 0: expected a number greater than 0"),
        ({"units": -4}, "units = -4: expected a number greater than 0"),
        ({"cells": ["gru", "gru"]}, "cell 'gru' is listed twice"),
        ({"cells": ["gruu"]}, "unknown cell 'gruu'; valid choices: .*did you mean 'gru'"),
        ({"train": {"batch_size": 20000}}, "larger than the 9995 training windows"),
        (
            {"task": {"window": 9000}},
            "task.test_points = 1000: mode one_to_one needs at least window \\+ 1 = 9001 points",
        ),
        ({"train": {"loss": "maee"}}, "expected one of mae, mse \\(did you mean 'mae'\\?\\)"),
        ({"task": 3}, "expected a table"),
    ],
)
def test_bad_configs_are_refused_with_one_clear_line(raw, message):
    with pytest.raises(ConfigError, match=message) as err:
        grid_from_dict(raw)
    assert "\n" not in str(err.value)


def test_malformed_toml_gives_line_and_column(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("cells = [\"gru\"\nseeds = 3\n")
    with pytest.raises(ConfigError, match="malformed TOML.*line 2"):
        load_grid(str(path))


def test_missing_config_names_the_known_ones():
    with pytest.raises(ConfigError, match="config 'defualt' not found; named configs: .*did you mean 'default'"):
        load_grid("defualt")


def test_quick_shrinks_any_grid_and_keeps_its_shape():
    full = load_grid("long_lag")
    quick = load_grid("long_lag", quick=True)
    assert quick.name == "long_lag-quick" and quick.seeds == 1 and quick.train.epochs == 5
    assert quick.cells == full.cells and quick.modes == full.modes and quick.sweep == full.sweep
    t, f = quick.task, full.task
    assert t.train_points == 2000 and t.test_points == 200
    assert t.train_gap == pytest.approx(f.train_gap) and t.test_gap == pytest.approx(f.test_gap)
    # alone, or with overrides, it is the shipped quick grid, unchanged
    assert load_grid(None, quick=True) == load_grid("quick")
    assert load_grid(None, quick=True, cells="gru").name == "quick"
    # a flag given wins over the shrink (tests/test_flags_win.py covers every pair)
    assert load_grid("default", quick=True, epochs=50).train.epochs == 50
