"""The memory experiment end to end (its quick form), and the memory section's numbers and words."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from zoo.report import memory

ROOT = Path(__file__).resolve().parent.parent
CELLS = "simple_rnn,gru"


@pytest.mark.slow
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
    from zoo.core.grid import expand
    from zoo.core.loading import load_grid

    assert len(runs) == len(expand(load_grid("memory", quick=True, cells=CELLS)))
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    for key in ("task", "length", "ratio", "baseline", "solved", "solved_below", "dhT_dh1_init", "dhT_dh1",
                "probe_seconds"):
        assert key in metrics
    assert 0 in set(pd.read_csv(runs[0] / "probes.csv").epoch)


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


def test_findings_say_who_solves_what_and_where_the_textbook_fails():
    curves = pd.DataFrame({"run_id": "x", "cell": "lstm", "step": np.arange(100, 3100, 100),
                           "test_ratio": np.ones(30)})
    lines = memory.findings(SYNTHETIC, curves, "adding")
    text = " ".join(lines)
    assert "3,000 optimizer steps" in lines[0] and "gru up to length 100 (2 of 3 seeds there)" in lines[0]
    assert "Every cell solves the shortest length (25)" in text
    assert "simple_rnn and lstm fail while gru still solves it" in text
    assert "Against the textbook: lstm solves only up to length 25, while gru (100) reaches further" in text
    assert "stays near the baseline to the end" in text and "forget-gate bias" in text
    # solved/failed pairs at one length: 8 x 1 at T = 25, gru's 2 solved x 7 failed at T = 100
    assert "over the 22 pairs" in text


def test_memory_section_plots_are_written_and_readable(tmp_path):
    for name, fig in {"ratio.png": memory.ratio_plot(SYNTHETIC, "adding"),
                      "gradient.png": memory.gradient_plot(SYNTHETIC, "adding")}.items():
        fig.savefig(tmp_path / name, dpi=60)
        assert (tmp_path / name).stat().st_size > 5000
