import numpy as np
import pytest

from zoo.core.tasks import sine as tasks


def seed_generate_data(seq, time_step_size=5):
    """The seed post's own generator, copied as the reference."""
    X, y = [], []
    for i in range(len(seq) - time_step_size):
        X.append(seq[i : i + time_step_size])
        y.append(seq[i + time_step_size])
    return np.array(X, dtype=np.float32), np.array(y, dtype=np.float32)


def test_series_are_the_seeds():
    np.testing.assert_array_equal(tasks.series(0, 100, 10000), np.sin(np.linspace(0, 100, 10000)).astype(np.float32))


@pytest.mark.parametrize("start,stop,points", [(0, 100, 10000), (100, 200, 1000)])
def test_many_to_one_windows_match_the_seed(start, stop, points):
    values = tasks.series(start, stop, points)
    ref_x, ref_y = seed_generate_data(values)
    w = tasks.make_windows(values, 5, 5, "many", "next")
    assert w.x.shape == (points - 5, 5, 1) and w.y.shape == (points - 5, 1)
    np.testing.assert_array_equal(w.x[:, :, 0], ref_x)
    np.testing.assert_array_equal(w.y[:, 0], ref_y)
    one = tasks.make_windows(values, 5, 5, "one", "next")
    np.testing.assert_array_equal(one.x[:, 0, :], ref_x)


def test_horizon_and_synced_targets():
    values = np.arange(20, dtype=np.float32)
    h = tasks.make_windows(values, 5, 3, "many", "horizon")
    assert h.x.shape == (20 - 5 - 3 + 1, 5, 1) and h.y.shape == (13, 3, 1)
    np.testing.assert_array_equal(h.y[0, :, 0], [5, 6, 7])
    np.testing.assert_array_equal(h.y[-1, :, 0], [17, 18, 19])
    s = tasks.make_windows(values, 5, 3, "many", "synced")
    np.testing.assert_array_equal(s.y[0, :, 0], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(s.offsets, [-3, -2, -1, 0, 1])
    # every target sits at ends + offset in the series
    np.testing.assert_array_equal(values[s.ends[:, None] + s.offsets], s.y[:, :, 0])


def test_too_short_series_is_refused():
    with pytest.raises(ValueError, match="too short"):
        tasks.make_windows(np.zeros(6, np.float32), 5, 3, "many", "horizon")
