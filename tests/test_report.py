import math
import shutil

import numpy as np
import pandas as pd
import pytest

from zoo import report, store
from zoo.core.grid import expand
from zoo.report import tables


def test_mean_ci95_is_the_t_interval():
    mean, half = tables.mean_ci95([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.302652729911275 / math.sqrt(3))  # t(0.975, 2) * sd / sqrt(n)
    assert math.isnan(tables.mean_ci95([5.0])[1])


def test_vanish_lag_is_measured_never_extrapolated():
    lags = np.arange(0, 6)
    fast = pd.DataFrame({"lag": lags, "dhT_dht": 8.0 * 10.0 ** (-lags.astype(float))})
    assert tables.vanish_lag(fast) == (4.0, 5)  # 8e-4 < 1e-3 * 8 first at lag 4; lags measured up to 5
    slow = pd.DataFrame({"lag": lags, "dhT_dht": 8.0 * np.exp(-0.5 * lags)})
    lag, max_lag = tables.vanish_lag(slow)
    assert math.isnan(lag) and max_lag == 5
    assert tables.vanish_text({"vanish_lag": lag, "vanish_reached": 0, "ok": 3, "max_lag": 5}) == "not reached by lag 5"
    assert tables.vanish_text({"vanish_lag": 4.0, "vanish_reached": 2, "ok": 3, "max_lag": 5}).startswith("4 (2 of 3")


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


@pytest.mark.slow
def test_every_figure_is_written(tiny_runs, tmp_path):
    grid, runs = tiny_runs
    report.build(runs, tmp_path / "reports", compared=grid.name)
    figures = ("loss_curves", "gradient_norms", "gradient_by_lag", "weight_groups", "predictions", "test_mae")
    for name in (*figures, "probe_gates"):  # the gates probe's figure (zoo/probes/gates)
        png = tmp_path / "reports" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_markdown_says_when_there_is_one_seed():
    row = dict(cell="gru", mode="many_to_one", seeds=1, ok=1, diverged=0, failed=0, params=10,
               loss=0.1, loss_ci95=math.nan, test_mae=0.2, test_mae_ci95=math.nan, test_mse=0.1,
               test_mse_ci95=math.nan, test_mae_next=0.2, epochs_to_threshold=math.nan, seconds=1.0,
               grad_norm_final=1.0, grad_norm_peak=2.0, decay_rate=-0.5, decay_factor=0.6065, vanish_lag=math.nan,
               vanish_reached=0, max_lag=5, clipped_fraction=0.0)
    text = tables.summary_markdown(pd.DataFrame([row]))
    assert "One seed per row: no interval is given." in text and "extrap" not in text
    assert "not reached by lag 5" in text and "×0.607" in text and " ± " not in text.splitlines()[2]


@pytest.mark.slow
def test_two_arms_that_resolve_to_one_run_count_it_once(tmp_path, tiny_runs):
    from dataclasses import replace

    from conftest import tiny_grid

    from zoo.core.report_spec import ReportSpec
    from zoo.runs import runner

    # GRU many_to_one at 8 units has 3 * (8 * 9 + 16) + 9 = 273 weights, so a budget
    # of 273 sizes it to the grid's own 8 units: both arms are the same 2 runs.
    # SimpleRNN's budget arm is 15 units (271 weights): 4 runs.
    grid = tiny_grid(cells=("simple_rnn", "gru"), modes=("many_to_one",), seeds=2, units=8,
                     sweep=(("param_budget", (None, 273)),), name="budget_n", experiment="Equal budget?",
                     report=ReportSpec(("params_vs_mae",), ("budget",), ("probes",)))  # as equal_params.toml
    assert sorted((r.cell, r.units) for r in expand(grid)) == [("gru", 8)] * 2 + [("simple_rnn", 8)] * 2 + [
        ("simple_rnn", 15)] * 2
    runs = tmp_path / "runs"
    _, stored = tiny_runs  # its 8-unit runs are the session's: only SimpleRNN's budget arm trains here
    for run in expand(grid):
        if (stored / run.run_id).is_dir() and not (runs / run.run_id).exists():
            shutil.copytree(stored / run.run_id, runs / run.run_id)
    runner.execute(grid, runs, jobs=1, say=lambda msg: None)
    results = report.build(runs, tmp_path / "reports", compared=grid.name)
    gru = results.summary[results.summary.cell == "gru"]
    assert len(gru) == 1 and gru.seeds.iloc[0] == 2 and gru.ok.iloc[0] == 2  # n = 2, not 4
    losses = [store.read_run(runs / r.run_id).metrics["loss"] for r in expand(grid) if r.cell == "gru"]
    assert gru.loss_ci95.iloc[0] == pytest.approx(tables.mean_ci95(losses)[1])
    assert len(results.summary) == 3 and results.summary.seeds.tolist() == [2, 2, 2]
    section = (tmp_path / "reports" / "index.html").read_text().split("Experiment: budget_n")[1]
    assert "No finished runs yet" not in section and "not trained yet" not in section
    assert "gru many_to_one (the budget sizes them to 8 units too)" in section
    assert (tmp_path / "reports" / "experiments" / "budget_n" / "params_vs_mae.png").is_file()  # as it declares

    # Compared again with --seeds 1: the section counts that grid, not the config's 2 seeds.
    one = replace(grid, seeds=1)
    runner.execute(one, runs, jobs=1, say=lambda msg: None)
    results = report.build(runs, tmp_path / "reports", compared=one.name)
    assert results.summary.seeds.tolist() == [1, 1, 1]
    assert "not trained yet" not in (tmp_path / "reports" / "index.html").read_text().split("Experiment: budget_n")[1]


def test_divergence_cause_is_read_from_the_through_time_numbers():
    grew = {"cause_factor": 1.67, "cause_epoch": 0, "cause_growth": 13.1, "cause_lag": 5}
    cause, reason = tables.divergence_cause(grew)
    assert cause == "through time" and "grew ×1.67 per step back (lags 1-5) at initialisation" in reason
    shrank = {"cause_factor": 0.6, "cause_epoch": 3, "cause_growth": 0.08, "cause_lag": 5}
    cause, reason = tables.divergence_cause(shrank)
    assert cause == "step size" and "shrank ×0.6 per step back (lags 1-5) at epoch 3" in reason
    assert tables.divergence_cause({"cause_factor": math.nan, "cause_epoch": None})[0] == "step size"
