"""runs/ -> pandas tables -> reports/ (tables, plots, index.html).

The report reads only stored runs, so it can be rebuilt at any time, and it
imports no Keras. It shows one main grid (the last one compared, the default
grid at first) and a section for each experiment grid (a config with an
``experiment`` line) compared into the same runs folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from zoo import store
from zoo.core.colors import shared_cells
from zoo.core.config import USER_MODEL, GridConfig, safe_name, show, task_spec
from zoo.core.quick import full_form
from zoo.report import answer, findings, html, memory, plots, registry, through_time_plots, training_plots
from zoo.report.results import Results, load_runs
from zoo.report.settings import glossary, settings
from zoo.store.atomic import atomic_folder, clean_leftovers
from zoo.store.report_folder import KEPT, MANIFEST, ReportFolderError, check_folders, foreign_files, remove_report  # noqa: F401

__all__ = ["Results", "build", "load_runs", "GRID_FILE", "MANIFEST", "check_folders", "remove_report"]

GRID_FILE = "grid.json"  # the main grid a report shows, so `zoo report` can rebuild it



class ReportWriteError(OSError):
    """The report could not be written (a full disk, no permission); the previous one is intact."""


def _recorded(runs_dir: Path, notes: list[str] | None = None) -> dict[str, dict]:
    """The grids compared into ``runs_dir``; a record whose name is not a safe
    file name (edited by hand) is left out, so no report path can escape, and so
    is one this version cannot read (another version of rnn-zoo wrote it),
    with a line in ``notes``."""
    records = {}
    for name, r in store.read_grids(runs_dir).items():
        if not safe_name(name):
            continue
        try:
            GridConfig.from_stored(r["grid"])
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            if notes is not None:
                notes.append(
                    f"grid record {Path(runs_dir) / store.GRIDS / (name + '.json')}: not readable by this version "
                    f"of rnn-zoo ({type(exc).__name__}: {exc}); left out and left alone"
                )
            continue
        records[name] = r
    return records


@contextmanager
def report_lock(reports_dir: Path):
    """One report at a time into a folder: a lock on the folder that holds it
    (a report replaces its folder, so the folder itself cannot carry the lock).
    A second report waits for the first, saying so, then writes its own."""
    parent = Path(reports_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another report is being written into {parent}; waiting for it", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def main_record(runs_dir: Path, reports_dir: Path, compared: str | None = None) -> dict | None:
    """The grid record of the report's main section: the one compared, unless
    that was an experiment; else the one the existing report shows; else the
    default grid's, if it was compared into this runs folder."""
    records = _recorded(runs_dir)
    if compared is not None and compared in records and not records[compared]["grid"].get("experiment"):
        return records[compared]
    saved = Path(reports_dir) / GRID_FILE
    try:
        shown = json.loads(saved.read_text()).get("name")
    except (OSError, ValueError, AttributeError):
        shown = None
    if shown in records:
        return records[shown]
    if "default" in records:
        return records["default"]
    # No report yet and no default grid: the grid compared last that is not an experiment.
    plain = [r for r in records.values() if not r["grid"].get("experiment")]
    latest = max(plain, key=lambda r: _record_time(runs_dir, r["name"]), default=None)
    return latest


def _record_time(runs_dir: Path, name: str) -> float:
    try:
        return (Path(runs_dir) / store.GRIDS / f"{name}.json").stat().st_mtime
    except OSError:
        return 0.0


def build(
    runs_dir: Path, reports_dir: Path, compared: str | None = None, record: dict | None = None
) -> Results:
    """Write the report into ``reports_dir``, whole or not at all.

    The grids come from ``runs/.grids`` (what each compare recorded), so the
    report needs no registry and no Keras. ``compared`` names the grid just
    compared; ``record`` is a grid resolved by the caller instead (``zoo report
    --config``). Returns the ``Results`` of that grid, or of the main one.
    """
    runs_dir, reports_dir = Path(runs_dir), Path(reports_dir)
    check_folders(runs_dir, reports_dir)
    try:
        with report_lock(reports_dir):
            check_folders(runs_dir, reports_dir)  # again: another report may have written it meanwhile
            notes: list[str] = []
            main = record or main_record(runs_dir, reports_dir, compared)
            main_grid = GridConfig.from_stored(main["grid"]) if main else GridConfig()
            experiments = [
                r for name, r in sorted(_recorded(runs_dir, notes).items())
                if r["grid"].get("experiment") and name != main_grid.name
            ]
            lead = None if main or not experiments else lead_experiment(runs_dir, experiments, compared)
            clean_leftovers(reports_dir.parent, reports_dir.name)
            # A cell has one colour in every figure of the report: each is drawn from all of its cells.
            cells = [*(main_grid.cells if main else ()), *(c for r in experiments for c in r["grid"].get("cells", ()))]
            with atomic_folder(reports_dir) as tmp, shared_cells(cells):
                returned = _write_report(runs_dir, reports_dir, tmp, main, main_grid, experiments, compared, lead)
    except OSError as exc:
        advice = store.storage_advice(exc).replace("run the same command again", "run `python -m zoo report`")
        raise ReportWriteError(
            f"cannot write the report {show(str(reports_dir))}: {exc.strerror or exc}; the runs are stored and "
            f"the previous report is intact: {advice}"
        ) from None
    returned.foreign = notes + [f for f in returned.foreign if f not in notes]
    return returned


def lead_experiment(runs_dir: Path, experiments: list[dict], compared: str | None = None) -> dict:
    """With no main grid, the experiment whose tables stand at the top of the report:
    the one just compared, else the one compared last."""
    named = [r for r in experiments if r["name"] == compared]
    return named[0] if named else max(experiments, key=lambda r: _record_time(runs_dir, r["name"]))


def _write_report(runs_dir, reports_dir, tmp, main, main_grid, experiments, compared, lead=None) -> Results:
    main_results = load_runs(runs_dir, main["run_ids"] if main else [])
    (tmp / GRID_FILE).write_text(json.dumps({"name": main_grid.name, **main_grid.to_dict()}, indent=2))
    # A grid with no main table (only experiments compared here): the top-level
    # tables are the lead experiment's, and there is no empty main section.
    main_html = _write_main(main_results, tmp, main_grid) if lead is None else ""
    exp_html, returned, damaged = [], main_results, list(main_results.damaged)
    shown, shown_results = main_grid, main_results
    held, memory_frame = set(), None  # the experiments the report shows, and one that tests memory
    fitted = []  # the user's models among them (zoo.ProbeCallback's runs)
    foreign = list(main_results.foreign)
    everything = []  # the experiments' runs, for the page's glossary
    for rec in experiments:
        grid = GridConfig.from_stored(rec["grid"])
        results = load_runs(runs_dir, rec["run_ids"])
        everything += results.runs
        damaged += [d for d in results.damaged if d not in damaged]
        foreign += [f for f in results.foreign if f not in foreign]
        if grid.name == compared:
            returned = results
        if lead is not None and rec["name"] == lead["name"]:
            _write_tables(results, tmp)
            shown, shown_results = grid, results
            if compared is None:
                returned = results
        if results.runs:
            exp_html.append(_write_experiment(grid, results, tmp / "experiments" / grid.name))
            held.add(grid.name)
            if USER_MODEL in grid.modes:
                fitted.append(grid.name)
            frame = memory.memory_frame(results.runs)
            if memory_frame is None and not frame.empty and grid.name != shown.name:
                memory_frame = frame
    if lead is not None:
        notes = [f"The tables at the top of this folder (summary.csv, summary.md, epochs.csv) are those of "
                 f"experiments/{shown.name}/: no grid without an experiment was compared into these runs."]
    elif main_results.runs:
        notes = findings.main_findings(main_results.summary, main_results.diverged, main_results.epochs)
    else:
        notes = ["No finished runs yet."]
    notes += diverged_lines(main_results) + [f"Damaged run folder, left out: {d}" for d in damaged]
    notes += [f"Left out: {f}" for f in foreign]
    lines = answer.answer(shown_results.summary, shown, shown_results.runs, held, memory_frame, tuple(fitted))
    tasks = sorted({r.config.task_name for r in shown_results.runs}) or shown.task_names
    page = html.page(notes, settings(shown, shown_results), main_html, exp_html, answer=lines,
                     tasks=("the " + " and ".join(tasks) + (" task" if len(tasks) == 1 else " tasks")),
                     glossary=glossary(main_results.runs + everything))
    (tmp / "index.html").write_text(page)
    for name in KEPT:  # make bench's files stay with the report
        if (reports_dir / name).is_file():
            shutil.copy2(reports_dir / name, tmp / name)
    files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
    (tmp / MANIFEST).write_text(json.dumps({"written_by": "rnn-zoo", "files": files}, indent=1))
    returned.damaged = damaged  # every damaged folder the report met, for the caller to name
    returned.answer = lines if returned is shown_results else []  # the answer is the top grid's, not another's
    returned.foreign = foreign
    return returned


def diverged_lines(results: Results) -> list[str]:
    """A line per diverged run: which, at which epoch, and where the NaN or inf appeared."""
    lines = []
    for r in results.runs:
        if r.metrics.get("status") == "diverged":
            lines.append(
                f"{r.config.cell} {r.config.mode} seed {r.config.seed} diverged at epoch "
                f"{r.metrics.get('diverged_epoch', '?')} (NaN/inf in the {r.metrics.get('diverged_in', 'loss')}): "
                "its numbers are left out of the means"
            )
    return lines


def _save(figures: dict, out: Path) -> list[Path]:
    for fig in figures.values():
        plots.log_scale_where_possible(fig)  # a diverged grid may leave nothing positive to plot
    return plots.save(figures, out)


def _write_tables(results: Results, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    results.summary.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(results.summary_markdown())
    results.epochs.to_csv(out / "epochs.csv", index=False)
    diverged = results.diverged
    if not diverged.empty:  # a row per diverged run: when, its peak norm, and why
        diverged.to_csv(out / "diverged.csv", index=False)


# What to read in each of the comparison's figures, under it on the page.
CAPTIONS = {
    "loss_curves.png": "Training loss by epoch, a panel per mode: how fast, and how far, each cell fits the "
                       "training windows.",
    "test_mae.png": "Test MAE of each cell in each mode (log scale; with several seeds, the mean and its 95% "
                    "interval over seeds): the table's numbers, side by side.",
    "gradient_norms.png": "The global gradient norm before clipping, per epoch: a jump of the dotted peak above "
                          "the solid mean is a step whose gradient exploded.",
    "gradient_by_lag.png": "Top: how strongly the loss reacts to the input t steps back (dL/dx_t). Bottom: "
                           "‖dh_T/dh_t‖, how much of the gradient travels t steps back through the state; a line "
                           "falling to the right vanishes, a rising one explodes (dashed: initial weights).",
    "jacobian_spectrum.png": "Why: each step multiplies the gradient by the one-step Jacobian, whose singular "
                             "values (bars) say how much each direction of the state stretches (above 1) or "
                             "shrinks (below 1); the diamond is the measured factor per step.",
    "weight_groups.png": "The gradient norm of each kind of weight, per epoch: whether the recurrent weights "
                         "get a share of the gradient, that is, whether the recurrence learns.",
    "predictions.png": "The test series and each cell's prediction of its next value, with the error below.",
}


def _write_main(results: Results, out: Path, grid: GridConfig | None = None) -> str:
    _write_tables(results, out)
    if results.epochs.empty:
        return html.section("Comparison", "", ["No finished runs yet."], results.summary, [])
    # A bar per cell x mode, and the predicted series: only where every task forecasts one (TaskSpec.forecast).
    one_row_each = not results.summary.duplicated(["cell", "mode"]).any()
    forecast = all(getattr(task_spec(r.config.task_name), "forecast", False) for r in results.runs)
    figures = {
        "loss_curves.png": results.plot_loss(),
        **({"test_mae.png": training_plots.test_mae_points(results.summary)} if one_row_each and forecast else {}),
        "gradient_norms.png": results.plot_gradient_norms(),
        "gradient_by_lag.png": through_time_plots.gradient_by_lag(results.probes, results.summary),
        # Only where the spectrum was measured (runs of a one-step mode, or stored
        # before the probe existed, have none): an empty panel explains nothing.
        **({"jacobian_spectrum.png": through_time_plots.jacobian_spectrum(results.summary)}
           if "jac_sigma_max" in results.summary and results.summary.jac_sigma_max.notna().any() else {}),
        "weight_groups.png": training_plots.weight_groups(results.gradients),
        **({"predictions.png": training_plots.predictions(results.predictions)} if forecast else {}),
    }
    grid = grid or GridConfig()
    figures = _save({**figures, **registry.figures(grid, results)}, out)  # and those its [report] declares
    seeds = pd.to_numeric(results.summary.get("seeds", pd.Series(dtype=float)), errors="coerce").max()
    over = f"the mean over up to {int(seeds)} seeds" if seeds > 1 else "one seed each"
    return (html.section("Comparison", f"Every cell in every mode, {over}.", [], results.summary, figures,
                         CAPTIONS)
            + registry.sections(grid, results, out))


def _run_it(name: str) -> str:
    """How to train an experiment again; its quick form (``<name>-quick``) is said to be one, as the
    sentence before it describes the full form."""
    full, quick = full_form(name)
    if not quick:
        return f" Run it with: make compare CONFIG={name}."
    return (f" These runs are its quick form, a smoke run smaller than that sentence says (the settings and the "
            f"table give what ran): make compare CONFIG={full} QUICK=1 trains it again, make compare CONFIG={full} "
            "the full form.")


def _write_experiment(grid: GridConfig, results: Results, out: Path) -> str:
    _write_tables(results, out)
    # The figures, findings and sections its [report] table declares (zoo.core.report_spec).
    paths = _save(registry.figures(grid, results), out)
    # Against the grid actually compared (its recorded run ids, e.g. with --seeds 1).
    asked = len(results.runs) + len(results.missing) + len(results.damaged)
    missing = f" {len(results.missing)} of its {asked} runs are not trained yet." if results.missing else ""
    return html.section(
        f"Experiment: {grid.name}",
        grid.experiment + (" Written by zoo.ProbeCallback(runs=...) at the end of the model's fit."
                           if USER_MODEL in grid.modes else _run_it(grid.name))
        + missing,
        registry.finding_lines(grid, results),
        results.summary,
        paths,
    ) + registry.sections(grid, results, out)


