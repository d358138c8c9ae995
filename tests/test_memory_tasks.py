"""The memory tasks of zoo.core.tasks: shapes, seeding, and each closed-form baseline against data."""

import importlib
import math
import subprocess
import sys

import numpy as np
import pytest

from zoo.core.tasks import adding, copy, sine_gap

SMALL = {  # settings small enough to generate in milliseconds
    adding: adding.Settings(length=12, train_size=64, test_size=32),
    copy: copy.Settings(length=7, train_size=64, test_size=32),
    sine_gap: sine_gap.Settings(length=6, train_points=300, test_points=120),
}
MODULES = pytest.mark.parametrize("task", list(SMALL), ids=lambda m: m.__name__.rsplit(".", 1)[-1])


def splits(data):
    return [a for a in (data.x, data.y, data.offsets, data.ends) if a is not None]


def same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(splits(a), splits(b), strict=True))


def mse(pred, y):
    return float(np.mean((np.asarray(pred, np.float64) - y) ** 2))


def cross_entropy(probs, y):
    """Mean over every step of -ln p(true class)."""
    return float(-np.mean(np.log(np.take_along_axis(probs, y[..., None], axis=-1))))


def sizes(task, s):
    if task is sine_gap:
        return s.train_points - s.window, s.test_points - s.window
    return s.train_size, s.test_size


@MODULES
def test_shapes_and_dtypes(task):
    s = SMALL[task]
    for data, n in zip(task.generate(s, 0), sizes(task, s), strict=True):
        assert data.x.dtype == np.float32
        if task is copy:
            assert data.x.shape == (n, s.length + 20, 10) and data.y.shape == (n, s.length + 20)
            assert data.y.dtype == np.int32
        else:
            steps = s.length if task is adding else s.window + s.length
            assert data.x.shape == (n, steps, 2) and data.y.shape == (n, 1) and data.y.dtype == np.float32
    assert 0 < task.SOLVED_BELOW < 1 and task.SOLVED_REASON.endswith(".")


@MODULES
def test_seeding(task):
    s = SMALL[task]
    train, test = task.generate(s, 3)
    again, _ = task.generate(s, 3)
    other, _ = task.generate(s, 4)
    assert same(train, again)
    assert not same(train, test)
    # sine_gap cuts fixed series: no randomness, so the seed changes nothing
    assert same(train, other) == (task is sine_gap)


def test_modules_import_no_framework():
    code = ("import sys, zoo.core.tasks.adding, zoo.core.tasks.copy, zoo.core.tasks.sine_gap; "
            "print([m for m in ('keras', 'jax', 'tensorflow', 'torch') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert importlib.import_module("zoo.core.tasks.data").TaskData


def test_adding_markers_and_baseline():
    train, _ = adding.generate(adding.Settings(length=10, train_size=200_000, test_size=1), 0)
    values, markers = train.x[..., 0], train.x[..., 1]
    assert np.all(markers[:, :5].sum(1) == 1) and np.all(markers[:, 5:].sum(1) == 1)
    assert mse((values * markers).sum(1, keepdims=True), train.y) == 0  # a perfect predictor
    best = train.y.mean()
    assert abs(mse(best, train.y) / adding.baseline(adding.Settings()) - 1) < 0.01


def test_sine_gap_matches_series_and_baseline():
    s = sine_gap.Settings()
    train, test = sine_gap.generate(s, 0)
    values = sine_gap.series(100, 200, 1000)
    np.testing.assert_array_equal(values, np.sin(np.linspace(100, 200, 1000)).astype(np.float32))
    assert len(train.y) == 10000 - 5 and len(test.y) == 1000 - 5
    np.testing.assert_array_equal(test.x[:, :5, 0], values[test.ends[:, None] + np.arange(-4, 1)])
    assert not test.x[:, 5:, 0].any() and np.all(test.x[:, 5:, 1] == 1) and not test.x[:, :5, 1].any()
    assert mse(values[test.ends + test.offsets][:, None], test.y) == 0  # a perfect predictor
    assert abs(mse(test.y.mean(dtype=np.float64), test.y) - sine_gap.baseline(s)) < 1e-6
    assert abs(sine_gap.baseline(s) - 0.5) < 0.01
    # the closed form holds for other windows and grids, including one whose step is pi
    pi_step = sine_gap.Settings(test_stop=100 + 6 * math.pi, test_points=7)
    for other in (sine_gap.Settings(window=1, test_points=50), pi_step):
        _, t = sine_gap.generate(other, 0)
        assert abs(mse(t.y.mean(dtype=np.float64), t.y) - sine_gap.baseline(other)) < 1e-6


@pytest.mark.parametrize("length", [7, 100])
def test_copy_layout_and_baseline(length):
    s = copy.Settings(length=length, train_size=500, test_size=1)
    train, _ = copy.generate(s, 0)
    ids = train.x.argmax(-1)
    assert np.all(train.x.sum(-1) == 1)
    assert np.all((ids[:, :10] >= 1) & (ids[:, :10] <= 8)) and np.all(ids[:, length + 9] == 9)
    assert np.count_nonzero(ids) == 11 * len(ids)
    np.testing.assert_array_equal(train.y[:, -10:], ids[:, :10])
    assert not train.y[:, :-10].any()
    # the memoryless predictor: sure of every blank, uniform over 1..8 on the recall steps
    memoryless = np.zeros(train.x.shape)
    memoryless[:, :-10, 0] = 1
    memoryless[:, -10:, 1:9] = 1 / 8
    assert abs(cross_entropy(memoryless, train.y) - copy.baseline(s)) < 1e-6
    assert math.isclose(copy.baseline(s), 10 * math.log(8) / (length + 20))
    perfect = np.eye(10)[train.y]
    assert cross_entropy(perfect, train.y) == 0 and copy.recall_accuracy(train.y, perfect) == 1
    assert abs(copy.recall_accuracy(train.y, memoryless + 1e-3 * perfect) - 1) < 1e-12  # argmax of probs
    assert copy.recall_accuracy(train.y, np.log(memoryless + 1e-9)) < 0.2  # logits; ties pick symbol 1


@pytest.mark.parametrize("make", [
    lambda: adding.Settings(length=1), lambda: copy.Settings(length=0),
    lambda: sine_gap.Settings(length=-1), lambda: sine_gap.Settings(test_points=5),
])
def test_bad_settings_are_refused(make):
    with pytest.raises(ValueError, match="must"):
        make()
