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
