"""The task contract, checked over the registry: a plugin task is tested with no edit here."""

import dataclasses
import math

import numpy as np
import pytest

from zoo.core import catalog
from zoo.core.specs import TASK_METRICS

TASKS = pytest.mark.parametrize("name", catalog.list_tasks())


def _settings(spec, **changes):
    return spec.settings(**{**dict(spec.test_settings), **changes})


def _pairs(spec):
    """Every supported (mode, layout, target) of a task."""
    return [(m, catalog.get_mode(m)) for m in catalog.task_modes(spec)]


def test_builtin_tasks_are_registered():
    assert {"sine", "adding", "sine_gap", "copy"} <= set(catalog.list_tasks())
    assert catalog.list_tasks("sine*") == ["sine", "sine_gap"]


@TASKS
def test_a_task_declares_what_its_numbers_mean(name):
    spec = catalog.get_task(name)
    assert spec.description and spec.source
    assert dataclasses.is_dataclass(spec.settings) and spec.settings.__dataclass_params__.frozen
    defaults = spec.settings()  # every setting has a default
    assert spec.length in {f.name for f in dataclasses.fields(defaults)}
    assert isinstance(getattr(defaults, spec.length), int)
    assert spec.output in ("regression", "classification") and spec.features >= 1
    assert (spec.loss == "cross_entropy") == (spec.output == "classification") == (spec.metric == "test_ce")
    assert spec.metric in TASK_METRICS
    assert 0 < spec.solved_below < 1 and spec.solved_reason.endswith(".")
    assert catalog.task_modes(spec), "a task supports at least one registered mode"
    for settings in (defaults, _settings(spec)):
        baseline = spec.baseline(settings)
        assert math.isfinite(baseline) and baseline > 0


@TASKS
def test_a_task_is_pure_seeded_and_shaped_as_it_declares(name):
    spec = catalog.get_task(name)
    settings = _settings(spec)
    for mode_name, mode in _pairs(spec):
        train, test = spec.generate(settings, 3, mode.layout, mode.target)
        again, _ = spec.generate(settings, 3, mode.layout, mode.target)
        np.testing.assert_array_equal(train.x, again.x)
        np.testing.assert_array_equal(train.y, again.y)
        for data in (train, test):
            assert data.x.dtype == np.float32 and len(data.x) == len(data.y) > 0
            steps = spec.steps(settings)
            if mode.layout == "many":
                assert data.x.shape[1:] == (steps, spec.features), mode_name
            # The label shape the task's output kind and the mode's target call for (the README's contract).
            assert data.y.shape == spec.label_shape(mode.target, len(data.x), settings), mode_name
            if spec.classes:
                assert np.issubdtype(data.y.dtype, np.integer)
                assert data.y.min() >= 0 and data.y.max() < spec.classes
            else:
                assert data.y.dtype == np.float32
        assert train.x.shape[1:] == test.x.shape[1:]
        # the test set is not the training set
        assert len(train.x) != len(test.x) or not np.array_equal(train.x, test.x)


def _memoryless_loss(spec, test) -> float:
    """The best loss of a predictor that ignores its input: a constant per output
    (regression: the mean for MSE, the median for MAE), or the class frequencies
    of each step (classification)."""
    y = np.asarray(test.y)
    if spec.classes:
        per_step = []
        for column in y.reshape(len(y), -1).T:
            p = np.bincount(column, minlength=spec.classes) / len(column)
            per_step.append(-np.sum(p[p > 0] * np.log(p[p > 0])))
        return float(np.mean(per_step))
    y = y.reshape(len(y), -1).astype(np.float64)
    if spec.metric == "test_mse":
        return float(np.mean((y - y.mean(axis=0)) ** 2))
    return float(np.mean(np.abs(y - np.median(y, axis=0))))


@TASKS
def test_the_baseline_is_the_loss_of_the_best_memoryless_predictor(name):
    # A loose check over the registry (the task's own tests pin it exactly): the
    # closed form against the data of the default settings.
    spec = catalog.get_task(name)
    settings = spec.settings()
    mode = catalog.get_mode(catalog.task_modes(spec)[0])
    _, test = spec.generate(settings, 0, mode.layout, mode.target)
    assert _memoryless_loss(spec, test) == pytest.approx(spec.baseline(settings), rel=0.1)


def test_sine_baseline_is_exact_on_the_next_value_targets():
    from zoo.core.config import TaskConfig
    from zoo.core.tasks import sine

    for settings in (TaskConfig(), TaskConfig(window=3, test_start=5.0, test_stop=40.0, test_points=300)):
        _, test = sine.generate(settings, 0, "many", "next")
        assert abs(np.var(test.y.astype(np.float64)) - sine.baseline(settings)) < 1e-6


def test_a_settings_class_serves_one_task(isolated_registry):
    from zoo.core.tasks import adding

    with pytest.raises(isolated_registry.DuplicateNameError, match="share the settings class"):
        isolated_registry.register_task(
            "adding2", settings=adding.AddingSettings, features=2, steps=lambda s: s.length, loss="mse",
            metric="test_mse", modes=[("many", "next")], baseline=adding.baseline, solved_below=0.1,
            solved_reason="x.")(lambda settings, seed, layout, target: None)


@pytest.mark.parametrize("bad,message", [
    ({"length": "steps"}, "not a field"),
    ({"loss": "cross_entropy"}, "classification"),
    ({"solved_below": 1.5}, "between 0 and 1"),
    ({"section": "appendix"}, "section must be one of"),
    ({"limits": {"size": (1, 10)}}, "not a field"),
    ({"limits": {"length": (10, 2)}}, "low 10 above high 2"),
])
def test_a_task_that_contradicts_itself_is_refused(bad, message):
    from zoo.core import registry
    from zoo.core.tasks import adding

    kwargs = dict(settings=adding.AddingSettings, features=2, steps=lambda s: s.length, loss="mse",
                  metric="test_mse", modes=[("many", "next")], baseline=adding.baseline, solved_below=0.1,
                  solved_reason="x.")
    with pytest.raises(ValueError, match=message):
        registry.register_task("bad_task", **{**kwargs, **bad})


@pytest.mark.parametrize("classes,target,n,expected", [
    (0, "next", 7, (7, 1)), (0, "horizon", 7, (7, 3, 1)), (0, "synced", 7, (7, 5, 1)),
    (4, "next", 7, (7,)), (4, "horizon", 7, (7, 3)), (4, "synced", 7, (7, 5)),
])
def test_label_shape_per_output_kind_and_target(classes, target, n, expected):
    from zoo.core.config import TaskConfig
    from zoo.core.specs import TaskSpec

    spec = TaskSpec("t", None, TaskConfig, 1, lambda s: 5, classes, "mse", "test_mse", (), None, 0.1, "x.",
                    "window", None, (), "", "")
    assert spec.label_shape(target, n, TaskConfig(horizon=3)) == expected


@pytest.mark.parametrize("labels", [lambda n: np.zeros((n, 1), np.int32), lambda n: np.zeros((n, 6), np.int32)])
def test_a_label_shape_that_would_broadcast_is_refused_before_training(isolated_registry, labels):
    # Labels (n, 1) for a many_to_one classification task: one-hot (n, 1, k) against the
    # model's (n, k) would broadcast to (n, n, k) and the loss would be silently wrong.
    from zoo.core.tasks.data import TaskData
    from zoo.engine.build import make_data

    @dataclasses.dataclass(frozen=True)
    class OrderSettings:
        length: int = 6
        size: int = 8

    @isolated_registry.register_task(
        "bad_labels", settings=OrderSettings, features=2, steps=lambda s: s.length, classes=4,
        loss="cross_entropy", metric="test_ce", modes=[("many", "next")], baseline=lambda s: math.log(4),
        solved_below=0.1, solved_reason="x.")
    def generate(settings, seed, layout="many", target="next"):
        data = TaskData(np.zeros((settings.size, settings.length, 2), np.float32), labels(settings.size))
        return data, data

    with pytest.raises(ValueError) as err:
        make_data(OrderSettings(), "many_to_one")
    message = str(err.value)
    assert "\n" not in message and "task 'bad_labels'" in message
    assert f"shape {labels(8).shape}" in message and "expected (8,)" in message and "many_to_one" in message
