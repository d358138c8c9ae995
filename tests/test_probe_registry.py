"""Every registered probe keeps its contract (parametrized over ``list_probes()``, a plugin's
too): it produces the columns it declares, a NaN in them ends the run as diverged, its
summarize side imports no Keras; and the registry refuses bad declarations in one line."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_TASK, TINY_TRAIN

from zoo import probes
from zoo.core.config import RunConfig, TrainConfig
from zoo.core.probe_registry import register_probe

ROOT = Path(__file__).resolve().parents[1]


def _run(epochs=2):
    train = TrainConfig(**{**TINY_TRAIN.__dict__, "epochs": epochs})
    return RunConfig("gru", "many_to_one", seed=3, units=4, task=TINY_TASK, train=train)


@pytest.fixture(scope="module")
def trained():
    from zoo.engine import run as training

    return training.train_run(_run())


@pytest.mark.parametrize("name", probes.list_probes())
def test_a_probe_produces_the_columns_it_declares(name, trained):
    spec = probes.get_probe(name)
    table = trained.probe_tables[name]
    assert tuple(table.columns) == spec.table_columns
    epochs = [1, 2] if spec.during == "step" else [0, 1, 2]  # a step statistic: of the epochs' training steps
    assert sorted(table.epoch.unique()) == epochs and np.isfinite(table[list(spec.columns)].to_numpy()).all()
    summary = trained.metrics["probe_summaries"][name]
    assert tuple(summary) == spec.summary


@pytest.mark.parametrize("name", probes.list_probes())
def test_a_nan_in_a_probe_ends_the_run_as_diverged(name, monkeypatch):
    """A probe of the probe batch: its last column's values, NaN. A step statistic: its last column's
    value at every training step, NaN while the loss and the gradient stay finite, so the run goes on
    training and only the statistic itself can end it."""
    from zoo.engine import probe_program, step_probes
    from zoo.engine import run as training

    module, check = ((step_probes, "check_steps") if probes.get_probe(name).during == "step"
                     else (probe_program, "check_output"))
    real = getattr(module, check)

    def poisoned(spec, out):
        values = real(spec, out)
        if spec.name == name:
            column = spec.step_columns[-1] if spec.during == "step" else spec.columns[-1]
            last = values[column]  # an array, or a keyed unit's {name: value}
            values[column] = {k: v * np.nan for k, v in last.items()} if isinstance(last, dict) else last * np.nan
        return values

    monkeypatch.setattr(module, check, poisoned)
    result = training.train_run(_run(epochs=3))
    assert np.isfinite(result.history.loss).all()
    assert result.status == "diverged" and result.metrics["diverged_in"] == f"probe {name}"
    assert result.metrics["diverged_epoch"] == result.metrics["epochs_run"] == 1


@pytest.mark.slow  # a fresh interpreter per probe
@pytest.mark.parametrize("name", probes.list_probes())
def test_a_probes_summarize_side_imports_no_keras(name):
    code = (f"import sys, importlib, zoo.probes as p; m = p.get_probe({name!r}).summarize.__module__; "
            "importlib.import_module(m); "
            "print([k for k in ('keras', 'jax', 'tensorflow') if k in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", probes.list_probes())
def test_a_probe_says_what_each_summary_column_means_under_its_table(name):
    from zoo.report.probes import columns_legend

    spec = probes.get_probe(name)
    assert set(spec.explain) == set(spec.summary), f"{name}: explain every summary column"
    legend = columns_legend(spec)
    assert all(f"<code>{c}</code>: " in legend for c in spec.summary)


def test_a_probe_producing_other_columns_is_refused_naming_them():
    from zoo.engine.probe_program import check_output

    spec = probes.get_probe(probes.list_probes()[0])
    with pytest.raises(ValueError, match=f"probe '{spec.name}' produced the columns \\['other'\\]; it declares"):
        check_output(spec, {"other": np.zeros(3)})


def test_a_step_statistic_producing_other_columns_is_refused_naming_them():
    from zoo.engine.step_probes import check_steps

    spec = next(s for s in map(probes.get_probe, probes.list_probes()) if s.during == "step")
    with pytest.raises(ValueError, match=f"probe '{spec.name}' produced the columns \\['other'\\]; it declares"):
        check_steps(spec, {"other": np.zeros(3)})


@pytest.mark.parametrize("changes,message", [
    ({"unit": "lags"},
     "unknown probe 'p': unit 'lags'; valid choices: epoch, gate, group, lag, step (did you mean 'lag'?)"),
    ({"reduce": "final"}, "unknown probe 'p': reducer 'final'; valid choices: all, first, last, mean"),
    ({"columns": ("lag",)}, "columns must be distinct identifiers other than epoch, lag, step, gate, group"),
    ({"during": "steps"}, "unknown probe 'p': during 'steps'; valid choices: probe, step (did you mean 'step'?)"),
    ({"over_steps": {"a": ("mean",)}}, "probe 'p': over_steps is for during='step' only"),
    ({"during": "step", "unit": "epoch", "over_steps": {"n": ("mean",)}},
     "probe 'p': over_steps {'n': ('mean',)} makes the columns ('n_mean',); columns are ('a',)"),
    ({"during": "step", "unit": "epoch", "over_steps": {"n": ("median",)}},
     "unknown probe 'p': over_steps['n'] 'median'; valid choices: max, mean, min"),
    ({"during": "step", "unit": "lag", "over_steps": {"a": ()}},
     "probe 'p': a step statistic's unit is epoch (a value per step) or one of gate, group (keyed values per "
     "step); got 'lag'"),
    ({"combine": {"a": "median"}}, "unknown probe 'p': combine['a'] 'median'; valid choices: max, mean, min"),
    ({"every_run": ("b",)}, "combine, every_run and explain name summary columns ['a']; got ['b']"),
    ({"explain": {"b": "what b means"}}, "combine, every_run and explain name summary columns ['a']; got ['b']"),
    ({"fmt": ".3q"}, "Unknown format code"),
])
def test_a_bad_declaration_is_one_line(changes, message):
    args = {"columns": ("a",), "unit": "lag", "summary": ("a",), **changes}
    with pytest.raises(ValueError) as err:
        register_probe("p", **args)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_summary_wrapped_over_two_lines_is_the_whole_description(monkeypatch):
    from zoo.core import probe_registry

    monkeypatch.setattr(probe_registry, "_PROBES", dict(probe_registry._PROBES))

    def summarize(rows):
        """The first line of a summary
        and its second line.

        A paragraph the caption leaves out."""

    register_probe("p", columns=("a",), unit="lag", summary=("a",))(summarize)
    assert probe_registry.probe("p").description == "The first line of a summary and its second line."


def test_a_run_folder_from_before_the_registry_is_read_by_its_legacy_table():
    """A folder written before the gates were a probe holds gates.csv, not probe_gates.csv: the
    report reads it as the probe's table, and combines its summary as the probe declares."""
    from types import SimpleNamespace

    import pandas as pd

    from zoo.report import probes as probe_report

    gates = pd.DataFrame({"epoch": [0, 0, 2, 2], "gate": ["carry", "forget", "carry", "forget"],
                          "mean": [0.25, 0.25, 0.75, 0.75]})
    old = SimpleNamespace(gates=gates, probe_tables={}, metrics={"status": "ok"})
    assert probe_report.probe_table(old, "gates") is gates
    assert probe_report.run_summary(old, "gates") == {"carry": 0.75, "carry_first": 0.25, "carry_gate": "forget"}
    spec = probes.get_probe("gates")
    ok = pd.DataFrame({"carry": [0.5, 0.7], "carry_first": [0.1, 0.3], "carry_gate": ["", "forget"]})
    trained = pd.concat([ok, pd.DataFrame({"carry": [9.0], "carry_first": [0.5], "carry_gate": [""]})])
    assert probe_report.combine(spec, "carry", ok, trained) == pytest.approx(0.6)  # the ok runs only
    assert probe_report.combine(spec, "carry_first", ok, trained) == pytest.approx(0.3)  # every run that trained
    assert probe_report.combine(spec, "carry_gate", ok, trained) == "forget"  # the first name given


def test_the_legacy_tables_are_copies_of_the_probes_tables(trained):
    """probes.csv's spectrum columns and gates.csv, which TensorBoard, the lineage section and old
    readers use, hold the spectrum and gates probes' own numbers, bit for bit; so do metrics.json's
    top-level spectrum keys."""
    import pandas as pd

    spectrum = trained.probe_tables["spectrum"]
    columns = list(probes.get_probe("spectrum").columns)
    per_epoch = trained.probes.groupby("epoch", as_index=False)[columns].first()
    pd.testing.assert_frame_equal(per_epoch, spectrum[["epoch", *columns]], check_exact=True)
    pd.testing.assert_frame_equal(trained.gates, trained.probe_tables["gates"], check_exact=True)
    summary = trained.metrics["probe_summaries"]["spectrum"]
    for key in ("jac_sigma_max", "jac_sigma_min", "qr_lyapunov_max", "lyapunov_sum"):
        assert trained.metrics[key] == summary[key]


@pytest.mark.parametrize("name", probes.list_probes())
def test_a_probe_read_from_the_legacy_tables_alone_is_its_own_table(name, trained):
    """What the report reads from a folder without probe_<name>.csv (written before the registry, or by
    an older callback): probes.csv's rows, gradients.csv or gates.csv give the probe's own table, bit for
    bit, or nothing where they never held the probe."""
    from types import SimpleNamespace

    import pandas as pd

    legacy = SimpleNamespace(probes=trained.probes, gradients=trained.gradients, gates=trained.gates)
    table, own = probes.run_table(legacy, name), trained.probe_tables[name]
    if table is None:  # newer than the legacy tables: none of them holds its columns
        spec = probes.get_probe(name)
        assert not any(set(spec.table_columns) <= set(t.columns) for t in vars(legacy).values())
    else:
        pd.testing.assert_frame_equal(table, own.reset_index(drop=True), check_exact=True)


def test_a_blank_docstring_line_of_indentation_alone_ends_the_summary():
    from zoo.core.registry import _doc_summary

    def documented():
        pass

    documented.__doc__ = "Summary line\n    that wraps.\n    \n    Args: x."  # as Python 3.11 keeps it
    assert _doc_summary(documented) == "Summary line that wraps."


@pytest.mark.parametrize("name", probes.list_probes())
def test_runs_of_two_conditions_get_a_row_a_figure_and_a_finding_each(name, trained, tmp_path):
    """A sweep's conditions (here two windows) are never pooled: the probe's table has a row per
    cell x mode and condition, each combining its own run only, and the report draws a figure and
    says a finding per condition, each named by it."""
    import dataclasses
    from types import SimpleNamespace

    from zoo.report import probes as probe_report

    spec = probes.get_probe(name)
    runs = [SimpleNamespace(config=dataclasses.replace(_run(), task=dataclasses.replace(TINY_TASK, window=w)),
                            metrics={**trained.metrics, "status": "ok"}, path=tmp_path / f"run{w}",
                            probe_tables={name: trained.probe_tables[name]})
            for w in (4, 6)]
    table = probe_report.summary_table(runs, name)
    assert list(table.window) == [4, 6] and list(table.runs) == [1, 1]
    alone = probe_report.summary_table(runs[:1], name).drop(columns="runs")
    assert table.iloc[:1].drop(columns=["window", "runs"]).equals(alone)
    page = probe_report.section(SimpleNamespace(runs=runs), tmp_path)
    drawn = sorted(p.name for p in tmp_path.glob(f"probe_{name}*.png"))
    if spec.figure is not None and spec.figure(probe_report.long_table(runs[:1], name)) is not None:
        assert drawn == [f"probe_{name}_window-4.png", f"probe_{name}_window-6.png"]
        titled = probe_report._titled(spec.figure(probe_report.long_table(runs[:1], name)), "window 4")
        assert titled._suptitle.get_text().endswith("\nwindow 4")  # the condition under the probe's own title
    else:
        assert drawn == []
    if spec.finding is not None and spec.finding(probe_report.finding_table(runs[:1], name)):
        assert "window 4: " in page and "window 6: " in page


@pytest.mark.parametrize("name", probes.list_probes())
def test_a_run_trained_for_optimizer_steps_is_drawn_against_its_steps_not_epochs(name, trained, tmp_path):
    """A budget of steps is evaluated (and probed) every eval_every steps: the long table gives each
    probed "epoch" its optimizer step, and no figure of the probe counts epochs there."""
    import dataclasses
    from types import SimpleNamespace

    from zoo.report import probes as probe_report

    stepped = dataclasses.replace(_run(), train=dataclasses.replace(_run().train, steps=20, eval_every=10))
    runs = [SimpleNamespace(config=config, metrics={**trained.metrics, "status": "ok"}, path=tmp_path,
                            probe_tables={name: trained.probe_tables[name]}) for config in (stepped, _run())]
    table = probe_report.long_table(runs[:1], name)
    assert list(table.optimizer_step) == [e * 10 for e in table.epoch]
    assert probe_report.long_table(runs[1:], name).optimizer_step.isna().all()  # a run trained in epochs
    fig = probes.get_probe(name).figure
    drawn = fig(table) if fig is not None else None
    for ax in drawn.axes if drawn is not None else []:
        assert "epoch" not in ax.get_xlabel(), (name, ax.get_xlabel())


def test_conditions_are_told_apart_as_the_sweep_tells_them_and_their_files_never_collide():
    """1 and 1.0 are two conditions (as ``varying_settings`` has them), a list is a value, a NaN one
    condition; -5 and 5 get two file names, and a name already taken gets a number."""
    from types import SimpleNamespace

    from zoo.report import probes as probe_report

    def run(value):
        return SimpleNamespace(config=SimpleNamespace(settings=lambda: {"train.x": value}, cell="gru"))

    nan = float("nan")
    runs = [run(1), run(1.0), run([1, 2]), run([1, 2]), run(nan), run(nan)]
    split = probe_report.conditions(runs, ["train.x"])
    assert [len(members) for _, members in split] == [1, 1, 2, 2]
    assert [type(values[0]) for values, _ in split] == [int, float, list, float]
    assert split[2][0] == ([1, 2],) and split[3][0][0] != split[3][0][0]  # the list; one NaN condition
    assert probe_report.condition_text(["train.x", "task.window"], (0.5, None)) == "x 0.5"  # None: not the task's
    taken: set[str] = set()
    slugs = [probe_report._slug(c, taken) for c in ("x -5", "x 5", "x 5", "x 1e-05", "x 1e+05")]
    assert slugs == ["x--5", "x-5", "x-5-2", "x-1e-05", "x-1e+05"]


def test_a_search_gets_a_figure_per_task_at_the_longest_length_every_cell_trained_at():
    """A search trains each cell at lengths of its own: the figure and finding of a task are at the
    longest length with runs of every cell (or, where there is none, of the most cells)."""
    from types import SimpleNamespace

    from zoo.report import probes as probe_report

    def run(cell, task, length):
        return SimpleNamespace(config=SimpleNamespace(
            settings=lambda: {"task.name": task, "task.length": length}, cell=cell))

    runs = [run("gru", "adding", 5), run("rnn", "adding", 5), run("gru", "adding", 10), run("rnn", "adding", 10),
            run("gru", "adding", 20),  # only gru got to 20
            run("gru", "copy", 5), run("gru", "copy", 10), run("rnn", "copy", 5)]
    axes = ["task.name", "task.length"]
    chosen = probe_report.figure_conditions(runs, axes, "task.length")
    assert [(values, why) for values, _, why in chosen] == [
        (("adding", 10), "the longest length every cell trained at"),
        (("copy", 5), "the longest length every cell trained at")]
    assert [values for values, _, _ in probe_report.figure_conditions(runs, axes, None)] == [
        ("adding", 5), ("adding", 10), ("adding", 20), ("copy", 5), ("copy", 10)]
    lonely = [run("gru", "adding", 5), run("rnn", "adding", 10)]  # no length with both cells
    ((values, _, why),) = probe_report.figure_conditions(lonely, axes, "task.length")
    assert values == ("adding", 10)
    assert why == "the longest length with runs of 1 of its 2 cells, the most at any length"
