"""The memory-horizon search: the pure search on fake outcomes, its [search] table, and a killed
search that resumes to the same horizon (the Wilson and Fisher numbers are in test_stats.py)."""

import json
import math

import pytest

from zoo.core.config import ConfigError, GridConfig
from zoo.core.horizon import SearchSpec, majority, midpoint, search
from zoo.core.loading import grid_from_dict

LADDER = (25, 50, 100, 200, 400, 800, 1600)


def drive(spec: SearchSpec, seeds: int, solves) -> tuple[list[int], object]:
    """Run the search to its end against an oracle ``solves(length, seed)``, as the runner does:
    train what it asks for, add the outcomes, ask again. Returns the lengths trained, in order."""
    outcomes, trained = {}, []
    while not (step := search(spec, seeds, outcomes)).done:
        assert step.next not in outcomes, "asked twice for one length"
        trained.append(step.next)
        outcomes[step.next] = [solves(step.next, s) for s in range(seeds)]
    return trained, step


def test_climbs_while_a_majority_solves_and_stops_one_rung_past_the_first_failure():
    trained, step = drive(SearchSpec(LADDER), 3, lambda length, seed: length <= 100)
    assert trained == [25, 50, 100, 200, 400]  # 200 fails, 400 is the rung past it
    assert (step.horizon, step.failed_above, step.tried) == (100, 200, (25, 50, 100, 200, 400))


def test_beyond_sets_how_far_past_the_first_failure_it_goes():
    assert drive(SearchSpec(LADDER, beyond=0), 3, lambda n, s: n <= 100)[0] == [25, 50, 100, 200]
    assert drive(SearchSpec(LADDER, beyond=2), 3, lambda n, s: n <= 100)[0] == [25, 50, 100, 200, 400, 800]


def test_a_majority_not_every_seed_decides():
    # 2 of 3 seeds solve up to 200, 1 of 3 at 400 and above
    trained, step = drive(SearchSpec(LADDER), 3, lambda n, s: s < (2 if n <= 200 else 1))
    assert step.horizon == 200 and trained[-2:] == [400, 800]
    assert majority([True, False], 2) is False  # half is no majority
    assert majority([True], 3) is None  # seeds still missing: no verdict yet


def test_a_lucky_failure_does_not_end_the_climb():
    fails_at_50 = lambda n, s: n != 50 and n <= 200  # noqa: E731
    trained, step = drive(SearchSpec(LADDER), 3, fails_at_50)
    assert trained == [25, 50, 100, 200, 400, 800]  # 100 solved after 50 failed: the climb goes on
    assert step.horizon == 200 and step.failed_above == 400


def test_solving_every_rung_ends_at_the_top_with_nothing_to_refine():
    trained, step = drive(SearchSpec(LADDER, refine=2), 3, lambda n, s: True)
    assert trained == list(LADDER) and step.horizon == 1600 and step.failed_above is None


def test_failing_the_first_rung_gives_no_horizon():
    trained, step = drive(SearchSpec(LADDER, refine=3), 3, lambda n, s: False)
    assert trained == [25, 50] and step.horizon is None and step.failed_above == 25


def test_refines_geometrically_between_the_horizon_and_the_first_failure():
    trained, step = drive(SearchSpec(LADDER, refine=2), 3, lambda n, s: n <= 110)
    # climb 25..400; then sqrt(100 * 200) = 141 fails, sqrt(100 * 141) = 119 fails
    assert trained == [25, 50, 100, 200, 400, 141, 119]
    assert step.horizon == 100 and step.failed_above == 119
    trained, step = drive(SearchSpec(LADDER, refine=2), 3, lambda n, s: n <= 130)
    assert trained[-2:] == [141, 119] and step.horizon == 119 and step.failed_above == 141
    assert midpoint(100, 200) == 141 and midpoint(4, 5) is None and midpoint(4, 6) == 5


def test_resumes_from_any_stored_prefix_to_the_same_horizon():
    spec, solves = SearchSpec(LADDER, refine=2), (lambda n, s: (n + 7 * s) % 3 != 0 and n <= 300)
    trained, final = drive(spec, 3, solves)
    for cut in range(len(trained) + 1):  # killed after `cut` lengths, some with one seed of the next stored too
        for partial in (0, 1):
            outcomes = {n: [solves(n, s) for s in range(3)] for n in trained[:cut]}
            if cut < len(trained):
                outcomes[trained[cut]] = [solves(trained[cut], 0)][:partial]
            step = search(spec, 3, outcomes)
            assert step.next == (trained[cut] if cut < len(trained) else None)  # the same next length
            while not step.done:
                outcomes[step.next] = [solves(step.next, s) for s in range(3)]
                step = search(spec, 3, outcomes)
            assert step == final


def test_outcomes_of_lengths_it_never_asked_for_change_nothing():
    spec = SearchSpec(LADDER)
    solves = lambda n, s: n <= 50  # noqa: E731
    trained, final = drive(spec, 3, solves)
    other = {n: [True] * 3 for n in (75, 3200)}  # another search's runs in the same folder
    outcomes = {**other, **{n: [solves(n, s) for s in range(3)] for n in trained}}
    assert search(spec, 3, outcomes) == final


# ------------------------------------------------------------------ the [search] table


def search_config(**search) -> dict:
    return {"cells": ["gru"], "modes": ["many_to_one"], "seeds": 1, "units": 4, "task": {"name": "adding"},
            "train": {"steps": 10, "eval_every": 10}, "search": {"ladder": [4, 8, 16], **search}}


def test_a_search_table_round_trips_through_the_grid_record():
    grid = grid_from_dict(search_config(refine=1, beyond=0))
    assert grid.search == SearchSpec((4, 8, 16), beyond=0, refine=1)
    assert GridConfig.from_stored(json.loads(json.dumps(grid.to_dict()))) == grid
    assert "search" not in grid_from_dict({k: v for k, v in search_config().items() if k != "search"}).to_dict()


@pytest.mark.parametrize("search, message", [
    ({"ladder": [8, 4]}, r"search.ladder = \[8, 4\]: expected lengths in ascending order.*such as \[4, 8\]"),
    ({"ladder": []}, r"search.ladder = \[\]: expected a non-empty list"),
    ({"ladder": [1, 4]}, r"adding: length must be >= 2"),
    ({"ladder": [4], "refine": -1}, r"search.refine = -1: expected a number greater than -1"),
    ({"ladder": [4], "axis": "task.lenght"}, r"search.axis = 'task.lenght'.*did you mean 'task.length'"),
    ({"ladder": [4], "ladders": 1}, r"unknown key 'ladders' in \[search\].*did you mean 'ladder'"),
])
def test_a_bad_search_table_is_one_line_naming_it(search, message):
    raw = search_config()
    raw["search"] = search
    with pytest.raises(ConfigError, match=message) as info:
        grid_from_dict(raw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("change, message", [
    ({"modes": ["many_to_one", "many_to_many_synced"]}, r"modes = .*a \[search\] grid trains one mode"),
    ({"sweep": {"units": [4, 8]}}, r"sweep.units: a \[search\] grid sweeps only task.name and train.learning_rate"),
])
def test_a_search_grid_is_what_its_report_reads(change, message):
    """The horizon report's lines are task x cell x learning rate at one mode: a grid it would pool is refused."""
    raw = {**search_config(), **change}
    with pytest.raises(ConfigError, match=message) as info:
        grid_from_dict(raw)
    assert "\n" not in str(info.value)


def test_the_searched_axis_cannot_also_be_swept():
    raw = search_config()
    raw["sweep"] = {"task.length": [4, 8]}
    with pytest.raises(ConfigError, match=r"sweep.task.length: the axis \[search\] searches"):
        grid_from_dict(raw)


# ------------------------------------------------------------------ the runner


class KilledAfter:
    """Trains in this process, as a worker would; raises KeyboardInterrupt (a kill) after ``limit`` runs."""

    def __init__(self, limit: int | None = None):
        self.limit, self.trained = limit, []

    def map(self, configs, on_epoch):
        from zoo import store
        from zoo.engine.run import train_run
        from zoo.runs.executors import Finished

        for config in configs:
            if self.limit is not None and len(self.trained) >= self.limit:
                raise KeyboardInterrupt
            self.trained.append(config.run_id)
            yield Finished(config, store.run_files(train_run(config)), None)


@pytest.mark.exhaustive
def test_a_killed_search_resumes_where_it_stopped_and_reaches_the_same_horizon(tmp_path, monkeypatch):
    from zoo import store
    from zoo.core.grid import search_lines
    from zoo.runs import runner

    # Real (tiny) runs; whether one counts as solved is a rule of its length, so the search has a
    # horizon to find: solved up to length 6, which only the refinement between 4 and 8 finds.
    monkeypatch.setattr(store, "solved", lambda runs_dir, run: run.task.length <= 6)
    raw = search_config(ladder=[4, 8, 16], refine=1)
    raw["seeds"] = 2
    raw["task"].update(train_size=64, test_size=16)
    raw["train"].update(batch_size=16, probes=1, probe_batch=4)
    grid = grid_from_dict(raw, name="h")
    (line,) = search_lines(grid)
    runs = tmp_path / "runs"
    expected, final = drive(grid.search, 2, lambda n, s: n <= 6)
    assert expected == [4, 8, 16, 6] and final.horizon == 6
    want = [r.run_id for n in expected for r in line.runs_at(n)]

    killed = KilledAfter(limit=3)
    with pytest.raises(KeyboardInterrupt):
        runner.execute(grid, runs, executor=killed, say=lambda m: None)
    resumed = KilledAfter()
    outcome = runner.execute(grid, runs, executor=resumed, say=lambda m: None)
    assert killed.trained == want[:3] and resumed.trained == want[3:]  # nothing trained twice, nothing skipped
    assert (outcome.trained, outcome.skipped) == (len(want) - 3, 3)
    steps, asked, todo, _ = runner.search_round([line], runs, 2)
    assert steps == [final] and todo == [] and [r.run_id for r in asked] == want
    assert store.read_grids(runs)["h"]["run_ids"] == want  # the record the report reads
    again = KilledAfter()
    assert runner.execute(grid, runs, executor=again, say=lambda m: None).trained == 0 and not again.trained
    from zoo import report  # a search grid as the report's main grid: its own section, its lengths per cell

    report.build(runs, tmp_path / "reports", compared="h")
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "Memory horizon on adding" in page and "T=4" in page  # (its horizon: the runs' own solved flags)


# ------------------------------------------------------------------ the report section


def horizon_rows(spec):
    """A synthetic horizon frame: per (cell, lr) a rule length -> seeds solved of 3, run as the search would."""
    import numpy as np
    import pandas as pd

    rules = {  # (cell, lr): (solved seeds at each length, per-step factor at initialisation)
        ("simple_rnn", 1e-3): (lambda n: 0, 0.60), ("simple_rnn", 3e-3): (lambda n: 3 if n <= 25 else 0, 0.60),
        ("irnn", 1e-3): (lambda n: 3 if n <= 50 else 1, 1.00), ("irnn", 3e-3): (lambda n: 2 if n <= 50 else 0, 1.00),
        ("gru", 1e-3): (lambda n: 3 if n <= 100 else 0, 0.90), ("gru", 3e-3): (lambda n: 3 if n <= 100 else 0, 0.90),
        ("lstm", 1e-3): (lambda n: 3 if n <= 200 else 0, 0.95), ("lstm", 3e-3): (lambda n: 0, 0.95),
    }
    records = []
    for (cell, lr), (rule, factor) in rules.items():
        trained, _ = drive(spec, 3, lambda n, s, rule=rule: s < rule(n))
        for n in trained:
            for s in range(3):
                solved = s < rule(n)
                records.append({
                    "task": "adding", "cell": cell, "mode": "many_to_one", "length": n, "seed": s, "status": "ok",
                    "ratio": 0.01 if solved else 0.9, "solved": solved, "solved_below": 0.1, "solved_reason": "Why.",
                    "baseline": 1 / 6, "metric": "test_mse", "dh_init": factor ** (n - 1),
                    "dh_end": (factor + 0.02) ** (n - 1), "steps": 600, "batch": 64, "probes": 1, "probe_batch": 16,
                    "seconds": 1.0, "probe_seconds": 0.1, "sequence_steps": n, "recall_accuracy": np.nan,
                    "run_id": f"{cell}-{lr}-{n}-{s}", "lr": lr, "budget": 600, "stopped": False,
                    # What the runs measured (a carry gate) and what irnn declares (a published horizon).
                    "gated": cell in ("gru", "lstm"), "remedy": "",
                    "published": ("adding", 1000, "a paper solving T = 1,000") if cell == "irnn" else (),
                })
    frame = pd.DataFrame(records)
    from zoo.report import horizon as report

    frame["factor_init"] = report._per_step(frame.dh_init, frame.sequence_steps)
    frame["factor_end"] = report._per_step(frame.dh_end, frame.sequence_steps)
    return frame


def test_the_report_finds_the_search_horizon_the_best_learning_rate_and_its_window():
    from zoo.report import horizon as report

    spec = SearchSpec((25, 50, 100, 200, 400), refine=1)
    frame = horizon_rows(spec)
    assert frame.factor_init[frame.cell == "gru"].round(6).eq(0.9).all()  # the (T-1)-th root undoes the power
    lines = report.lines_table(frame, spec, 3).set_index(["cell", "lr"])
    assert lines.loc[("lstm", 1e-3)].horizon == 200 and math.isnan(lines.loc[("lstm", 3e-3)].horizon)
    assert lines.loc[("gru", 1e-3)].tried == (25, 50, 100, 141, 200, 400) and lines.done.all()
    best = report.best_lr(report.lines_table(frame, spec, 3)).set_index("cell")
    assert best.loc["gru"].horizon == 100 and best.loc["gru"].window == [1e-3, 3e-3]
    assert best.loc["irnn"].horizon == 50 and best.loc["irnn"].window == [1e-3, 3e-3]  # 2 of 3 is a majority
    assert best.loc["simple_rnn"].best_lr == 3e-3 and best.loc["simple_rnn"].window == [3e-3]
    assert report._window_text(best.loc["gru"]) == "1e-3 to 3e-3 (2 of 2)"
    at = report.length_cells(frame)
    row = at[(at.cell == "irnn") & (at.lr == 3e-3) & (at.length == 50)].iloc[0]
    assert (row.solved, row.seeds) == (2, 3)
    assert (row.wilson_low, row.wilson_high) == pytest.approx((0.20765, 0.93851), abs=1e-5)  # Wilson 2 of 3


def test_the_report_gives_spearman_and_fisher_in_words():
    from zoo.report import horizon as report
    from zoo.report import memory

    spec = SearchSpec((25, 50, 100, 200, 400), refine=1)
    frame = horizon_rows(spec)
    lines = report.lines_table(frame, spec, 3)
    best = report.best_lr(lines)
    summary = report.gradient_summary(frame, best)
    # horizons 25, 50, 100, 200 against factors 0.60, 1.00, 0.90, 0.95: ranks (1,2,3,4) vs (1,4,2,3)
    rho, p, n = report.correlation(summary, "factor_init")
    assert (rho, n) == (pytest.approx(0.4), 4) and p == pytest.approx(18 / 24)  # exact over the 4! orderings
    at = report.length_cells(frame)
    text = " ".join(report.findings("adding", frame, lines, best, at, summary, spec))
    assert "lstm 200; gru 100; irnn 50; simple_rnn 25." in text  # longest first
    assert "ρ = +0.40 over 4 cells (permutation p = 0.75)" in text
    assert "Fisher's exact p = 0.1 > 0.05" in text  # 3 seeds can never separate two cells
    assert "window 1e-3 to 3e-3 (2 of 2)" in text
    # Gated as measured (a carry gate), and a horizon a cell declares its paper reports: no cell named in code.
    assert "textbook" not in text
    assert "Not reproduced at this budget: a paper solving T = 1,000; here irnn reaches 50" in text
    gated = set(memory.gated_cells(frame))
    text = " ".join(report.findings("adding", frame, lines, best, at, summary, spec, gated))
    assert gated == {"gru", "lstm"}
    assert "As the textbook says, a gated cell (lstm) reaches further than every plain one" in text
    table = report.display_table(["simple_rnn", "irnn", "gru", "lstm"], best, at)
    assert table.set_index("cell").loc["irnn", "T=50"].startswith("3/3 [44%–100%]")


# ------------------------------------------------------------------ the shipped config


def test_the_shipped_horizon_config_and_its_quick_and_full_forms():
    from zoo.core import catalog
    from zoo.core.loading import load_grid

    grid, quick, full = load_grid("horizon"), load_grid("horizon", quick=True), load_grid("horizon", full=True)
    assert grid.cells == tuple(catalog.list_cells())  # every registered cell takes part
    assert grid.seeds == 3 and grid.task_names == ["adding", "sine_gap"] and grid.search.ladder[0] == 25
    assert (full.name, full.seeds, full.search.ladder[-1]) == ("horizon-full", 5, 1600)
    assert dict(full.sweep)["train.learning_rate"] == (3e-4, 1e-3, 3e-3)
    assert quick.name == "horizon-quick" and quick.train.steps < grid.train.steps
    with pytest.raises(ConfigError, match="the memory config has no \\[full\\] table; configs with one: horizon"):
        load_grid("memory", full=True)


@pytest.mark.exhaustive
def test_horizon_quick_compare_writes_the_horizon_section(tmp_path):
    # `python -m zoo compare --config horizon --quick`, as CI runs it (about a minute on 2 free cores)
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-m", "zoo", "compare", "--config", "horizon", "--quick", "--jobs", "2"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "search done: 4 lines" in out.stderr
    section = tmp_path / "reports" / "experiments" / "horizon-quick"
    for task in ("adding", "sine_gap"):
        for suffix in ("solve_rate.png", "gradient.png", "gradient_vs_horizon.png"):
            assert (section / f"horizon_{task}_{suffix}").stat().st_size > 10_000
        assert "Wilson 95% interval" in (section / f"horizon_{task}.md").read_text()
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "Memory horizon: adding" in page and "Memory horizon: sine_gap" in page and "Spearman" in page
    record = json.loads((tmp_path / "runs" / ".grids" / "horizon-quick.json").read_text())
    assert len(record["run_ids"]) == len({*record["run_ids"]}) >= 4 * 2  # each line tried two lengths at least


# ------------------------------------------------------------------ stopping once solved


def test_a_run_that_may_stop_ends_at_the_first_evaluation_that_solves_and_is_probed_there(monkeypatch):
    import dataclasses

    from zoo.core import catalog
    from zoo.core.grid import search_lines
    from zoo.engine import batched
    from zoo.engine.run import train_run

    real = catalog.get_task
    monkeypatch.setattr(catalog, "get_task", lambda name: dataclasses.replace(real(name), solved_below=1e9)
                        if name == "adding" else real(name))  # every evaluation "solves": it stops at the first
    raw = search_config(ladder=[4])
    raw["seeds"] = 2
    raw["task"].update(train_size=64, test_size=16)
    raw["train"].update(steps=30, batch_size=16, probes=1, probe_batch=4, stop="solved")
    (line,) = search_lines(grid_from_dict(raw))
    runs = line.runs_at(4)
    assert runs[0].to_dict()["train"]["stop"] == "solved"
    alone = train_run(runs[0])
    together = batched.train_group(runs) if batched.available() else [alone]
    for result in (alone, together[0]):
        m = result.metrics
        assert (m["status"], m["solved"], m["stopped_solved"], m["steps"], m["epochs_run"]) == ("ok", True, True,
                                                                                                10, 1)
        assert sorted(set(result.probes.epoch)) == [0, 1]  # at initialisation and where it stopped
    assert together[0].metrics["ratio"] == pytest.approx(alone.metrics["ratio"], rel=1e-4)
    plain = dataclasses.replace(runs[0], train=dataclasses.replace(runs[0].train, stop=None))
    assert "stop" not in plain.to_dict()["train"]  # runs that train to the end keep their ids
    m = train_run(plain).metrics
    assert (m["steps"], m["stopped_solved"]) == (30, False)


def test_stop_accepts_only_solved():
    raw = search_config()
    raw["train"]["stop"] = "solve"
    with pytest.raises(ConfigError, match="train.stop = 'solve': expected 'solved'.*did you mean 'solved'"):
        grid_from_dict(raw)
