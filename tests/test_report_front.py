"""What a new user meets first in reports/: the tables of what was compared (never an
empty one), and a page that opens with the post's question answered from the numbers."""

from __future__ import annotations

import html
import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from zoo import report, store
from zoo.core.config import USER_MODEL, GridConfig
from zoo.report import answer
from zoo.report.table_text import factor_text

TOP_TABLES = ("summary.csv", "summary.md", "epochs.csv")


def _runs_as(tiny_runs, tmp_path, records: dict[str, str]) -> object:
    """A copy of the tiny grid's runs, recorded under each ``name: experiment line``
    of ``records`` ("" for a grid without one), as a compare of that config would."""
    grid, runs = tiny_runs
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    (record,) = [r for r in store.read_grids(copy).values() if r["grid"]["name"] == grid.name]
    shutil.rmtree(copy / store.GRIDS)
    for name, experiment in records.items():
        store.write_grid(copy, name, {**record["grid"], "name": name, "experiment": experiment}, record["run_ids"])
    return copy


def _body(page: str) -> str:
    return page[page.index("<body>"):]


@pytest.mark.parametrize("compared", ["tiny_exp", None], ids=["compare", "report"])
def test_an_experiment_alone_puts_its_own_tables_at_the_top(tiny_runs, tmp_path, compared):
    runs = _runs_as(tiny_runs, tmp_path, {"tiny_exp": "Does the tiny grid tie?"})
    reports = tmp_path / "reports"
    results = report.build(runs, reports, compared=compared)
    own = reports / "experiments" / "tiny_exp"
    for name in TOP_TABLES:
        top = (reports / name).read_bytes()
        assert top == (own / name).read_bytes(), name
        assert len(top) > 100, name  # a table, not an empty frame
    assert len(results.summary) == len(pd.read_csv(reports / "summary.csv"))
    page = (reports / "index.html").read_text()
    assert "<h2>Comparison</h2>" not in page and "No finished runs" not in page
    assert '<ul class="findings"></ul>' not in page.split("<h2>Experiment: tiny_exp</h2>")[0]
    assert "are those of experiments/tiny_exp/" in page


@pytest.mark.exhaustive
def test_with_a_main_grid_the_top_tables_stay_the_main_grids(tiny_runs, tmp_path):
    runs = _runs_as(tiny_runs, tmp_path, {"mine": "", "tiny_exp": "Does the tiny grid tie?"})
    reports = tmp_path / "reports"
    results = report.build(runs, reports, compared="tiny_exp")
    page = (reports / "index.html").read_text()
    assert "<h2>Comparison</h2>" in page and "are those of experiments/" not in page
    assert results.answer == []  # the page's answer is the main grid's: the command prints it for no other
    assert (reports / "summary.csv").read_bytes() == (reports / "experiments" / "tiny_exp" / "summary.csv").read_bytes()
    assert (reports / "grid.json").read_text().count('"name": "mine"') == 1


@pytest.mark.exhaustive
def test_the_page_opens_with_the_answer_before_any_table(tiny_runs, tmp_path):
    grid, runs = tiny_runs
    reports = tmp_path / "reports"
    results = report.build(runs, reports, compared=grid.name)
    body = _body((reports / "index.html").read_text())
    block = re.search(r'<div class="answer">(.*?)</div>', body, re.S)
    assert [html.escape(line) for line in results.answer] == re.findall(r"<p>(.*?)</p>", block.group(1))
    assert block and body.index('<div class="answer">') < body.index("<table")
    assert body.index('<div class="answer">') < body.index('<ul class="findings">')
    lines = re.findall(r"<p>(.*?)</p>", block.group(1))
    assert 2 <= len(lines) <= answer.MAX_LINES
    assert lines[0].startswith("Can this grid test the post&#x27;s claim") and "No: the sine task" in lines[0]
    rates = answer.extrapolation_factors(results.summary).sort_values(ascending=False)
    alive = answer._longest_alive(rates)  # the largest rate past the first step that does not grow
    assert alive is None or re.search(rf"\b{alive}(, the cell that)? keeps it alive longest", block.group(1))
    assert "make compare CONFIG=memory" in lines[-1]


def _row(cell, mode, mae, ci, factor=math.nan, carry=math.nan, **extra):
    return dict(cell=cell, mode=mode, ok=3, seeds=3, test_mae=mae, test_mae_ci95=ci, decay_factor=factor,
                carry=carry, **extra)


def test_the_gradient_line_says_what_its_factors_are_means_over():
    """Rows of two tasks at the longest length: each cell's factor is the mean over both tasks, and
    the line says so; with one seed a row, it says one seed, not a mean over seeds."""
    rows = [dict(cell=c, mode="many_to_one", task=t, length=n, seeds=1, ok=1, decay_factor=f)
            for c, t, n, f in (("gru", "adding", 10, 0.6), ("gru", "sine_gap", 10, 0.8),
                               ("simple_rnn", "adding", 10, 0.9), ("simple_rnn", "sine_gap", 10, 0.95),
                               ("gru", "adding", 5, 0.1), ("simple_rnn", "adding", 5, 0.1))]
    line = answer.gradient_line(pd.DataFrame(rows))
    assert line.startswith("Through time (many_to_one, length 10, mean over tasks adding and sine_gap, one seed, "
                           "over lags 1-5, last probe)")
    assert "by ×0.925 in simple_rnn" in line and "by ×0.7 in gru" in line  # (0.9 + 0.95) / 2, (0.6 + 0.8) / 2


def test_the_gradient_line_names_the_cell_and_the_steps_from_the_factors():
    summary = pd.DataFrame([
        _row("simple_rnn", "many_to_one", 0.010, 0.004, factor=0.99),
        _row("gru", "many_to_one", 0.012, 0.003, factor=0.6, carry=0.47),
        _row("lstm", "many_to_one", 0.013, 0.002, factor=0.75, carry=0.72),
        _row("gru", "one_to_one", 0.02, 0.01),
    ])
    line = answer.gradient_line(summary)
    steps = math.log(0.01) / math.log(0.99)  # 458.2: 0.99^458 = 1%
    assert "×0.99 in simple_rnn, the cell that keeps it alive longest" in line
    assert f"about {steps:.0f} steps in simple_rnn" in line and "about 9 steps in gru" in line  # 0.6^9 = 1%
    assert "the plain simple_rnn keeps more of it per step than every gated cell" in line
    summary.loc[0, "decay_factor"] = 0.5
    line = answer.gradient_line(summary)
    assert "in lstm, the cell that keeps it alive longest" in line
    assert "Every gated cell (gru and lstm) keeps more of it per step than every plain one." in line


def test_the_tie_is_read_from_the_intervals():
    tied = pd.DataFrame([_row("gru", "m", 0.010, 0.004), _row("lstm", "m", 0.013, 0.002)])
    assert answer._ties(tied).startswith("every cell ties in m (each within")  # one mode: named, not counted
    assert answer._ties(pd.concat([tied, tied.assign(mode="n")])).startswith("every cell ties in all 2 modes")
    apart = pd.DataFrame([_row("gru", "m", 0.010, 0.001), _row("lstm", "m", 0.013, 0.001)])
    assert answer._ties(apart).startswith("in m the best cell leads another beyond the seed-to-seed spread")
    assert answer._ties(pd.concat([apart, tied.assign(mode="n")])).startswith("every cell ties in 1 of 2 modes")
    one = pd.DataFrame([_row("gru", "m", 0.010, np.nan), _row("lstm", "m", 0.013, np.nan)])
    assert answer._ties(one).startswith("with one seed no interval")


def test_the_memory_verdict_counts_the_tasks_where_gates_reach_further():
    rows = []
    for task, reach in (("adding", {"simple_rnn": 25, "lstm": 100}), ("sine_gap", {"simple_rnn": 100, "lstm": 50})):
        for cell, longest in reach.items():
            for length in (25, 50, 100):
                for seed in range(3):
                    solved = length <= longest
                    rows.append(dict(task=task, cell=cell, length=length, seed=seed, status="ok",
                                     ratio=0.01 if solved else 0.9, solved=solved,
                                     gated=cell == "lstm"))  # its runs measured a carry gate
    text = answer._memory_verdict(pd.DataFrame(rows))
    assert "The better gated cell (lstm) reaches further" in text
    assert "adding: lstm 100, simple_rnn 25; sine_gap: simple_rnn 100, lstm 50" in text
    assert "reaches further than every plain cell in 1 of 2 tasks, less far in 1: here the post's claim" in text


def test_a_grid_of_memory_runs_says_it_can_test_the_claim(monkeypatch):
    frame = pd.DataFrame([dict(task="adding", cell=c, length=n, seed=0, status="ok", ratio=r, solved=r < 0.1,
                               gated=c == "gru")
                          for c, n, r in (("gru", 5, 0.01), ("gru", 10, 0.02), ("simple_rnn", 5, 0.05),
                                          ("simple_rnn", 10, 0.8))])
    monkeypatch.setattr(answer.memory, "memory_frame", lambda runs: frame)
    summary = pd.DataFrame([_row("gru", "many_to_one", 0.1, np.nan, factor=0.9, carry=0.8, length=10),
                            _row("simple_rnn", "many_to_one", 0.2, np.nan, factor=0.5, length=10),
                            _row("gru", "many_to_one", 0.1, np.nan, factor=0.8, carry=0.8, length=5),
                            _row("simple_rnn", "many_to_one", 0.2, np.nan, factor=0.95, length=5)])
    lines = answer.answer(summary, GridConfig(name="memory-quick"), runs=[], shown={"memory-quick"})
    assert len(lines) <= answer.MAX_LINES
    assert lines[0].startswith("Can this grid test the post's claim")
    assert "Yes: adding needs a memory of 5, 10 steps" in lines[0]
    assert lines[0].endswith("But this is its quick form, a smoke run too short to settle it: make compare "
                             "CONFIG=memory trains the full one.")
    full = answer.answer(summary, GridConfig(name="memory"), runs=[], shown={"memory"})
    assert "quick form" not in full[0]
    assert lines[1].startswith("Longest length a majority of seeds solve: adding: gru 10, simple_rnn 5.")
    assert "(many_to_one, length 10, mean over seeds, over lags 1-5" in lines[2]
    assert "by ×0.9 in gru, the cell that keeps" in lines[2]
    assert "the memory experiment" not in " ".join(lines)  # it is this grid: its full form is next
    assert lines[-1] == ("Where to look next: the full memory grid: make compare CONFIG=memory; the horizon experiment "
                         "(the longest adding and sine_gap length each cell learns, found by a search): "
                         "make compare CONFIG=horizon (QUICK=1 for a smoke run).")


def test_a_factor_above_1_is_said_to_grow_never_to_keep_the_gradient_alive():
    summary = pd.DataFrame([
        _row("simple_rnn_rho2", "many_to_one", 0.010, 0.004, factor=1.66),
        _row("cornn", "many_to_one", 0.010, 0.004, factor=0.999),
        _row("gru", "many_to_one", 0.012, 0.003, factor=0.6, carry=0.47),
    ])
    line = answer.gradient_line(summary)
    assert "×1.66 in simple_rnn_rho2, where it grows most" in line and "rho2, the cell that keeps" not in line
    assert "Of the cells where it does not grow, cornn keeps it alive longest (×0.999 over lags 1-5)." in line
    grow = math.log(100) / math.log(1.66)  # 9.07: 1.66^9 = 100
    assert f"in simple_rnn_rho2 it would be 100 times larger after about {grow:.0f} steps (it explodes)" in line
    assert "in cornn it would keep about its size" in line  # 0.999^1000 = 0.37: not 1% within 1,000 steps
    assert "1% of it would be left after about 9 steps in gru" in line and "does not shrink" not in line
    both = pd.DataFrame([_row(cell, "many_to_one", 0.1, 0.1, factor=f) for cell, f in (("a", 1.5), ("b", 1.2))])
    line = answer.gradient_line(both)
    assert "in a, where it grows most" in line and "in b, where it grows least" in line and "alive" not in line


def test_the_extrapolation_follows_the_slope_after_the_first_step_not_the_factor_from_lag_0():
    # coRNN in the quick grid: ‖dh_T/dh_t‖ by lag 11.3, 32.2, 28.0, 21.3, 15.7, 11.3. Over lags 1-5
    # that is ×0.999 a step ((11.3 / 11.3) ** (1/5)), but after the first step's jump it falls ×0.77.
    norms = np.array([11.3, 32.2, 28.0, 21.3, 15.7, 11.3])
    lags = np.arange(6)
    rate = np.polyfit(lags[1:], np.log(norms[1:]), 1)[0]  # what decay_rate stores: lags 1 on
    summary = pd.DataFrame([
        _row("cornn", "many_to_one", 0.5, 0.1, factor=0.999, decay_rate=rate),
        _row("gru", "many_to_one", 0.012, 0.003, factor=0.6, carry=0.47, decay_rate=math.log(0.6)),
    ])
    line = answer.gradient_line(summary)
    assert "×0.999 in cornn, the cell that keeps it alive longest" in line  # measured, over lags 1-5
    steps = math.log(0.01) / rate
    assert "fitted slope of ln‖dh_T/dh_t‖ from lag 1 on" in line
    assert f"about {steps:.0f} steps in cornn (at {factor_text(math.exp(rate))} a step)" in line
    assert "keep about its size" not in line and "1,000+" not in line
    assert "about 9 steps in gru" in line and "gru (at" not in line  # its slope is its factor: not repeated
    from zoo.report.findings import _order

    assert _order(summary) == ("past the first step (the slope of ln‖dh_T/dh_t‖ from lag 1 on), cornn's vanishes "
                               "least, gru's most")
    assert "keeps about its size" in _order(summary.assign(decay_rate=math.nan))  # no slope stored: the factor


def test_the_cell_that_keeps_the_gradient_longest_is_chosen_by_its_rate_past_the_first_step():
    # cornn: the most over lags 1-5 (x0.999) but x0.765 a step after its first; lem keeps x0.985 a step.
    summary = pd.DataFrame([
        _row("cornn", "many_to_one", 0.5, 0.1, factor=0.999, decay_rate=math.log(0.765)),
        _row("lem", "many_to_one", 0.2, 0.1, factor=0.988, carry=0.99, decay_rate=math.log(0.985)),
        _row("gru", "many_to_one", 0.012, 0.003, factor=0.6, carry=0.47, decay_rate=math.log(0.6)),
    ])
    line = answer.gradient_line(summary)
    assert "×0.999 in cornn, the most over lags 1-5, and by ×0.6 in gru, where it vanishes fastest" in line
    # none grows: no "of the cells where it does not grow"; cornn, the most over lags 1-5, is said why not
    assert (" lem keeps it alive longest (×0.988 over lags 1-5; cornn's ×0.999 is ×0.765 a step on its slope from "
            "lag 1 on).") in line and "does not grow, lem" not in line
    assert "in lem (at ×0.985 a step)" in line  # its rate past the first step, said once, where it is used
    # a cell with more over lags 1-5 that is not the top one is named, with its rate past the first step
    above = pd.concat([summary, pd.DataFrame([_row("rho2", "many_to_one", 0.3, 0.1, factor=1.5,
                                                   decay_rate=math.log(1.4))])])
    line = answer.gradient_line(above)
    assert ("Of the cells where it does not grow, lem keeps it alive longest (×0.988 over lags 1-5; cornn's ×0.999 "
            "is ×0.765 a step on its slope from lag 1 on).") in line
    assert "Every gated cell" not in line and "the plain cornn keeps more" not in line  # by the rate: they interleave
    from zoo.report.findings import _order

    assert _order(summary).endswith("lem's vanishes least, gru's most")


def test_a_cell_that_keeps_the_gradient_but_has_not_learned_the_task_is_said_to_be_so():
    summary = pd.DataFrame([
        _row("cornn", "many_to_one", 0.56, 0.1, factor=0.999, ratio=0.81, metric="test_mse"),
        _row("gru", "many_to_one", 0.012, 0.003, factor=0.6, carry=0.47, ratio=0.02, metric="test_mse"),
    ])
    line = answer.gradient_line(summary)
    assert ("×0.999 in cornn, the cell that keeps it alive longest, though it has barely learned the task (its "
            "test MSE is 0.81 of the task's baseline") in line
    assert "though it has not learned the task" in answer.gradient_line(summary.assign(ratio=[1.01, 0.02]))
    learned = answer.gradient_line(summary.assign(ratio=[answer.UNLEARNED - 0.01, 0.02]))
    assert "barely learned" not in learned  # below half the baseline: it learned something
    assert "barely learned" not in answer.gradient_line(summary.drop(columns="ratio"))  # no ratio stored


def test_the_trend_of_a_factor_below_about_and_above_1():
    assert answer.trend(0.99) == "vanishes"  # 1% after 458 steps: within 1,000
    assert answer.trend(0.999) == answer.trend(1.0) == answer.trend(1.001) == "holds"
    assert answer.trend(1.01) == "grows"  # 100 times after 463 steps


@pytest.mark.parametrize("others", [(), ("encoder",), ("encoder", "tagger")])
def test_a_report_of_fitted_models_names_each_model_it_holds_in_its_opening(others):
    """Runs of several of the user's models (zoo.ProbeCallback) in one runs folder: the opening speaks of
    the one at the top and names the others, each of which has its own section below."""
    top = GridConfig(name="forecaster", modes=(USER_MODEL,))
    summary = pd.DataFrame([_row("lstm", USER_MODEL, 0.1, np.nan, factor=0.9)])
    first = answer.answer(summary, top, runs=[], shown={"forecaster", *others},
                          fitted=("forecaster", *others))[0]
    assert first.startswith("These are the runs zoo.ProbeCallback wrote for a model of your own (forecaster)")
    if not others:
        assert "also holds" not in first
    else:
        plural = "s" if len(others) > 1 else ""
        assert first.endswith(f"The report also holds {len(others)} other model{plural} of yours fitted with it "
                              f"({', '.join(others)}): each has its own section below.")


def test_no_tie_or_lead_is_claimed_where_a_cell_has_no_interval_or_no_rival():
    lone = pd.DataFrame([_row("gru", "m", 0.010, 0.004)])
    assert answer._ties(lone).startswith("it has one cell per mode, so nothing to tell apart")
    one_run = pd.DataFrame([_row("gru", "m", 0.010, 0.001), _row("lstm", "m", 0.0101, np.nan)])
    assert answer._ties(one_run).startswith("a cell with one ok run has no interval, so nothing tells a tie")
    tied = pd.DataFrame([_row("gru", "n", 0.010, 0.004), _row("lstm", "n", 0.013, 0.002)])
    text = answer._ties(pd.concat([one_run, tied]))
    assert text.startswith("every cell ties in n, the one mode where each cell has an interval (in 1 more, a cell")


def test_with_one_seed_the_answer_names_the_lowest_cell_and_claims_no_lead():
    summary = pd.DataFrame([_row("lru", "many_to_one", 0.012, math.nan), _row("gru", "many_to_one", 0.2, math.nan),
                            _row("lru", "one_to_many", 0.02, math.nan), _row("gru", "one_to_many", 0.3, math.nan)])
    text = answer._ties(summary)
    assert text == ("with one seed no interval tells a tie from a lead: lru has the lowest test MAE in every mode, "
                    "from one run each (the test MAE of every cell and mode spans 0.012 to 0.3)")
    split = summary.assign(test_mae=[0.012, 0.2, 0.3, 0.02])
    assert "the lowest test MAE goes to lru in 1 mode and gru in 1 mode" in answer._ties(split)
    one_cell = summary[summary.cell == "lru"]  # nothing to rank: no "lowest"
    assert answer._ties(one_cell) == "with one seed no interval tells a tie from a lead (test MAE 0.012 to 0.02)"
    no_mae = summary.assign(test_mae=math.nan)  # a classification task's rows: no MAE to rank, and no error
    assert "lowest" not in answer._ties(no_mae)


def test_an_experiments_quick_form_names_the_commands_that_exist():
    from zoo.report import _run_it

    assert _run_it("memory") == " Run it with: make compare CONFIG=memory."
    quick = _run_it("memory-quick")
    assert "CONFIG=memory-quick" not in quick and "make compare CONFIG=memory QUICK=1 trains it again" in quick


def test_a_memory_tie_says_whether_no_cell_or_every_cell_solves():
    rows = [dict(task=task, cell=cell, length=length, seed=0, status="ok", ratio=r, solved=r < 0.1,
                 gated=cell == "gru")
            for task, r in (("adding", 0.5), ("sine_gap", 0.001)) for cell in ("gru", "simple_rnn")
            for length in (5, 10)]
    text = answer._memory_verdict(pd.DataFrame(rows))
    assert ("in every task they reach as far (in adding no cell solves any length; in sine_gap every cell solves "
            "every length), so this budget and these lengths do not separate them.") in text
