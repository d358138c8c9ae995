"""The memory experiment end to end (its quick form), and the memory section's numbers and words."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zoo.report import memory, memory_findings, memory_plots

ROOT = Path(__file__).resolve().parent.parent
CELLS = "simple_rnn,gru"


@pytest.mark.exhaustive
def test_memory_quick_compare_writes_the_memory_section(tmp_path):
    # `python -m zoo compare --config memory --quick`, on two of its cells: a gated one and
    # a plain one are what the section contrasts, and each cell adds only compiling time.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "zoo", "compare", "--config", "memory", "--quick", "--cells", CELLS, "--jobs", "2"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    section = tmp_path / "reports" / "experiments" / "memory-quick"
    for task in ("adding", "sine_gap"):
        for suffix in ("ratio.png", "gradient.png", "curves.png"):
            assert (section / f"memory_{task}_{suffix}").stat().st_size > 10_000
        table = (section / f"memory_{task}.md").read_text()
        assert "longest solved" in table and "95% t-interval over seeds" in table
    assert "| simple_rnn |" in (section / "memory_headline.md").read_text()
    page = (tmp_path / "reports" / "index.html").read_text()
    assert "Memory: adding" in page and "Memory: sine_gap" in page and "optimizer steps" in page
    # the page opens with the answer, and the top-level tables are this experiment's (no main grid here)
    opening = page[page.index('<div class="answer">'):page.index("</div>")]
    assert page.index('<div class="answer">') < page.index("<table") and "<h2>Comparison</h2>" not in page
    assert "Yes: adding and sine_gap need a memory of 5, 10 steps" in opening
    assert (tmp_path / "reports" / "summary.csv").read_bytes() == (section / "summary.csv").read_bytes()
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.name.startswith(".")]
    from zoo.core import catalog
    from zoo.core.grid import expand
    from zoo.core.loading import load_grid

    assert len(runs) == len(expand(load_grid("memory", quick=True, cells=CELLS)))
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    for key in ("task", "length", "ratio", "baseline", "solved", "solved_below", "dhT_dh1_init", "dhT_dh1",
                "probe_seconds", "cell_declares"):
        assert key in metrics
    assert metrics["cell_declares"] == catalog.get_cell(runs[0].name.split("-")[0]).declares()
    assert 0 in set(pd.read_csv(runs[0] / "probes.csv").epoch)


# What the runs measure and declare: gru and lstm recorded a carry gate; lstm declares a remedy.
GATED = {"gru", "lstm"}
REMEDY = {"lstm": "a larger forget-gate bias"}


def _frame(rows):
    """A memory frame of synthetic runs: (cell, length, seed, ratio, dh_init, dh_end)."""
    records = []
    for i, (cell, length, seed, ratio, dh_init, dh_end) in enumerate(rows):
        records.append({
            "task": "adding", "cell": cell, "mode": "many_to_one", "length": length, "seed": seed, "status": "ok",
            "ratio": ratio, "solved": ratio < 0.1, "solved_below": 0.1, "solved_reason": "Why.",
            "baseline": 1 / 6, "metric": "test_mse", "dh_init": dh_init, "dh_end": dh_end, "steps": 3000,
            "batch": 64, "probes": 3, "probe_batch": 32, "seconds": 100.0, "probe_seconds": 5.0,
            "sequence_steps": length, "recall_accuracy": np.nan, "run_id": f"run{i}",
            "gated": cell in GATED, "remedy": REMEDY.get(cell, ""), "published": (),
        })
    return pd.DataFrame(records)


SYNTHETIC = _frame(
    [("simple_rnn", 25, s, r, 1e-3, 1e-1) for s, r in enumerate((0.02, 0.05, 0.3))]
    + [("simple_rnn", 100, s, 1.0, 1e-9, 1e-8) for s in range(3)]
    + [("gru", 25, s, 0.01, 1e-5, 1.0) for s in range(3)]
    + [("gru", 100, s, r, 1e-18, d) for s, (r, d) in enumerate(((0.02, 1.5), (0.03, 1.2), (1.0, 1e-17)))]
    + [("lstm", 25, s, 0.02, 1e-2, 1.0) for s in range(3)]
    + [("lstm", 100, s, 1.0, 1e-6, 1e-5) for s in range(3)]
)


def test_outcomes_count_seeds_and_give_t_intervals_over_them():
    table = memory.outcome_table(SYNTHETIC).set_index(["cell", "length"])
    row = table.loc[("simple_rnn", 25)]
    assert (row.solved, row.seeds) == (2, 3)
    logs = np.log10([0.02, 0.05, 0.3])  # the interval is a t-interval over seeds of log10(ratio)
    half = 4.302653 * logs.std(ddof=1) / np.sqrt(3)
    assert row.ratio == pytest.approx(10 ** logs.mean())
    assert (row.ratio_low, row.ratio_high) == pytest.approx((10 ** (logs.mean() - half), 10 ** (logs.mean() + half)))
    assert memory.longest_solved(memory.outcome_table(SYNTHETIC)) == {
        "gru": (100, 2, 3), "lstm": (25, 3, 3), "simple_rnn": (25, 2, 3)}
    headline = memory.headline_markdown({"adding": SYNTHETIC})
    assert "| gru | 100 (2/3) |" in headline and "| lstm | 25 (3/3) |" in headline


def _curves(cell, finals):
    """A learning curve per seed at the longest length: flat at 1, or falling to ``final``."""
    steps = np.arange(100, 3100, 100)
    return pd.concat([pd.DataFrame({"run_id": f"{cell}{i}", "cell": cell, "step": steps,
                                    "test_ratio": np.geomspace(1.0, final, len(steps))})
                      for i, final in enumerate(finals)], ignore_index=True)


def test_findings_say_who_solves_what_and_where_the_textbook_fails():
    lines = memory_findings.findings(SYNTHETIC, _curves("lstm", [1.0, 1.0, 1.0]), "adding")
    text = " ".join(lines)
    # A ranking at k of n carries its Wilson interval (2 of 3: 21%-94%).
    assert "3,000 optimizer steps" in lines[0]
    assert "gru up to length 100 (2 of 3 seeds, 95% Wilson interval 21%–94%)" in lines[0]
    assert "Every cell solves the shortest length (25)" in text
    assert "simple_rnn and lstm fail while gru still solves it" in text
    assert "Against the textbook: lstm solves only up to length 25, while gru (100) reaches further" in text
    assert "stays near where it was to the end (0 of 3 seeds' curves)" in text and "forget-gate bias" in text
    # 3 seeds against 3 cannot reach p < 0.05: the report says so.
    assert "the seeds cannot separate any two cells" in text and "p = 0.1 > 0.05" in text
    # Gradient against outcome within a cell and length: simple_rnn at 25 (2 solved x 1 failed)
    # and gru at 100 (2 x 1), 4 pairs; never pairs of two cells.
    assert "over the 4 pairs of a solved and a failed run of the same cell at the same length" in text
    assert "(simple_rnn 2, gru 2)" in text and "in 50% of them at initialisation and in 75% after" in text
    assert "too few to tell either share from 50%" in text and "wrong way" not in text
    assert "Across cells, as a rank statement only" in text


def test_when_every_cell_solves_every_length_no_line_says_the_textbook_holds_or_fails():
    """A ceiling (every cell solves the longest length) cannot rank cells: a plain cell matching the
    gated ones there is not against the textbook, nor are the gated ones for it."""
    solved_all = _frame([(c, n, s, 0.01, 1e-3, 1e-2) for c in ("simple_rnn", "gru") for n in (25, 100)
                         for s in range(3)])
    text = " ".join(memory_findings.findings(solved_all, _curves("gru", [0.01] * 3), "adding"))
    assert "every cell also solves the longest (100): this budget does not discriminate there" in text
    assert "textbook" not in text


def test_no_claim_rests_on_one_seed():
    # One of three seeds' curves still falls: the majority does not, so no "still falling".
    text = " ".join(memory_findings.findings(SYNTHETIC, _curves("lstm", [0.05, 1.0, 1.0]), "adding"))
    assert "still falling" not in text and "(1 of 3 seeds' curves)" in text
    text = " ".join(memory_findings.findings(SYNTHETIC, _curves("lstm", [0.05, 0.1, 1.0]), "adding"))
    assert "still falling at the end of the budget (2 of 3 seeds' curves)" in text
    # A single seed's curve supports no claim either way.
    text = " ".join(memory_findings.findings(SYNTHETIC, _curves("lstm", [0.05]), "adding"))
    assert "still falling" not in text and "stays near" not in text


def test_seeds_that_can_separate_two_cells_are_named():
    rows = [("gru", 25, s, 0.01, 1e-5, 1.0) for s in range(5)] + [("lstm", 25, s, 1.0, 1e-2, 1.0) for s in range(5)]
    text = " ".join(memory_findings.findings(_frame(rows), _curves("lstm", [1.0] * 5), "adding"))
    assert "The seeds separate gru and lstm at length 25 (p = 0.0079)" in text  # 5/5 against 0/5


def test_memory_section_plots_are_written_and_readable(tmp_path):
    for name, fig in {"ratio.png": memory_plots.ratio_plot(SYNTHETIC, "adding"),
                      "gradient.png": memory_plots.gradient_plot(SYNTHETIC, "adding")}.items():
        fig.savefig(tmp_path / name, dpi=60)
        assert (tmp_path / name).stat().st_size > 5000


def test_one_length_and_one_seed_are_said_once_and_in_the_singular():
    one = SYNTHETIC[(SYNTHETIC.length == 25) & (SYNTHETIC.seed == 0)]
    text = " ".join(memory_findings.findings(one, _curves("lstm", [1.0]), "adding"))
    assert "At length 25 every cell solves the task." in text
    assert "shortest" not in text and "longest" not in text and "1 seeds" not in text and "lengths 25" not in text
    assert "(1 of 1 seed, 95% Wilson interval" in text
    assert "With 1 seed per cell the seeds cannot separate any two cells" in text
    two = SYNTHETIC[SYNTHETIC.length == 100]  # simple_rnn and lstm fail at 100, gru solves (2 of 3)
    text = " ".join(memory_findings.findings(two, _curves("lstm", [1.0] * 3), "adding"))
    assert "At length 100 simple_rnn and lstm fail while gru solves it." in text


def test_one_length_is_drawn_in_the_middle_of_its_axis_and_the_title_promises_no_line_or_band():
    one = SYNTHETIC[SYNTHETIC.length == 25]
    ax = memory_plots.ratio_plot(one, "adding").axes[0]
    assert ax.get_xlim() == pytest.approx((12.5, 50.0))
    assert "hollow marker: geometric mean over seeds, dots: seeds" in ax.get_title() and "band" not in ax.get_title()
    for ax in memory_plots.gradient_plot(one, "adding").axes:
        assert ax.get_xlim() == pytest.approx((12.5, 50.0))
    ax = memory_plots.ratio_plot(SYNTHETIC, "adding").axes[0]
    assert "line: geometric mean over seeds, band: min..max, dots: seeds" in ax.get_title()
    title = memory_plots.ratio_plot(SYNTHETIC[SYNTHETIC.seed == 0], "adding").axes[0].get_title()
    assert "one seed: each point is its run; each cell nudged sideways" in title and "over seeds" not in title


def test_the_probes_setting_says_when_the_runs_probe():
    from zoo.core.config import TrainConfig
    from zoo.report.memory import probes_text

    assert probes_text(TrainConfig(steps=200, eval_every=100, probes=1)) == "at initialisation and after steps 100, 200"
    assert probes_text(TrainConfig(epochs=10, probes=3)) == "at initialisation and after epochs 1, 6, 10"
