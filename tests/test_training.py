import numpy as np
import pandas as pd
import pytest
from conftest import TINY_TASK, TINY_TRAIN

from zoo.core.config import RunConfig, TrainConfig
from zoo.engine import run as training


def _run(**train_changes):
    train = TrainConfig(**{**TINY_TRAIN.__dict__, **train_changes})
    return RunConfig("gru", "many_to_one", seed=3, units=8, task=TINY_TASK, train=train)


def test_run_records_every_measurement():
    result = training.train_run(_run(epochs=3))
    h = result.history
    assert list(h.epoch) == [1, 2, 3]
    assert (h.steps == -(-295 // 32)).all()  # 295 windows in batches of 32, last one partial
    assert (h.grad_norm_max >= h.grad_norm_mean).all() and (h.grad_norm_mean > 0).all()
    assert (h.nonfinite_steps == 0).all() and (h.clipped_steps == 0).all()
    assert set(result.gradients.group) == {"rnn.input_kernel", "rnn.recurrent_kernel", "rnn.bias", "head"}
    assert sorted(result.probes.epoch.unique()) == [0, 1, 2, 3]  # 0: at initialisation, before the first step
    assert len(result.probes) == 4 * (TINY_TASK.window + 1)
    assert result.metrics["status"] == "ok" and result.metrics["params"] == 8 * 3 * (1 + 8 + 2) + 9
    assert np.isfinite(result.metrics["decay_rate"])
    assert result.metrics["state_activation"] is None  # a GRU's h is no tanh output: no tanh' said of it
    assert result.metrics["own_recurrent_weights"] is True  # its recurrent_kernel group, just above
    assert len(result.predictions) == TINY_TASK.test_points - TINY_TASK.window


def test_group_norms_square_sum_to_the_global_norm(monkeypatch):
    # Per step, the global norm is the root of the sum of the squared group norms:
    # the groups partition the weights. Checked on the per-step statistics the
    # compiled epoch returns (the stored tables keep only epoch means and maxima).
    seen = []
    real = training.Recorder.epoch

    def keep(self, epoch, stats, *args):
        seen.append((np.asarray(stats[1], np.float64), self.eng.step_probes.split(np.asarray(stats[2], np.float64))))
        return real(self, epoch, stats, *args)

    monkeypatch.setattr(training.Recorder, "epoch", keep)
    result = training.train_run(_run(epochs=2))
    assert len(seen) == 2
    for epoch, (gnorm, step_stats) in enumerate(seen, start=1):
        groups = step_stats["gradients"]["norm"]  # {group: its norm at each step}
        assert list(groups) == ["rnn.input_kernel", "rnn.recurrent_kernel", "rnn.bias", "head"]  # the model's order
        norms = np.stack(list(groups.values()), axis=1)
        assert norms.shape == (len(gnorm), 4) and (norms > 0).all()
        # float32 sums of a few hundred squares: agreement to a few ulp.
        np.testing.assert_allclose(np.sqrt(np.sum(norms**2, axis=1)), gnorm, rtol=1e-5)
        # ... and the stored tables are those per-step numbers' epoch means and maxima.
        rows = result.gradients[result.gradients.epoch == epoch]
        assert list(rows.group) == list(groups)
        np.testing.assert_allclose(rows.norm_max.to_numpy(), norms.max(axis=0), rtol=1e-6)
        np.testing.assert_allclose(rows.norm_mean.to_numpy(), norms.mean(axis=0), rtol=1e-6)
        assert result.history.grad_norm_max.iloc[epoch - 1] == pytest.approx(gnorm.max(), rel=1e-6)
    pd.testing.assert_frame_equal(result.gradients, result.probe_tables["gradients"])  # gradients.csv: a copy


def test_same_seed_same_numbers():
    a, b = training.train_run(_run()), training.train_run(_run())
    timing = ["seconds", "train_seconds"]
    pd.testing.assert_frame_equal(a.history.drop(columns=timing), b.history.drop(columns=timing))
    pd.testing.assert_frame_equal(a.probes, b.probes)


def test_huge_learning_rate_is_recorded_as_diverged():
    result = training.train_run(_run(epochs=5, learning_rate=1e20, loss="mse"))
    assert result.status == "diverged"
    assert result.metrics["diverged_epoch"] == result.metrics["epochs_run"] <= 5
    assert not np.isfinite(result.history.loss.iloc[-1])
    assert result.metrics["diverged_in"] == "loss"


@pytest.mark.parametrize("probe,column", [("input_gradient", "dL_dx"), ("state_jacobian", "dhT_dht")])
def test_a_nan_probe_with_a_finite_loss_is_diverged_too(monkeypatch, probe, column):
    from zoo.engine import probe_program

    real = probe_program.check_output

    def poisoned(spec, out):  # one lag's value of the initial weights' probe
        values = real(spec, out)
        if spec.name == probe:
            values[column][1] = np.nan
        return values

    monkeypatch.setattr(probe_program, "check_output", poisoned)
    result = training.train_run(_run(epochs=3))
    assert np.isfinite(result.history.loss).all()
    assert result.status == "diverged" and result.metrics["diverged_in"] == f"probe {probe}"
    assert result.metrics["diverged_epoch"] == result.metrics["epochs_run"] == 1


def test_global_clipping_counts_clipped_steps():
    result = training.train_run(_run(epochs=1, global_clipnorm=1e-6))
    h = result.history.iloc[0]
    assert h.clipped_steps == h.steps  # every raw gradient is larger than 1e-6


@pytest.mark.parametrize("clip", [{"clipnorm": 1e-6}, {"global_clipnorm": 1e-6}])
def test_clipping_changes_the_update(clip):
    free = training.train_run(_run(epochs=1))
    clipped = training.train_run(_run(epochs=1, **clip))
    assert clipped.history.loss.iloc[0] != free.history.loss.iloc[0]
