"""A user's own task or cell file, as the README says to add one (a file in zoo/core/tasks/ or
zoo/models/cells/): a typo in it is one warning naming the file, not a traceback out of every
command, and its declaration's mistakes are one line naming the value and the nearest valid one.

The folder-import helper (``catalog.load_folder``) is tested on a package in tmp_path, never
on the shipped folders, which the last tests check import whole."""

import dataclasses
import importlib
import inspect
import pkgutil
import re
import sys
import warnings

import pytest

from zoo.core import catalog, registry
from zoo.core.config import ConfigError
from zoo.core.loading import grid_from_dict
from zoo.core.names import UnknownNameError

PACKAGE = "zoo_user_files_pkg"

GOOD = '''
from dataclasses import dataclass

from zoo.core.registry import register_task


@dataclass(frozen=True)
class EchoSettings:
    length: int = 4


@register_task("user_good", settings=EchoSettings, features=1, steps=lambda s: s.length, loss="mse",
               metric="test_mse", modes=[("many", "next")], baseline=lambda s: 1.0, solved_below=0.1,
               solved_reason="x.")
def generate(settings, seed, layout="many", target="next"):
    "A task that loads."
'''

BROKEN = '''"""A typo: a missing colon on line 3."""

def f()
    return 1
'''

NAME_ERROR = '''from zoo.core.registry import register_task

HORIZON = 3
x = HORIZN + 1
'''

# Registers a task, then fails: the file is left out whole, its task with it.
HALF = GOOD.replace("user_good", "user_half").replace("EchoSettings", "HalfSettings") + "\nraise RuntimeError('late')\n"
HALF_LINE = HALF.splitlines().index("raise RuntimeError('late')") + 1


@pytest.fixture
def user_folder(tmp_path, monkeypatch, isolated_registry):
    """A package ``PACKAGE`` in tmp_path to write task files into; gone from sys.modules and the catalog after."""
    folder = tmp_path / PACKAGE
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(catalog, "_folders", dict(catalog._folders))
    monkeypatch.setattr(catalog, "_failed_in", {})
    importlib.invalidate_caches()
    yield folder
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def _load(folder) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog.load_folder(PACKAGE, [folder], catalog.TASK_GROUP)
    return [str(w.message) for w in caught]


def test_a_file_that_fails_to_import_is_one_warning_naming_it_and_the_others_load(user_folder):
    (user_folder / "good.py").write_text(GOOD)
    (user_folder / "broken.py").write_text(BROKEN)
    (user_folder / "name_error.py").write_text(NAME_ERROR)
    (user_folder / "half.py").write_text(HALF)
    said = sorted(_load(user_folder))
    assert said == [
        f"rnn-zoo: {PACKAGE}/broken.py failed to load: SyntaxError: expected ':' (line 3)",
        f"rnn-zoo: {PACKAGE}/half.py failed to load: RuntimeError: late (line {HALF_LINE})",
        f"rnn-zoo: {PACKAGE}/name_error.py failed to load: NameError: name 'HORIZN' is not defined (line 4)",
    ]
    assert "user_good" in catalog.list_tasks() and "user_half" not in catalog.list_tasks()
    assert {f"{PACKAGE}/broken.py", f"{PACKAGE}/half.py", f"{PACKAGE}/name_error.py"} <= set(catalog.failed_plugins())
    assert _load(user_folder) == []  # warned once
    catalog.list_tasks()  # nor again when the catalog loads
    assert not catalog.list_tasks("user_half")


def test_an_unknown_name_says_which_file_failed_to_load_and_why(user_folder):
    (user_folder / "delayed_echo.py").write_text(BROKEN)
    _load(user_folder)
    note = f"{PACKAGE}/delayed_echo.py failed to load: SyntaxError: expected ':' (line 3)"
    with pytest.raises(UnknownNameError) as err:
        catalog.get_task("delayed_echo")
    assert str(err.value).startswith("unknown task 'delayed_echo'; valid choices: adding, ")
    assert str(err.value).endswith(f"; {note}") and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"^task\.name: unknown task 'delayed_echo'; .*" + re.escape(note) + "$"):
        grid_from_dict({"task": {"name": "delayed_echo"}})
    with pytest.raises(UnknownNameError) as err:  # a task file says nothing of cells
        catalog.get_cell("delayed_echo")
    assert "failed to load" not in str(err.value)


def test_a_cell_file_that_fails_is_named_where_a_cell_is_unknown(user_folder):
    (user_folder / "my_rnn.py").write_text(
        "from zoo.core.registry import register_cell\n\n"
        "@register_cell('my_rnn', param_count=lambda i, u: 0, gate=None)\n"
        "def my_rnn(units=64):\n    'Mine.'\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        catalog.load_folder(PACKAGE, [user_folder], catalog.CELL_GROUP)
    (said,) = [str(w.message) for w in caught]
    assert said == (f"rnn-zoo: {PACKAGE}/my_rnn.py failed to load: TypeError: cell 'my_rnn': register_cell() got an "
                    "unknown keyword 'gate'; valid keywords: claim, gates, param_count, published, remedy "
                    "(did you mean 'gates'?) (line 3)")
    with pytest.raises(ConfigError, match=r"^cells: unknown cell 'my_rnn'; .*my_rnn\.py failed to load: TypeError"):
        grid_from_dict({"cells": ["my_rnn"]})


def test_refresh_tries_a_fixed_file_again(user_folder):
    (user_folder / "echo.py").write_text(BROKEN)
    assert len(_load(user_folder)) == 1
    (user_folder / "echo.py").write_text(GOOD.replace("user_good", "user_echo"))
    importlib.invalidate_caches()
    catalog.refresh()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert "user_echo" in catalog.list_tasks()
    assert caught == [] and f"{PACKAGE}/echo.py" not in catalog.failed_plugins()


def test_a_name_clash_in_a_file_is_still_an_error(user_folder):
    (user_folder / "clash.py").write_text(GOOD.replace('"user_good"', '"adding"'))
    with pytest.raises(registry.DuplicateNameError, match="'adding' is registered twice"):
        _load(user_folder)


def test_the_command_line_answers_an_unknown_task_in_one_line_naming_the_file(user_folder, capsys, monkeypatch,
                                                                                tmp_path):
    from zoo import cli

    (user_folder / "delayed_echo.py").write_text(BROKEN)
    _load(user_folder)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["compare", "--task", "delayed_echo"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: task.name: unknown task 'delayed_echo'")
    assert err.rstrip().endswith(f"{PACKAGE}/delayed_echo.py failed to load: SyntaxError: expected ':' (line 3)")
    assert not (tmp_path / "runs").exists()
    # The warning is one line too, as the command line shows a plugin's.
    line = cli._one_line_warning(f"rnn-zoo: {PACKAGE}/x.py failed to load: E", UserWarning, "f.py", 1)
    assert line == f"warning: rnn-zoo: {PACKAGE}/x.py failed to load: E\n"


# ------------------------------------------------------------ a settings class with a bug


@dataclasses.dataclass(frozen=True)
class BuggySettings:
    length: int = 4

    def __post_init__(self):
        requre(self.length > 1, "length")  # noqa: F821 - the user's typo


@dataclasses.dataclass(frozen=True)
class CheckedSettings:
    length: int = 4

    def __post_init__(self):
        if self.length < 2:
            raise ValueError(f"checked: length must be >= 2, got {self.length}")


def _register(name, settings):
    registry.register_task(name, settings=settings, features=1, steps=lambda s: s.length, loss="mse",
                           metric="test_mse", modes=[("many", "next")], baseline=lambda s: 1.0, solved_below=0.1,
                           solved_reason="x.")(lambda settings, seed, layout="many", target="next": None)


def test_a_bug_in_a_tasks_settings_is_one_line_naming_its_file_and_line(isolated_registry):
    _register("buggy", BuggySettings)
    source, first = inspect.getsourcelines(BuggySettings.__post_init__)
    line = first + next(i for i, text in enumerate(source) if "requre(" in text)
    with pytest.raises(ConfigError) as err:
        grid_from_dict({"task": {"name": "buggy"}})
    assert str(err.value) == ("task 'buggy': its settings raised NameError: name 'requre' is not defined "
                              f"(tests/test_user_files.py:{line})")


def test_a_tasks_own_check_keeps_its_message(isolated_registry):
    _register("checked", CheckedSettings)
    with pytest.raises(ConfigError, match=r"^task: checked: length must be >= 2, got 1$"):
        grid_from_dict({"task": {"name": "checked", "length": 1}})


# ------------------------------------------------------------ register_task's checks, one line each


def _task_kwargs(**changes):
    from zoo.core.tasks import adding

    @dataclasses.dataclass(frozen=True)
    class Settings:
        length: int = 4
        size: int = 8

    kwargs = dict(settings=Settings, features=2, steps=lambda s: s.length, loss="mse", metric="test_mse",
                  modes=[("many", "next")], baseline=adding.baseline, solved_below=0.1, solved_reason="x.")
    return {**kwargs, **changes}


@pytest.mark.parametrize("bad,message", [
    ({"loss": "mes"}, "loss must be one of mae, mse, cross_entropy, got 'mes' (did you mean 'mse'?)"),
    ({"metric": "test_mes"}, "metric must be one of test_mae, test_mse, test_ce, got 'test_mes' "
                             "(did you mean 'test_mse'?)"),
    ({"section": "memroy"}, "section must be one of main, memory, got 'memroy' (did you mean 'memory'?)"),
    ({"length": "lenght"}, "its length setting 'lenght' is not a field of Settings; its fields: length, size "
                           "(did you mean 'length'?)"),
    ({"modes": [("many", "nxt")]}, "modes pair ('many', 'nxt'): its target must be one of next, horizon, synced, "
                                   "got 'nxt' (did you mean 'next'?)"),
    ({"modes": [("one", "next"), ("mnay", "horizon")]}, "modes pair ('mnay', 'horizon'): its layout must be one "
                                                         "of one, many, got 'mnay' (did you mean 'many'?)"),
    ({"modes": []}, "modes is empty, so the task would support no mode"),
    ({"modes": ["many_to_one"]}, "modes: 'many_to_one' is not a (layout, target) pair, such as ('many', 'next') "
                                 "(mode many_to_one is the pair ('many', 'next'))"),
    ({"modes": ("many", "next")}, "modes: 'many' is not a (layout, target) pair"),
    ({"limits": {"lenght": (1, 9)}}, "limit on 'lenght' is not a field of Settings; its fields: length, size "
                                     "(did you mean 'length'?)"),
    ({"test_settings": {"sise": 2}}, "test setting 'sise' is not a field of Settings; its fields: length, size "
                                     "(did you mean 'size'?)"),
    ({"solved_below": 5}, "solved_below must lie between 0 and 1"),
    ({"solved_below": "0.1"}, "solved_below must lie between 0 and 1"),
    ({"classes": 1}, "classes must be 0 (regression) or the number of classes (2 or more), got 1"),
    ({"features": 0}, "features (input channels per step) must be a whole number >= 1, got 0"),
    ({"baseline": 0.5}, "baseline must be a function, got 0.5"),
])
def test_a_bad_declaration_names_the_value_and_the_nearest(bad, message):
    with pytest.raises(ValueError) as err:
        registry.register_task("bad_task", **_task_kwargs(**bad))
    assert str(err.value).startswith("task 'bad_task': ") and message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_an_unknown_keyword_names_the_nearest():
    with pytest.raises(TypeError) as err:
        registry.register_task("bad_task", solvd=0.1, **_task_kwargs())
    assert str(err.value).startswith("task 'bad_task': register_task() got an unknown keyword 'solvd'; valid "
                                     "keywords: baseline, check, classes, ")
    assert str(err.value).endswith("(did you mean 'solved_below'?)")
    with pytest.raises(TypeError, match=r"^cell 'c': register_cell\(\) got an unknown keyword 'gate'; .*"
                                        r"\(did you mean 'gates'\?\)$"):
        registry.register_cell("c", param_count=lambda i, u: 0, gate=None)
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'solved_reason'"):
        registry.register_task("bad_task", **{k: v for k, v in _task_kwargs().items() if k != "solved_reason"})


def test_a_bad_cell_or_mode_declaration_is_refused():
    with pytest.raises(ValueError, match=r"^cell 'c': param_count must be a function, got 3$"):
        registry.register_cell("c", param_count=3)
    with pytest.raises(ValueError, match=r"^mode 'm': target must be one of next, horizon, synced, got 'nxt' "
                                         r"\(did you mean 'next'\?\)$"):
        registry.register_mode("m", layout="many", target="nxt", param_count=lambda *a: 0)


def test_every_mode_registers_a_pair_a_task_may_declare():
    pairs = {(catalog.get_mode(m).layout, catalog.get_mode(m).target) for m in catalog.list_modes()}
    assert {layout for layout, _ in pairs} == set(registry.MODE_LAYOUTS)
    assert {target for _, target in pairs} == set(registry.MODE_TARGETS)


# ------------------------------------------------------------ the shipped files: each one loads

SHIPPED_TASKS = {"adding", "copy", "sine", "sine_gap"}
SHIPPED_CELLS = {"cornn", "gru", "indrnn", "irnn", "lem", "lru", "lstm", "mgu", "mingru", "minlstm", "rglru",
                 "seed_gru", "simple_rnn", "simple_rnn_rho2", "slstm"}


@pytest.mark.parametrize("package", ["zoo.core.tasks", "zoo.models.cells"])
def test_every_file_of_a_builtin_folder_imports(package):
    """A file there that fails is a warning, not an error (it may be a user's): here it fails loudly."""
    catalog.load()
    module = importlib.import_module(package)
    files = [info.name for info in pkgutil.iter_modules(module.__path__)]
    assert files and all(f"{package}.{name}" in sys.modules for name in files), files
    failed = [key for key in catalog.failed_plugins() if key.startswith(package.replace(".", "/") + "/")]
    assert failed == [], {key: catalog.failed_plugins()[key] for key in failed}


def test_every_shipped_task_and_cell_is_registered():
    assert SHIPPED_TASKS <= set(catalog.list_tasks())
    assert SHIPPED_CELLS <= set(catalog.list_cells())


def test_a_worker_does_not_repeat_the_drivers_failed_load_warnings(monkeypatch):
    import os
    import warnings

    from zoo.runs import executors

    monkeypatch.setattr(executors, "keep_tensorflow_out", lambda: None)  # this process keeps its imports
    monkeypatch.setattr(os, "environ", dict(os.environ))  # and its thread settings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        executors.prepare_worker(1)
        for message in ("rnn-zoo: zoo/core/tasks/x.py failed to load: SyntaxError: expected ':' (line 3)",
                        "rnn-zoo: plugin p (m) failed to load: ImportError: no module named m",
                        "rnn-zoo: something else"):
            warnings.warn(message, stacklevel=1)
    assert [str(w.message) for w in caught] == ["rnn-zoo: something else"]


def test_modes_given_as_a_generator_are_registered_not_used_up_by_the_check(isolated_registry):
    isolated_registry.register_task("gen_modes", **_task_kwargs(modes=(pair for pair in [("many", "next")])))(
        lambda settings, seed, layout="many", target="next": None)
    assert isolated_registry.task("gen_modes").modes == (("many", "next"),)


def test_a_second_mode_of_a_taken_name_is_a_clash_and_the_shipped_mode_stays(isolated_registry, monkeypatch):
    monkeypatch.setattr(isolated_registry, "_MODES", dict(isolated_registry._MODES))
    shipped = isolated_registry._MODES["many_to_one"]

    def many_to_one(cell, units, window, horizon, features, outputs):
        """A user's file's mode under a shipped name."""

    with pytest.raises(isolated_registry.DuplicateNameError, match="mode 'many_to_one' is registered twice"):
        isolated_registry.register_mode("many_to_one", layout="many", target="next",
                                        param_count=lambda *a: 0)(many_to_one)
    assert isolated_registry._MODES["many_to_one"] is shipped
