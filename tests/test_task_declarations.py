"""Tasks are all alike: what a task declares (its report section, whether it forecasts a series, its
settings' limits) is all the zoo reads about it, so a new forecasting task is one file, and no module
but the sine task's own branches on the name "sine"."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from zoo import store
from zoo.core import catalog
from zoo.core.config import DEFAULT_TASK, ConfigError, GridConfig, RunConfig, task_name, task_spec
from zoo.core.loading import grid_from_dict, load_grid
from zoo.core.tasks.data import TaskData
from zoo.core.validation import check_limits
from zoo.report import memory
from zoo.runs import clean

ZOO = Path(__file__).resolve().parent.parent / "zoo"
SINE_TASK_FILE = ZOO / "core" / "tasks" / "sine.py"
# Where the string may stand: the one name of the default task, and the store's reader of the old
# format (a task table without a name was the sine task's). Each is an assignment to this name.
ALLOWED = {("core/config.py", "DEFAULT_TASK"), ("store/__init__.py", "OLD_UNNAMED_TASK")}


def _ramp_task(registry, name: str, section: str):
    """A forecasting task as a plugin file would declare it: the next value of a sawtooth."""

    @dataclasses.dataclass(frozen=True)
    class RampSettings:
        window: int = 4
        points: int = 200

    def generate(settings, seed, layout="many", target="next"):
        """A sawtooth's next value from the ``window`` before it."""
        series = (np.arange(settings.points) % 10 / 10).astype(np.float32)
        n = settings.points - settings.window
        ends = np.arange(n) + settings.window - 1
        x = series[ends[:, None] + np.arange(1 - settings.window, 1)][:, :, None]
        data = TaskData(x, series[ends + 1][:, None], offsets=np.array([1]), ends=ends)
        return data, data

    registry.register_task(
        name, settings=RampSettings, features=1, steps=lambda s: s.window, loss="mae", metric="test_mse",
        modes=[("many", "next")], baseline=lambda s: 1 / 12, solved_below=0.1, solved_reason="x.",
        length="window", section=section, forecast=section == "main", limits={"window": (1, 50)},
    )(generate)
    return RampSettings


def test_a_second_forecasting_task_is_one_declaration(isolated_registry):
    settings = _ramp_task(isolated_registry, "ramp", "main")
    grid = grid_from_dict({"cells": ["gru"], "task": {"name": "ramp", "window": 7}})
    assert grid.task == settings(window=7) and grid.modes == ("many_to_one",) and grid.train.loss == "mae"
    run = RunConfig("gru", "many_to_one", 0, task=grid.task)
    assert run.to_dict()["task"] == {"name": "ramp", "window": 7, "points": 200}
    assert RunConfig.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    # Its limits, checked before any work, in one line naming the value and the task.
    with pytest.raises(ConfigError, match=r"^task\.window = 0: expected a number greater than 0 \(task ramp\)$"):
        grid_from_dict({"task": {"name": "ramp", "window": 0}})
    with pytest.raises(ConfigError, match=r"^task\.window = 51: expected at most 50 \(task ramp\)$"):
        grid_from_dict({"task": {"name": "ramp"}, "sweep": {"task.window": [5, 51]}})
    assert grid_from_dict({"task": {"name": "ramp", "window": 50}}).task.window == 50
    # --quick shrinks what it knows how to (seeds, epochs): the task declares no smaller data.
    quick = load_grid("default", task="ramp", cells="gru", quick=True)
    assert (quick.name, quick.task, quick.seeds, quick.train.epochs) == ("default-quick", settings(), 1, 5)
    # The report's sections follow its declaration, not its name.
    assert task_spec("ramp").forecast and not memory.in_memory_section("ramp")


def test_the_memory_section_takes_the_tasks_that_declare_it(isolated_registry):
    _ramp_task(isolated_registry, "ramp_main", "main")
    _ramp_task(isolated_registry, "ramp_memory", "memory")

    def run(task):
        metrics = {"task": task, "status": "ok", "length": 4, "ratio": 0.5, "solved": False, "solved_below": 0.1,
                   "solved_reason": "x.", "baseline": 1.0, "metric": "test_mse", "dhT_dh1_init": 1.0,
                   "dhT_dh1": 1.0, "steps": 10, "seconds": 1.0}
        return SimpleNamespace(metrics=metrics, config=RunConfig("gru", "many_to_one", 0), path=Path(task),
                               gates=pd.DataFrame(columns=["epoch", "gate", "mean"]))

    assert memory.in_memory_section("a_plugin_not_installed")  # shown as before tasks declared it
    frame = memory.memory_frame([run(t) for t in ("ramp_main", "ramp_memory", "sine", "adding")])
    assert list(frame.task) == ["ramp_memory", "adding"]


@pytest.mark.parametrize("name", catalog.list_tasks())
def test_each_task_keeps_its_own_declarations(name):
    spec = catalog.get_task(name)
    for settings in (spec.settings(), spec.settings(**dict(spec.test_settings))):
        check_limits(spec, settings)  # its defaults and test settings lie within its limits
        assert task_name(settings) == name
    if spec.forecast:  # a forecast is a series: each target knows where it sits
        _, test = spec.generate(spec.settings(**dict(spec.test_settings)), 0, "many", "next")
        assert test.offsets is not None and test.ends is not None and len(test.ends) == len(test.y)


def test_a_task_table_without_a_name_is_the_default_tasks_through_the_same_path():
    assert grid_from_dict({}) == grid_from_dict({"task": {"name": DEFAULT_TASK}}) == GridConfig()
    assert grid_from_dict({"task": {"window": 7}}) == grid_from_dict({"task": {"name": DEFAULT_TASK, "window": 7}})
    assert GridConfig().to_dict()["task"]["name"] == DEFAULT_TASK  # printed and stored with its name, as any task


def _sine_branches(path: Path, text: str) -> list[str]:
    """Each place the string 'sine' (or the default task's name) decides something: a 'sine' literal
    anywhere but in an allowed assignment, or a comparison with DEFAULT_TASK."""
    tree = ast.parse(text)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    rel = path.relative_to(ZOO).as_posix() if path.is_relative_to(ZOO) else path.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == "sine":
            parent = parents.get(node)
            targets = [t.id for t in getattr(parent, "targets", []) if isinstance(t, ast.Name)]
            if not (isinstance(parent, ast.Assign) and any((rel, t) in ALLOWED for t in targets)):
                found.append(f"{rel}:{node.lineno}: the literal 'sine'")
        if isinstance(node, ast.Compare) and any(
                isinstance(n, ast.Name) and n.id == "DEFAULT_TASK" for n in ast.walk(node)):
            found.append(f"{rel}:{node.lineno}: a comparison with DEFAULT_TASK")
    return found


def test_no_module_but_the_sine_task_branches_on_its_name():
    found = [hit for path in sorted(ZOO.rglob("*.py")) if path != SINE_TASK_FILE
             for hit in _sine_branches(path, path.read_text())]
    assert found == []


@pytest.mark.parametrize("code", [
    'if task == "sine":\n    pass\n',
    'NOT_MEMORY = ("sine",)\n',
    'sine = name == DEFAULT_TASK\n',
    'where = "[task]" if DEFAULT_TASK != name else name\n',
    'one = names == [DEFAULT_TASK]\n',
])
def test_the_sine_check_finds_a_branch(code):
    assert _sine_branches(ZOO / "core" / "config.py", code)


def test_the_sine_check_allows_the_default_and_the_old_format():
    assert _sine_branches(ZOO / "core" / "config.py", 'DEFAULT_TASK = "sine"\n') == []
    assert _sine_branches(ZOO / "store" / "__init__.py", 'OLD_UNNAMED_TASK = "sine"\n') == []
    assert _sine_branches(ZOO / "report" / "memory.py", 'DEFAULT_TASK = "sine"\n')  # only where it belongs


def test_a_run_folder_in_the_old_format_still_reads_as_the_sine_tasks(tmp_path):
    run = RunConfig("gru", "many_to_one", 0, units=4)
    new = store.write_failed(tmp_path, run, "RuntimeError: boom")
    stored = json.loads((new / "config.json").read_text())
    assert stored["task"]["name"] == "sine"
    del stored["task"]["name"]  # as rnn-zoo wrote the sine task's table before every task named its own
    files = {"config.json": json.dumps(stored).encode(), "metrics.json": (new / "metrics.json").read_bytes()}
    (new / "config.json").write_bytes(files["config.json"])
    old = tmp_path / store.folder_run_id(new)
    new.rename(old)
    metrics = json.loads((old / "metrics.json").read_text())
    metrics.pop(store.CHECKSUMS), metrics.pop(store.SELF_CHECKSUM)
    for name, data in store._seal({**files, "metrics.json": json.dumps(metrics).encode()}).items():
        (old / name).write_bytes(data)
    assert old.name != run.run_id
    read = store.read_run(old)
    assert read.config == run and read.config.task_name == "sine"
    assert clean._is_run_folder(old)  # and `zoo clean` still knows it for a compare's
    store.write_grid(tmp_path, "old", {**GridConfig().to_dict(), "task": stored["task"]}, [old.name])
    assert GridConfig.from_stored(store.read_grids(tmp_path)["old"]["grid"]) == GridConfig()
