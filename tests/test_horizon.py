"""The memory-horizon search: the pure search on fake outcomes, its [search] table, and a killed
search that resumes to the same horizon (the Wilson and Fisher numbers are in test_stats.py)."""

import json

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
        from zoo.engine.run import train_run
        from zoo.runs import store
        from zoo.runs.executors import Finished

        for config in configs:
            if self.limit is not None and len(self.trained) >= self.limit:
                raise KeyboardInterrupt
            self.trained.append(config.run_id)
            yield Finished(config, store.run_files(train_run(config)), None)


def test_a_killed_search_resumes_where_it_stopped_and_reaches_the_same_horizon(tmp_path, monkeypatch):
    from zoo.core.grid import search_lines
    from zoo.runs import runner, store

    # Real (tiny) runs; whether one counts as solved is a rule of its length, so the search has a
    # horizon to find: solved up to length 6, which only the refinement between 4 and 8 finds.
    monkeypatch.setattr(store, "solved", lambda runs_dir, run: run.task.length <= 6)
    raw = search_config(ladder=[4, 8, 16], refine=1)
    raw["seeds"] = 2
    raw["task"].update(train_size=64, test_size=16)
    raw["train"].update(batch_size=16, probes=1, probe_batch=4)
    grid = grid_from_dict(raw, name="h")
    (line,) = search_lines(grid)
    expected, final = drive(grid.search, 2, lambda n, s: n <= 6)
    assert expected == [4, 8, 16, 6] and final.horizon == 6
    want = [r.run_id for n in expected for r in line.runs_at(n)]

    killed = KilledAfter(limit=3)
    with pytest.raises(KeyboardInterrupt):
        runner.execute(grid, tmp_path, executor=killed, say=lambda m: None)
    resumed = KilledAfter()
    outcome = runner.execute(grid, tmp_path, executor=resumed, say=lambda m: None)
    assert killed.trained == want[:3] and resumed.trained == want[3:]  # nothing trained twice, nothing skipped
    assert (outcome.trained, outcome.skipped) == (len(want) - 3, 3)
    steps, asked, todo, _ = runner.search_round([line], tmp_path, 2)
    assert steps == [final] and todo == [] and [r.run_id for r in asked] == want
    assert store.read_grids(tmp_path)["h"]["run_ids"] == want  # the record the report reads
    again = KilledAfter()
    assert runner.execute(grid, tmp_path, executor=again, say=lambda m: None).trained == 0 and not again.trained
