"""A task's data, checked before any worker starts (``runner.check_task_data``): every
registered task passes in every mode it supports, and a task file whose data does not fit
its declaration (labels, input features, baseline) is one line naming it, with nothing
trained and no folder written, not a grid of failed runs."""

import dataclasses

import numpy as np
import pytest

from zoo.core import catalog
from zoo.core.config import ConfigError, GridConfig, TrainConfig
from zoo.core.tasks.data import TaskData


@pytest.mark.parametrize("name", catalog.list_tasks())
def test_every_task_passes_the_check_in_every_mode_it_supports(name):
    spec = catalog.get_task(name)
    settings = spec.settings(**dict(spec.test_settings))
    for mode in catalog.task_modes(spec):
        spec.check_data(settings, catalog.get_mode(mode))


@dataclasses.dataclass(frozen=True)
class EchoSettings:
    length: int = 4
    size: int = 16


FAULTS = {  # what the task's file gets wrong -> (x features, labels, baseline, the one line)
    "labels of the wrong shape": (1, lambda n: np.zeros((n,), np.float32), 0.5,
                                  "task 'echo': training labels have shape (16,) for mode many_to_one (many, next), "
                                  "expected (16, 1)"),
    "inputs of other features": (2, lambda n: np.zeros((n, 1), np.float32), 0.5,
                                 "task 'echo': training inputs have shape (16, 4, 2) for mode many_to_one (many, "
                                 "next), expected (n, 4, 1): registered with features=1, steps 4"),
    "a zero baseline": (1, lambda n: np.zeros((n, 1), np.float32), 0.0,
                        "task 'echo': baseline(EchoSettings) = 0.0, expected a finite number above 0"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_task_whose_data_does_not_fit_its_declaration_is_refused_before_any_work(
    fault, isolated_registry, tmp_path
):
    from zoo.runs import runner

    features, labels, baseline, line = FAULTS[fault]

    @isolated_registry.register_task(
        "echo", settings=EchoSettings, features=1, steps=lambda s: s.length, loss="mse", metric="test_mse",
        modes=[("many", "next")], baseline=lambda s: baseline, solved_below=0.1, solved_reason="x.")
    def generate(settings, seed, layout="many", target="next"):
        data = TaskData(np.zeros((settings.size, settings.length, features), np.float32), labels(settings.size))
        return data, data

    class NoWorkers:  # the check comes first: an executor asked to train fails the test
        def map(self, todo, on_epoch):
            raise AssertionError("a worker was asked to train")

    grid = GridConfig(cells=("gru",), modes=("many_to_one",), seeds=1, units=4, task=EchoSettings(),
                      train=TrainConfig(epochs=1, batch_size=8))
    with pytest.raises(ConfigError) as err:
        runner.execute(grid, tmp_path / "runs", executor=NoWorkers(), say=lambda msg: None)
    message = str(err.value)
    assert "\n" not in message and message.startswith(line) and message.endswith("; nothing was trained")
    assert not (tmp_path / "runs").exists()  # nothing written: no lock, no grid record, no run folder


def test_a_task_whose_generate_raises_is_one_line_naming_where(isolated_registry, tmp_path):
    from zoo.runs import runner

    @isolated_registry.register_task(
        "echo", settings=EchoSettings, features=1, steps=lambda s: s.length, loss="mse", metric="test_mse",
        modes=[("many", "next")], baseline=lambda s: 0.5, solved_below=0.1, solved_reason="x.")
    def generate(settings, seed, layout="many", target="next"):
        return [][settings.size]  # a user's bug: IndexError

    grid = GridConfig(cells=("gru",), modes=("many_to_one",), seeds=1, units=4, task=EchoSettings(),
                      train=TrainConfig(epochs=1, batch_size=8))
    with pytest.raises(ConfigError) as err:
        runner.execute(grid, tmp_path / "runs", say=lambda msg: None)
    message = str(err.value)
    assert message.startswith("task 'echo': making its data raised IndexError: list index out of range (")
    assert "test_task_preflight.py:" in message and message.endswith("; nothing was trained")
    assert not (tmp_path / "runs").exists()
