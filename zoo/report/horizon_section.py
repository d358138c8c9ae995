"""The horizon section type: for each task of a searching grid, its tables,
figures and findings. One part per task; the numbers and sentences are
``horizon``'s, the figures ``horizon_plots``'s (and the memory section's
gradient against length, ``memory_plots.gradient_plot``).
"""

from __future__ import annotations

import html as html_escape
from pathlib import Path

import pandas as pd

from zoo.report import html, memory, plots
from zoo.report.horizon import (
    best_lr,
    display_table,
    findings,
    gradient_summary,
    horizon_frame,
    length_cells,
    lines_table,
    lr_text,
)
from zoo.report.horizon_plots import gradient_horizon_plot, solve_rate_plot
from zoo.report.memory_plots import gradient_plot


def section(grid, results, out: Path) -> str:
    """Write a searching grid's horizon tables and figures into ``out``; return their HTML ("" if no runs)."""
    frame = horizon_frame(results.runs)
    if frame.empty or grid.search is None:
        return ""
    out.mkdir(parents=True, exist_ok=True)
    parts, headline = [], {}
    for task, f in frame.groupby("task", sort=False):
        cells = memory.cell_order(f)
        lines = lines_table(f, grid.search, grid.seeds)
        best = best_lr(lines)
        at = length_cells(f)
        summary = gradient_summary(f, best)
        shown = display_table(cells, best, at)
        headline[task] = best
        at.to_csv(out / f"horizon_{task}_lengths.csv", index=False)
        lines.to_csv(out / f"horizon_{task}_lines.csv", index=False)
        note = (f"horizon: the longest length a majority of the {grid.seeds} seeds solved, at the best learning "
                f"rate. T=…: k/n seeds solved [Wilson 95% interval of the solve rate], then the final test "
                f"{f.metric.iloc[0].removeprefix('test_')} over the memoryless baseline (geometric mean over seeds "
                f"[95% t-interval on log10]). Solved: ratio below {f.solved_below.iloc[0]:g}. Why: "
                f"{f.solved_reason.iloc[0]}")
        (out / f"horizon_{task}.md").write_text(memory.markdown(shown) + "\n" + note + "\n")
        best_rows = f.merge(best[["cell", "best_lr"]], on="cell")
        figures = {
            f"horizon_{task}_solve_rate.png": solve_rate_plot(at, best, cells, task),
            f"horizon_{task}_gradient.png": gradient_plot(best_rows[best_rows.lr == best_rows.best_lr], task),
            f"horizon_{task}_gradient_vs_horizon.png": gradient_horizon_plot(summary, task),
        }
        paths = plots.save(figures, out)
        parts.append(
            f"<h3>Memory horizon: {html_escape.escape(task)}</h3>"
            + html.findings_list(findings(task, f, lines, best, at, summary, grid.search, set(memory.gated_cells(f))))
            + html.frame_table(shown, note)
            + "".join(html.figure(p) for p in paths)
        )
    (out / "horizon_headline.md").write_text(headline_markdown(headline))
    return "\n".join(parts)


def headline_markdown(best: dict[str, pd.DataFrame]) -> str:
    """Cells as rows, tasks as columns: the horizon (best learning rate): the README's table."""
    tasks = list(best)
    cells = list(dict.fromkeys(c for b in best.values() for c in b.cell))
    lines = ["| cell | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for cell in cells:
        row = []
        for t in tasks:
            b = best[t].set_index("cell")
            if cell not in b.index:
                row.append("–")
                continue
            h = b.loc[cell].horizon
            row.append((str(h) if h else "none") + (f" (lr {lr_text(b.loc[cell].best_lr)})"
                                                     if len(b.loc[cell].lrs) > 1 else ""))
        lines.append(f"| {cell} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"
