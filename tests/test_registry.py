import warnings

import pytest

from zoo import registry


def test_builtin_cells_and_modes_are_registered():
    assert {"simple_rnn", "gru", "lstm"} <= set(registry.list_cells())
    assert registry.list_modes(required_only=True) == ["one_to_one", "many_to_one", "one_to_many", "many_to_many"]
    assert "many_to_many_synced" in registry.list_modes()
    assert registry.list_cells("*rnn*") == [c for c in registry.list_cells() if "rnn" in c]


def test_unknown_names_list_choices_and_nearest():
    with pytest.raises(registry.UnknownNameError) as err:
        registry.get_cell("grue")
    msg = str(err.value)
    assert "'grue'" in msg and "simple_rnn" in msg and "did you mean 'gru'" in msg
    with pytest.raises(registry.UnknownNameError, match="did you mean 'many_to_one'"):
        registry.get_mode("many_to_on")


def test_same_name_from_two_sources_is_an_error_naming_both(isolated_registry):

    def gru(units=64):
        "An impostor."

    with pytest.raises(registry.DuplicateNameError) as err:
        registry.register_cell("gru", param_count=lambda i, u: 0)(gru)
    assert "zoo.cells.gru.gru" in str(err.value) and "test_registry" in str(err.value)


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
        registry.metadata, "entry_points", lambda group: [_EntryPoint("broken", "nowhere:cell", boom)]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry.load_plugins()
    assert any("'broken'" in str(w.message) and "nowhere" in str(w.message) for w in caught)
    assert "gru" in registry.list_cells()


def test_plugin_entry_point_registers_its_cell(monkeypatch, isolated_registry):
    import keras

    def load():
        @registry.register_cell("plugin_rnn", param_count=lambda i, u: u * (i + u) + u)
        def plugin_rnn(units=64):
            "A plugin's Elman cell."
            return keras.layers.SimpleRNNCell(units)

        return plugin_rnn

    monkeypatch.setattr(registry.metadata, "entry_points", lambda group: [_EntryPoint("plugin_rnn", "x:y", load)])
    assert "plugin_rnn" in registry.list_cells()
    assert registry.get_cell("plugin_rnn").description == "A plugin's Elman cell."
