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
    assert sorted(table.epoch.unique()) == [0, 1, 2] and np.isfinite(table[list(spec.columns)].to_numpy()).all()
    summary = trained.metrics["probe_summaries"][name]
    assert tuple(summary) == spec.summary


@pytest.mark.parametrize("name", probes.list_probes())
def test_a_nan_in_a_probe_ends_the_run_as_diverged(name, monkeypatch):
    from zoo.engine import probe_program
    from zoo.engine import run as training

    real = probe_program.check_output

    def poisoned(spec, out):
        values = real(spec, out)
        if spec.name == name:
            values[spec.columns[-1]] = values[spec.columns[-1]] * np.nan
        return values

    monkeypatch.setattr(probe_program, "check_output", poisoned)
    result = training.train_run(_run(epochs=3))
    assert np.isfinite(result.history.loss).all()
    assert result.status == "diverged" and result.metrics["diverged_in"] == f"probe {name}"
    assert result.metrics["diverged_epoch"] == result.metrics["epochs_run"] == 1


@pytest.mark.parametrize("name", probes.list_probes())
def test_a_probes_summarize_side_imports_no_keras(name):
    code = (f"import sys, importlib, zoo.probes as p; m = p.get_probe({name!r}).summarize.__module__; "
            "importlib.import_module(m); "
            "print([k for k in ('keras', 'jax', 'tensorflow') if k in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_a_probe_producing_other_columns_is_refused_naming_them():
    from zoo.engine.probe_program import check_output

    spec = probes.get_probe(probes.list_probes()[0])
    with pytest.raises(ValueError, match=f"probe '{spec.name}' produced the columns \\['other'\\]; it declares"):
        check_output(spec, {"other": np.zeros(3)})


@pytest.mark.parametrize("changes,message", [
    ({"unit": "lags"}, "unknown probe 'p': unit 'lags'; valid choices: epoch, lag, step (did you mean 'lag'?)"),
    ({"reduce": "final"}, "unknown probe 'p': reducer 'final'; valid choices: first, last, mean"),
    ({"columns": ("lag",)}, "columns must be distinct identifiers other than epoch, lag, step"),
    ({"fmt": ".3q"}, "Unknown format code"),
])
def test_a_bad_declaration_is_one_line(changes, message):
    args = {"columns": ("a",), "unit": "lag", "summary": ("a",), **changes}
    with pytest.raises(ValueError) as err:
        register_probe("p", **args)
    assert message in str(err.value) and "\n" not in str(err.value)
