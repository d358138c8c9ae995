import math
import shutil

import numpy as np
import pandas as pd
import pytest

from zoo import report, store
from zoo.core.grid import expand
from zoo.report import tables
from zoo.report.table_text import display_table as display_columns


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


def test_summary_aggregates_the_stored_runs(tiny_report):
    grid, runs, reports, results = tiny_report
    summary = results.summary
    assert len(summary) == len(grid.cells) * len(grid.modes)
    for row in summary.itertuples():
        members = [store.read_run(runs / r.run_id) for r in expand(grid) if (r.cell, r.mode) == (row.cell, row.mode)]
        losses = [m.metrics["loss"] for m in members]
        mean, half = tables.mean_ci95(losses)
        assert row.loss == pytest.approx(mean) and row.loss_ci95 == pytest.approx(half)
        assert row.seeds == 2 and row.ok == 2 and row.params == members[0].metrics["params"]
        # solved: the runs whose task judged them solved, of those it judged (each that trained)
        assert row.solved == sum(m.metrics["solved"] for m in members) and row.judged == 2
    shown = tables.summary_markdown(summary)
    assert "| solved |" in shown and f"| {int(summary.solved.iloc[0])}/2 |" in shown and "Solved: k/n" in shown
    epochs = pd.read_csv(reports / "epochs.csv")
    assert len(epochs) == len(expand(grid)) * grid.train.epochs


def test_the_page_says_what_each_of_its_cells_and_modes_is_in_its_registered_words(tiny_report):
    """Each run stores its cell's and mode's registered description; the page's glossary lists every
    cell and mode of its runs with it, and a run stored before runs did adds no row."""
    import html as html_text

    from zoo.core import catalog

    grid, runs, reports, _ = tiny_report
    page = html_text.unescape((reports / "index.html").read_text())
    glossary = page[page.index("<h2>Cells and modes</h2>"):page.index("<h2>Comparison</h2>")]
    for cell in grid.cells:
        assert f"<th>{cell}</th><td>{catalog.get_cell(cell).description}</td>" in glossary
    for mode in grid.modes:
        about = catalog.get_mode(mode).description
        assert f"<th>{mode}</th><td>mode: {about[0].lower()}{about[1:]}</td>" in glossary
    old = store.read_run(runs / expand(grid)[0].run_id)
    del old.metrics["cell_declares"], old.metrics["mode_description"]
    assert report.glossary([old]) == []


def test_a_grid_trained_for_optimizer_steps_counts_steps_to_the_loss_threshold(tiny_runs):
    """Its history has a row every eval_every steps: the table says steps (rows x eval_every), not
    "epochs"; a grid trained in epochs keeps epochs."""
    grid, runs = tiny_runs
    summary = tables.summary_table([store.read_run(runs / r.run_id) for r in expand(grid)])
    assert summary.eval_every.isna().all()  # the tiny grid trains in epochs
    assert "epochs to loss < 0.01" in tables.summary_markdown(summary)
    stepped = summary.assign(eval_every=100.0, epochs_to_threshold=2.0)
    shown = tables.summary_markdown(stepped)
    assert "| steps to loss < 0.01 |" in shown and "epochs to loss" not in shown
    assert shown.splitlines()[2].split(" | ")[list(display_columns(stepped)).index("steps to loss < 0.01")] == "200"
    assert "Steps to loss < 0.01: the optimizer steps to the first evaluation" in shown


def test_solved_counts_the_runs_that_trained_and_a_diverged_one_solved_nothing(tiny_runs):
    """solved / judged over a row's runs: a run its task judged solved counts, a diverged one (which
    stores solved false) is judged, a failed one is not, and one stored before runs said (no key)
    is neither."""
    grid, runs = tiny_runs
    gru = [store.read_run(runs / r.run_id) for r in expand(grid) if (r.cell, r.mode) == ("gru", "many_to_one")]
    solved, unsaid = gru
    solved.metrics["solved"] = True
    del unsaid.metrics["solved"]
    (row,) = tables.summary_table([solved, unsaid]).itertuples()
    assert (row.solved, row.judged) == (1, 1)
    shown = tables.summary_markdown(tables.summary_table([solved, unsaid]))
    assert "| 1/1 |" in shown and f"own threshold ({solved.metrics['solved_below']:g}; " in shown
    assert f"the test metric ({solved.metrics['metric'].removeprefix('test_').upper()}) over" in shown
    diverged = store.read_run(runs / gru[1].path.name)
    diverged.metrics.update(status="diverged", solved=False, diverged_epoch=1)
    (row,) = tables.summary_table([solved, diverged]).itertuples()
    assert (row.solved, row.judged, row.ok, row.diverged) == (1, 2, 1, 1)
    (row,) = tables.summary_table([unsaid]).itertuples()
    assert math.isnan(row.solved) and row.judged == 0 and "solved" not in tables.summary_markdown(
        tables.summary_table([unsaid])).splitlines()[0]


@pytest.mark.exhaustive
def test_every_figure_is_written(tiny_report):
    _, _, reports, _ = tiny_report
    figures = ("loss_curves", "gradient_norms", "gradient_by_lag", "weight_groups", "predictions", "test_mae")
    for name in (*figures, "probe_gates"):  # the gates probe's figure (zoo/probes/gates)
        png = reports / f"{name}.png"
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


@pytest.mark.exhaustive
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


def _cell_row(cell, factor, **numbers):
    return pd.Series(dict(cell=cell, decay_factor=factor, first_epoch=0, last_epoch=5, **numbers))


def test_the_tanh_slope_is_said_only_of_a_state_that_is_a_tanh_output():
    from zoo.report.cell_reasons import explain_cell

    # The probe stores mean(1 - h²) for every cell: a ReLU cell's 0.97 is no tanh slope.
    relu = dict(jac_sigma_max=1.03, jac_sigma_min=0.3, jac_sigma_median=0.5, tanh_slope_mean=0.97)
    assert "tanh" not in explain_cell(_cell_row("indrnn", 0.75, **relu))
    assert "tanh" not in explain_cell(_cell_row("indrnn", 0.75, **relu, state_activation="relu"))
    text = explain_cell(_cell_row("simple_rnn", 0.97, **relu, state_activation="tanh"))
    assert "; tanh' averages 0.97 (almost linear)." in text


def test_an_exact_zero_singular_value_is_not_called_round_off():
    from zoo.report.cell_reasons import explain_cell

    sums = dict(jac_sigma_max=1.03, jac_sigma_median=0.0, lyapunov_sum=-2600.0, lyapunov_sum_unresolved=-2576.0)
    dead = explain_cell(_cell_row("indrnn", 0.75, jac_sigma_min=0.0, **sums))
    assert "σ_min is exactly 0: each step drops some direction of the state outright" in dead
    assert "a ReLU's with a negative input" in dead and "the true sum is −∞" in dead
    assert "not from the dynamics" not in dead and "(tiny but not zero: float32 round-off)" not in dead
    tiny = explain_cell(_cell_row("lstm", 0.75, jac_sigma_min=1e-9, **sums))
    assert "-2576 of it from directions below float32 resolution (tiny but not zero: float32 round-off)" in tiny
    assert "exactly 0" not in tiny


def test_a_caveat_is_explained_once_per_listing_then_pointed_to():
    from zoo.report.cell_reasons import explain_cell

    dead = dict(jac_sigma_min=0.0, jac_sigma_max=1.03, jac_sigma_median=0.0, lyapunov_sum=-2600.0,
                lyapunov_sum_unresolved=-2576.0, lyapunov_top=0.08, qr_lyapunov_max=-0.3)
    said: dict = {}
    first, second = (explain_cell(_cell_row(cell, 0.75, **dead), said) for cell in ("irnn", "indrnn"))
    assert "the 1e-30 clamp stands in" in first and "over so few steps it follows the starting basis" in first
    assert "the 1e-30 clamp" not in second and "σ_min is exactly 0, as in irnn (see there)." in second
    assert "(The QR method's top column gives -0.3; why it differs: see irnn.)" in second
    assert "-2576 of it from directions below float32 resolution" in second  # its own numbers stay


def test_a_factor_is_tied_to_the_gate_only_where_the_gate_accounts_for_it():
    from zoo.report.cell_reasons import explain_cell

    gru = explain_cell(_cell_row("gru", 0.582, carry=0.49, carry_gate="update"))
    assert "gru: ×0.582 per step, set by its update gate, which keeps 0.49 of the state per step." in gru
    # sLSTM: its forget gate averages 0.09 (1% left after 1.9 steps) but the state's factor is 0.625 (9.8 steps).
    slstm = explain_cell(_cell_row("slstm", 0.625, carry=0.09, carry_gate="forget"))
    assert "set by its forget gate, which keeps" not in slstm
    assert ("×0.625 per step, the norm of the Jacobian over its whole carried state, not set by its forget gate: "
            "that gate's mean activation is 0.09, which would leave 1% of the gradient after about 2 steps against "
            "about 10 at ×0.625.") in slstm


def _main_summary():
    rows = []
    for cell, seconds in (("simple_rnn", 9.0), ("simple_rnn_rho2", 1.0), ("gru", 12.0)):  # rho2: compile cache
        for mode, mae, next_mae in (("many_to_one", 0.20, 0.20), ("one_to_many", 0.29, 0.24)):
            rows.append(dict(cell=cell, mode=mode, ok=1, seeds=1, diverged=0, params=100, test_mae=mae,
                             test_mae_ci95=math.nan, test_mae_next=next_mae, decay_factor=math.nan,
                             grad_norm_peak=1.0, seconds=seconds))
    return pd.DataFrame(rows)


def _epochs(per_step: dict[str, float], first=2.0, steps=32):
    """Two runs per cell, three epochs each: the first compiles (``first`` seconds)."""
    rows = []
    for cell, seconds in per_step.items():
        for mode in ("many_to_one", "one_to_many"):
            for epoch in (1, 2, 3):
                rows.append(dict(run_id=f"{cell}-{mode}", cell=cell, mode=mode, status="ok", epoch=epoch,
                                 steps=steps, train_seconds=first if epoch == 1 else seconds * steps))
    return pd.DataFrame(rows)


def test_the_cost_is_the_time_per_step_once_compiled_else_says_what_it_includes():
    from zoo.report.findings import main_findings

    summary = _main_summary()
    epochs = _epochs({"simple_rnn": 0.0002, "simple_rnn_rho2": 0.0003, "gru": 0.0005})
    (cost,) = [line for line in main_findings(summary, epochs=epochs) if line.startswith("Cost")]
    assert ("simple_rnn trains fastest (0.2 ms per training step, the median over the epochs after the first, "
            "which compiles; mean over modes) and gru slowest (0.5 ms).") in cost
    (cost,) = [line for line in main_findings(summary) if line.startswith("Cost")]
    assert "trains fastest" not in cost and "simple_rnn_rho2 took the least wall time (1 s per run" in cost
    assert "compiling (or loading the compiled programs from the cache" in cost


def test_the_next_value_finding_names_the_metric_it_uses():
    from zoo.report.findings import main_findings

    (line,) = [line for line in main_findings(_main_summary()) if line.startswith("Predicting")]
    assert "(test_mae_next in summary.csv: the MAE of the first predicted value only;" in line
    assert "one_to_many the least (0.24)" in line  # its test_mae_next; the table's test MAE is 0.29
    one_mode = _main_summary().query("mode == 'many_to_one'")
    assert not [line for line in main_findings(one_mode) if line.startswith("Predicting")]  # no ranking of one


def test_a_run_with_no_recurrent_gradient_is_left_out_of_the_weight_groups():
    from zoo import probes

    finding = probes.get_probe("gradients").finding
    runs = pd.DataFrame([dict(cell="simple_rnn", mode="many_to_many", seed=0, last_epoch_recurrent_share=0.74),
                         dict(cell="lem", mode="many_to_one", seed=0, last_epoch_recurrent_share=0.0034),
                         dict(cell="gru", mode="one_to_one", seed=0, last_epoch_recurrent_share=0.0),
                         dict(cell="lru", mode="many_to_one", seed=0, last_epoch_recurrent_share=math.nan)])
    text = finding(runs)
    assert "hold 74% of the gradient norm of simple_rnn (many_to_many) but 0.3% of lem's (many_to_one)" in text
    assert "gru's" not in text and "Left out: 1 run whose recurrent kernels got no gradient at all (one_to_one)" in text


def test_a_time_profile_with_no_recurrent_gradient_is_no_profile():
    from zoo import probes

    spec = probes.get_probe("grad_time_profile")
    none = pd.DataFrame(dict(epoch=3, lag=[0, 1, 2, 3], term_norm=0.0, share_from=0.0, tail_ratio=0.0))
    assert all(math.isnan(v) for v in spec.summarize(none).values())  # not "0% from far back"
    some = none.assign(share_from=[1.0, 0.6, 0.3, 0.1])
    assert spec.summarize(some) == dict(share_from_1=0.6, share_older_half=0.3, half_lag=1.0)
    one = pd.DataFrame([dict(cell="gru", mode="many_to_one", seed=0, share_older_half=0.3)])
    assert spec.finding(one).endswith("make up 30% of Σ‖dL/dW_rec|_t‖ for gru (many_to_one).")  # nothing to set
    assert spec.finding(one.assign(share_older_half=math.nan)) is None  # it against; no profile: no sentence


def test_a_factor_that_holds_is_said_to_hold_never_to_vanish_or_shrink():
    from zoo.report import answer
    from zoo.report.findings import _order

    d = pd.DataFrame(dict(cell=["rnn", "b", "c"], decay_factor=[1.3, 1.0, 0.5]))
    assert _order(d) == ("rnn's grows (above 1); b's keeps about its size (neither 1% nor 100 times of it within "
                         "1,000 steps); c's vanishes")
    factors = pd.Series({"a": 1.3, "b": 1.0})
    assert answer._bottom_role(factors, "b") == ", the only cell where it does not grow"
    factors = pd.Series({"a": 1.0005, "b": 1.0})
    assert answer._bottom_role(factors, "a") == ", where it keeps about its size"


def test_the_state_size_is_set_against_units_only_for_a_cell_of_one_size():
    from zoo.report.through_time_plots import _state_size_caption

    probes = pd.DataFrame(dict(cell=["simple_rnn", "lstm"], lag=0, dhT_dht=[math.sqrt(113), math.sqrt(16)]))
    # a param_budget grid: simple_rnn has 111 units in one mode and 113 in another; lstm 8 throughout
    summary = pd.DataFrame(dict(cell=["simple_rnn", "simple_rnn", "lstm"], units=[111, 113, 8]))
    text = _state_size_caption(probes, summary)
    assert "× 111" not in text and "× 113" not in text and "(16 = 2 × 8 units)" in text


def test_a_tiny_recurrent_share_is_never_printed_as_none():
    from zoo.core.analysis import percent_text as _percent

    assert [_percent(x) for x in (0.74, 0.003, 0.0004)] == ["74%", "0.3%", "< 0.05%"]


def test_the_gates_finding_leaves_out_a_gate_that_does_not_set_the_factor():
    from zoo import probes

    finding = probes.get_probe("gates").finding
    rows = pd.DataFrame(dict(cell=["lem", "gru", "slstm"], mode="many_to_one", seed=0,
                             carry=[0.99, 0.49, 0.09], decay_factor=[0.988, 0.58, 0.69]))
    text = finding(rows)
    # sLSTM's forget gate (0.09) would leave 1% after 1.9 steps, its state's factor (x0.69) after 12.4
    assert "lem (many_to_one) keeps 0.99" in text and "gru (many_to_one) 0.49" in text
    assert "slstm (many_to_one) 0.09" not in text and "Left out: slstm (many_to_one): the gate's mean" in text
    assert finding(rows[rows.cell == "slstm"]).startswith("Left out: slstm")  # said even with none to rank
    assert "Left out" not in finding(rows.drop(columns="decay_factor"))  # no factor: every gate is read


def test_the_time_profile_finding_leaves_out_a_cell_without_recurrent_weights_of_its_own():
    from zoo import probes

    finding = probes.get_probe("grad_time_profile").finding
    rows = pd.DataFrame(dict(cell=["gru", "lru", "minlstm"], mode="many_to_one", seed=0,
                             share_older_half=[0.07, 0.25, 0.70], own_recurrent_weights=[1.0, 1.0, 0.0]))
    text = finding(rows)
    # minLSTM's profile sums its input kernel's and bias's terms: not dL/dW_rec, so not ranked
    assert "25% of Σ‖dL/dW_rec|_t‖ for lru (many_to_one), the most, and 7% for gru" in text
    assert "70%" not in text and "Left out: minlstm: no recurrent weights apart from the input weights" in text
    assert finding(rows[rows.cell == "minlstm"]).startswith("Left out: minlstm")  # said even with none to rank
    unknown = finding(rows.assign(own_recurrent_weights=math.nan))  # runs stored before it was recorded
    assert "70% of Σ‖dL/dW_rec|_t‖ for minlstm" in unknown and "Left out" not in unknown


def test_a_finding_reads_each_runs_own_numbers_when_a_sweep_repeats_cell_mode_and_seed():
    from types import SimpleNamespace

    from zoo.report import probes as probe_report

    gates = pd.DataFrame({"epoch": [0, 3], "gate": ["carry", "carry"], "mean": [0.4, 0.5]})

    def run(window, factor):
        return SimpleNamespace(config=SimpleNamespace(cell="gru", mode="many_to_one", seed=0, window=window),
                               gates=gates, probe_tables={},
                               metrics={"status": "ok", "decay_factor": factor, "own_recurrent_weights": True})

    table = probe_report.finding_table([run(5, 0.5), run(20, 0.9)], "gates")
    assert list(table.decay_factor) == [0.5, 0.9] and list(table.own_recurrent_weights) == [1.0, 1.0]


def test_cells_with_one_vanish_lag_are_named_together():
    from zoo.report.findings import _vanish_lags

    def row(cell, lag, reached, ok=2):
        return dict(cell=cell, vanish_lag=lag, vanish_reached=reached, ok=ok, max_lag=5)

    none = pd.DataFrame([row("gru", math.nan, 0), row("lstm", math.nan, 0), row("lru", math.nan, 0)])
    assert _vanish_lags(none) == "not reached by lag 5 in every cell"
    every = pd.DataFrame([row("gru", 3.0, 2), row("lstm", 3.0, 2)])
    assert _vanish_lags(every) == "3 in every cell"
    mixed = pd.DataFrame([row("gru", 3.0, 2), row("lstm", math.nan, 0), row("mgu", 3.0, 2), row("lru", math.nan, 0)])
    assert _vanish_lags(mixed) == "3 in gru, mgu; not reached by lag 5 in lstm, lru"
    assert _vanish_lags(pd.DataFrame([row("gru", math.nan, 0)])) == "not reached by lag 5 in gru"


def test_the_fewest_parameters_are_read_mode_by_mode():
    from zoo.report.findings import _fewest_parameters

    s = pd.DataFrame(dict(cell=["indrnn", "gru", "indrnn", "gru"], mode=["one_to_one", "one_to_one", "many_to_one",
                                                                       "many_to_one"], params=[513, 13185, 257, 12929]))
    assert _fewest_parameters(s) == ("indrnn has the fewest parameters in every mode (513 in one_to_one, 257 in "
                                     "many_to_one)")
    s.loc[1, "params"] = 100
    assert _fewest_parameters(s) == "the fewest parameters: gru (100) in one_to_one, indrnn (257) in many_to_one"
    one = pd.DataFrame(dict(cell=["gru", "seed_gru", "lstm"], mode="m", params=[10, 10, 20]))
    assert _fewest_parameters(one) == "gru and seed_gru have the fewest parameters in m (10 in m)"


def test_a_jacobians_sigma_range_is_described_by_its_numbers():
    from zoo.report.cell_reasons import _spectrum_reason

    def row(lo, hi):
        return pd.Series(dict(jac_sigma_min=lo, jac_sigma_max=hi, jac_sigma_median=(lo + hi) / 2))

    assert "range 0.9–0.997 (all below 1: every direction shrinks)" in _spectrum_reason(row(0.9, 0.997))
    assert "(all above 1: every direction stretches)" in _spectrum_reason(row(1.1, 2.0))
    assert "(some directions stretch, others shrink" in _spectrum_reason(row(0.9, 1.5))
    # judged as printed: 0.9996 prints as 1, and 0.996 as 1
    assert "range 0.95–1 (some directions" in _spectrum_reason(row(0.95, 0.9996))
    assert "range 1–1.5 (some directions" in _spectrum_reason(row(0.996, 1.5))
    assert "(" not in _spectrum_reason(row(math.nan, 1.5)).split("range")[1].split(";")[0]
