import math

import numpy as np
import pandas as pd
import pytest

from zoo import report
from zoo.core.grid import expand
from zoo.report import tables
from zoo.runs import store


def test_mean_ci95_is_the_t_interval():
    mean, half = tables.mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302652729911275 / math.sqrt(3))  # t(0.975, 2) * sd / sqrt(n)
    assert math.isnan(tables.mean_ci95([5.0])[1])


def test_vanish_lag_measured_and_extrapolated():
    lags = np.arange(0, 6)
    fast = pd.DataFrame({"lag": lags, "dhT_dht": 8.0 * 10.0 ** (-lags.astype(float))})
    assert tables.vanish_lag(fast) == (4.0, True)  # 8e-4 < 1e-3 * 8 first at lag 4
    slow = pd.DataFrame({"lag": lags, "dhT_dht": 8.0 * np.exp(-0.5 * lags)})
    lag, measured = tables.vanish_lag(slow)
    assert not measured and lag == pytest.approx(math.log(1e3) / 0.5)
    flat = pd.DataFrame({"lag": lags, "dhT_dht": np.full(6, 8.0)})
    assert tables.vanish_lag(flat) == (math.inf, False)


def test_epochs_to_threshold():
    h = pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [0.5, 0.02, 0.009, 0.001]})
    assert tables.epochs_to_threshold(h) == 3
    assert math.isnan(tables.epochs_to_threshold(h.iloc[:2]))


def test_summary_aggregates_the_stored_runs(tiny_runs, tmp_path):
    grid, runs = tiny_runs
    results = report.build(runs, tmp_path / "reports", compared=grid.name)
    summary = results.summary
    assert len(summary) == len(grid.cells) * len(grid.modes)
    for row in summary.itertuples():
        members = [store.read_run(runs / r.run_id) for r in expand(grid) if (r.cell, r.mode) == (row.cell, row.mode)]
        losses = [m.metrics["loss"] for m in members]
        mean, half = tables.mean_ci95(losses)
        assert row.loss == pytest.approx(mean) and row.loss_ci95 == pytest.approx(half)
        assert row.seeds == 2 and row.ok == 2 and row.params == members[0].metrics["params"]
    epochs = pd.read_csv(tmp_path / "reports" / "epochs.csv")
    assert len(epochs) == len(expand(grid)) * grid.train.epochs


def test_every_figure_is_written(tiny_runs, tmp_path):
    grid, runs = tiny_runs
    report.build(runs, tmp_path / "reports", compared=grid.name)
    figures = ("loss_curves", "gradient_norms", "gradient_by_lag", "weight_groups", "predictions", "test_mae")
    for name in (*figures, "gate_activity"):
        png = tmp_path / "reports" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_says_when_there_is_one_seed():
    row = dict(cell="gru", mode="many_to_one", seeds=1, ok=1, diverged=0, failed=0, params=10,
               loss=0.1, loss_ci95=math.nan, test_mae=0.2, test_mae_ci95=math.nan, test_mse=0.1,
               test_mse_ci95=math.nan, test_mae_next=0.2, epochs_to_threshold=math.nan, seconds=1.0,
               grad_norm_final=1.0, grad_norm_peak=2.0, decay_rate=-0.5, vanish_lag=13.8,
               vanish_lag_measured=False, clipped_fraction=0.0)
    text = tables.summary_markdown(pd.DataFrame([row]))
    assert "One seed per row: no interval is given." in text and "13.8 (extrap.)" not in text
    assert "14 (extrap.)" in text and " ± " not in text.splitlines()[2]
