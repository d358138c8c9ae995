import warnings

import pytest

from zoo.core import catalog, registry


def test_builtin_cells_and_modes_are_registered():
    assert {"simple_rnn", "gru", "lstm"} <= set(catalog.list_cells())
    assert catalog.list_modes(required_only=True) == ["one_to_one", "many_to_one", "one_to_many", "many_to_many"]
    assert "many_to_many_synced" in catalog.list_modes()
    assert catalog.list_cells("*rnn*") == [c for c in catalog.list_cells() if "rnn" in c]


def test_unknown_names_list_choices_and_nearest():
    with pytest.raises(registry.UnknownNameError) as err:
        catalog.get_cell("grue")
    msg = str(err.value)
    assert "'grue'" in msg and "simple_rnn" in msg and "did you mean 'gru'" in msg
    with pytest.raises(registry.UnknownNameError, match="did you mean 'many_to_one'"):
        catalog.get_mode("many_to_on")


def test_same_name_from_two_sources_is_an_error_naming_both(isolated_registry):

    def gru(units=64):
        "An impostor."

    with pytest.raises(registry.DuplicateNameError) as err:
        registry.register_cell("gru", param_count=lambda i, u: 0)(gru)
    assert "zoo.models.cells.gru.gru" in str(err.value) and "test_registry" in str(err.value)


def test_invalid_cell_name_is_refused():
    with pytest.raises(ValueError, match="not a valid Python identifier"):
        registry.register_cell("my-cell", param_count=lambda i, u: 0)


class _EntryPoint:
    def __init__(self, name, value, load):
        self.name, self.value, self.load = name, value, load


def test_broken_plugin_warns_with_its_name(monkeypatch, isolated_registry):
    def boom():
        raise ImportError("no module named nowhere")

    monkeypatch.setattr(
        catalog.metadata, "entry_points", lambda group: [_EntryPoint("broken", "nowhere:cell", boom)]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog.load()
        catalog.load()  # once loaded, it does not warn again
    assert len(caught) == 1 and "broken (nowhere:cell)" in str(caught[0].message)
    assert "gru" in catalog.list_cells()


def test_a_name_clash_fails_every_time_not_only_the_first(monkeypatch, isolated_registry):
    def clash():
        @registry.register_cell("gru", param_count=lambda i, u: 0)
        def gru(units=64):
            "An impostor."

    monkeypatch.setattr(catalog.metadata, "entry_points", lambda group: [_EntryPoint("clash", "x:gru", clash)])
    for _ in range(2):
        with pytest.raises(registry.DuplicateNameError, match="registered twice"):
            catalog.list_cells()


def test_plugin_entry_point_registers_its_cell(monkeypatch, isolated_registry):
    import keras

    def load():
        @registry.register_cell("plugin_rnn", param_count=lambda i, u: u * (i + u) + u)
        def plugin_rnn(units=64):
            "A plugin's Elman cell."
            return keras.layers.SimpleRNNCell(units)

        return plugin_rnn

    monkeypatch.setattr(catalog.metadata, "entry_points", lambda group: [_EntryPoint("plugin_rnn", "x:y", load)])
    assert "plugin_rnn" in catalog.list_cells()
    assert catalog.get_cell("plugin_rnn").description == "A plugin's Elman cell."


# ------------------------------------------------------------ built-ins by entry point


def test_each_builtin_comes_from_an_entry_point_rnn_zoo_declares():
    """The catalog names no module above the core: every built-in cell, mode and task was
    registered by a module that rnn-zoo's own metadata declares as an entry point."""
    declared = {ep.value for group in catalog.ENTRY_POINT_GROUPS for ep in catalog.builtins(group)}
    specs = [catalog.get_cell(n).builder for n in catalog.list_cells()]
    specs += [catalog.get_mode(n).builder for n in catalog.list_modes()]
    specs += [catalog.get_task(n).generate for n in catalog.list_tasks()]
    ours = [f.__module__ for f in specs if f.__module__.startswith("zoo.")]
    assert len(ours) == len(specs)  # no plugin is installed here: each one is a built-in
    assert all(any(m == v or m.startswith(v + ".") for v in declared) for m in ours), (sorted(set(ours)), declared)


class _Dist:
    def __init__(self, *entry_points):
        self.entry_points = list(entry_points)

    def locate_file(self, name):
        return "/somewhere/site-packages"


def test_a_checkout_that_was_never_installed_says_how_to_install(monkeypatch, isolated_registry, capsys):
    from importlib import metadata

    from zoo import cli

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(catalog.metadata, "distribution", missing)
    with pytest.raises(catalog.NotInstalledError, match=r"^rnn-zoo is not installed .* run `make install`"):
        catalog.list_cells()
    assert cli.main(["list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: rnn-zoo is not installed") and err.count("\n") == 1


def test_metadata_from_before_the_builtins_were_entry_points_says_to_install_again(monkeypatch, isolated_registry):
    monkeypatch.setattr(catalog.metadata, "distribution", lambda name: _Dist())
    with pytest.raises(catalog.NotInstalledError, match=r"/somewhere/site-packages.*'rnn_zoo.tasks'.*install it again"):
        catalog.list_tasks()


def test_a_builtin_that_fails_to_import_raises_instead_of_warning(monkeypatch, isolated_registry):
    from importlib import metadata

    broken = metadata.EntryPoint("builtin_cells", "zoo.models.no_such_module", "rnn_zoo.cells")
    tasks = metadata.EntryPoint("builtin_tasks", "zoo.core.tasks", "rnn_zoo.tasks")
    monkeypatch.setattr(catalog.metadata, "distribution", lambda name: _Dist(broken, tasks))
    with pytest.raises(ModuleNotFoundError, match="zoo.models.no_such_module"):
        catalog.list_cells()


def test_the_covering_subset_meets_every_value_of_each_axis_and_make_test_all_every_combination():
    from conftest import every_combination

    cells, task_modes = ["a", "b", "c"], [("adding", "many_to_one"), ("copy", "many_to_many")]
    params = every_combination(cells, task_modes)
    assert [p.values for p in params] == [(c, *tm) for c in cells for tm in task_modes]  # the product, flat
    assert [p.id for p in params][:2] == ["a-adding-many_to_one", "a-copy-many_to_many"]
    fast = [p.values for p in params if not p.marks]
    assert len(fast) == 3 and {v[0] for v in fast} == set(cells) and {v[1:] for v in fast} == set(task_modes)
    assert all(m.name == "exhaustive" for p in params if p.marks for m in p.marks) and len(params) - len(fast) == 3


def test_every_value_keeps_the_cases_that_bring_a_new_value():
    from conftest import every_value

    cases = [("adding", "many_to_one"), ("copy", "many_to_one"), ("sine", "one_to_one"), ("sine", "many_to_one")]
    params = every_value(cases)
    assert [p.values for p in params] == cases and [p.id for p in params][0] == "adding-many_to_one"
    assert [bool(p.marks) for p in params] == [False, False, False, True]
    assert all(m.name == "exhaustive" for p in params for m in p.marks)
