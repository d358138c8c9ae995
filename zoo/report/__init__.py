"""runs/ -> pandas tables -> reports/ (tables, plots, index.html).

The report reads only stored runs, so it can be rebuilt at any time. It shows
one main grid (the last one compared, the default grid at first) and a section
for each experiment config (``configs/*.toml`` with an ``experiment`` line)
that has finished runs.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from zoo.config import GridConfig, grid_from_dict, grid_to_dict, list_experiments, short_name
from zoo.report import findings, html, plots
from zoo.report.results import Results, load_runs

__all__ = ["Results", "build", "load_runs", "GRID_FILE", "main_grid"]

GRID_FILE = "grid.json"  # the main grid a report shows, so `zoo report` can rebuild it


def main_grid(reports_dir: Path, compared: GridConfig | None = None) -> GridConfig:
    """The grid of the report's main section: the one compared, unless that was an
    experiment; else the one the existing report shows; else the default grid."""
    if compared is not None and not compared.experiment:
        return compared
    saved = Path(reports_dir) / GRID_FILE
    if saved.is_file():
        return grid_from_dict(json.loads(saved.read_text()))
    return GridConfig()


def build(runs_dir: Path, reports_dir: Path, compared: GridConfig | None = None) -> Results:
    """Write the report into ``reports_dir``, whole or not at all.

    Returns the ``Results`` of ``compared`` (or of the main grid).
    """
    runs_dir, reports_dir = Path(runs_dir), Path(reports_dir)
    main = main_grid(reports_dir, compared)
    experiments = [g for g in list_experiments() if g.name != main.name]
    if compared is not None and compared.experiment and compared.name not in {g.name for g in experiments}:
        experiments.append(compared)
    reports_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = reports_dir.parent / f".{reports_dir.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        main_results = load_runs(runs_dir, main)
        (tmp / GRID_FILE).write_text(json.dumps(grid_to_dict(main), indent=2))
        main_html = _write_main(main_results, tmp)
        exp_html, returned = [], main_results
        for grid in experiments:
            results = load_runs(runs_dir, grid)
            if compared is not None and grid.name == compared.name:
                returned = results
            if results.runs:
                exp_html.append(_write_experiment(grid, results, tmp / "experiments" / grid.name))
        page = html.page(
            findings.main_findings(main_results.summary) if main_results.runs else ["No finished runs yet."],
            _settings(main, main_results),
            main_html,
            exp_html,
        )
        (tmp / "index.html").write_text(page)
        _replace(tmp, reports_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return returned


KEPT = ("benchmark.csv", "benchmark.md", "scaling.csv", "scaling.md", "scaling.png")  # by `make bench`


def _replace(new: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    for name in KEPT:
        if (target / name).exists():
            shutil.copy2(target / name, new / name)
    if target.exists():
        os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def _save(figures: dict, out: Path) -> list[Path]:
    paths = []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)
        plots.plt.close(fig)
        paths.append(out / name)
    return paths


def _write_tables(results: Results, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results.summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(results.summary_markdown())
    results.epochs.to_csv(out / "epochs.csv", index=False)


def _write_main(results: Results, out: Path) -> str:
    _write_tables(results, out)
    if results.epochs.empty:
        return html.section("Comparison", "", ["No finished runs yet."], results.summary, [])
    figures = {
        "loss_curves.png": results.plot_loss(),
        "test_mae.png": plots.test_mae_bars(results.summary),
        "gradient_norms.png": results.plot_gradient_norms(),
        "gradient_by_lag.png": plots.gradient_by_lag(results.probes),
        "weight_groups.png": plots.weight_groups(results.gradients),
        "predictions.png": plots.predictions(results.predictions),
    }
    gates = results.gates
    if not gates.empty:
        figures["gate_activity.png"] = plots.gate_activity(gates)
    figures = _save(figures, out)
    return html.section("Comparison", "Every cell in every mode, over seeds.", [], results.summary, figures)


def _write_experiment(grid: GridConfig, results: Results, out: Path) -> str:
    _write_tables(results, out)
    summary, axes = results.summary, [short_name(k) for k, _ in grid.sweep]
    # A sweep shows once runs of two of its values are stored: its column exists.
    figures = {}
    if "window" in axes and "window" in results.probes.columns:
        figures["decay_by_window.png"] = plots.decay_by_window(results.probes)
    for column in ("global_clipnorm", "clipnorm"):
        if column in axes and column in results.epochs.columns:
            figures["clipping.png"] = plots.clipping(results.epochs, column)
    if ("param_budget" in axes or "units" in axes) and "units" in summary.columns:
        figures["params_vs_mae.png"] = plots.params_vs_mae(summary)
    paths = _save(figures, out)
    missing = f" {len(results.missing)} of its runs are not trained yet." if results.missing else ""
    return html.section(
        f"Experiment: {grid.name}",
        grid.experiment + f" Run it with: make compare CONFIG={grid.name}." + missing,
        findings.experiment_findings(summary, results.probes),
        summary,
        paths,
    )


def _settings(grid: GridConfig, results: Results) -> list[tuple[str, str]]:
    t, tr = grid.task, grid.train
    rows = [
        ("cells x modes x seeds", f"{', '.join(grid.cells)} x {', '.join(grid.modes)} x {grid.seeds}"),
        ("training series", f"sin(linspace({t.train_start:g}, {t.train_stop:g}, {t.train_points})), "
                            f"sampling gap {t.train_gap:.4g}"),
        ("test series", f"sin(linspace({t.test_start:g}, {t.test_stop:g}, {t.test_points})), "
                        f"sampling gap {t.test_gap:.4g}"
                        + (f" ({t.test_gap / t.train_gap:.3g}x the training gap, as in the seed post: "
                           "the test 'next value' lies further ahead)" if abs(t.test_gap / t.train_gap - 1) > 0.01
                           else "")),
        ("window / horizon", f"{t.window} past values / {t.horizon} future values"),
        ("model", f"{grid.units} units, Dense(1) head"),
        ("training", f"{tr.optimizer} lr {tr.learning_rate:g}, batch {tr.batch_size}, {tr.epochs} epochs, "
                     f"{tr.loss} loss, clipnorm {tr.clipnorm}, global_clipnorm {tr.global_clipnorm}"),
    ]
    if results.runs:
        v = results.runs[0].metrics.get("versions", {})
        rows.append(("backend", f"Keras {v.get('keras')} on {v.get('backend')} {v.get('backend_version')}"))
        rows.append(("libraries", f"Python {v.get('python')}, NumPy {v.get('numpy')}, pandas {v.get('pandas')}"))
    return rows
