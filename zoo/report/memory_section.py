"""The memory section type: for each memory task with runs, its table, figures and findings.

One part per task; the numbers are ``memory``'s, the figures ``memory_plots``'s
and the sentences ``memory_findings``'s.
"""

from __future__ import annotations

import html as html_escape
from pathlib import Path

from zoo.report import html, plots
from zoo.report.memory import (
    cell_order,
    display_outcomes,
    headline_markdown,
    learning_curves,
    markdown,
    memory_frame,
    outcome_table,
)
from zoo.report.memory_findings import findings
from zoo.report.memory_plots import curves_plot, gradient_plot, ratio_plot


def section(results, out: Path) -> str:
    """Write each memory task's tables and figures into ``out``; return their HTML ("" if none)."""
    frame = memory_frame(results.runs)
    if frame.empty:
        return ""
    out.mkdir(parents=True, exist_ok=True)
    parts = []
    frames = {task: f for task, f in frame.groupby("task", sort=False)}
    for task, f in frames.items():
        outcomes = outcome_table(f)
        cells = cell_order(f)
        longest = int(f.length.max())
        curves = learning_curves(results.runs, f, longest)
        shown = display_outcomes(outcomes, cells)
        outcomes.to_csv(out / f"memory_{task}.csv", index=False)
        extra = int((f.sequence_steps - f.length).iloc[0])
        steps_text = f"length + {extra} input steps" if extra else "as many input steps as its length"
        note = (f"Length is the task's length setting (each sequence has {steps_text}). "
                f"Each cell: final test {f.metric.iloc[0].removeprefix('test_')} over the memoryless baseline "
                f"({f.baseline.iloc[0]:.4g}): the geometric mean over seeds [its 95% t-interval over seeds, "
                f"computed on log10 of the ratio], and (k/n) the seeds that solved it "
                f"(ratio below {f.solved_below.iloc[0]:g}). Why that threshold: "
                f"{f.solved_reason.iloc[0]} A cell solves a length when more than half its seeds do.")
        (out / f"memory_{task}.md").write_text(markdown(shown) + "\n" + note + "\n")
        figures = {
            f"memory_{task}_ratio.png": ratio_plot(f, task),
            f"memory_{task}_gradient.png": gradient_plot(f, task),
        }
        if not curves.empty:
            figures[f"memory_{task}_curves.png"] = curves_plot(curves, f, task, longest)
        paths = plots.save(figures, out)
        parts.append(
            f"<h3>Memory: {html_escape.escape(task)}</h3>"
            + html.findings_list(findings(f, curves, task))
            + html.frame_table(shown, note)
            + "".join(html.figure(p) for p in paths)
        )
    (out / "memory_headline.md").write_text(headline_markdown(frames))
    return "\n".join(parts)
