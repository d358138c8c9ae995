"""Importing rnn-zoo changes no process-wide setting; the process setup lives in zoo.core.process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import json, os, sys
import matplotlib
before_env, before_backend = dict(os.environ), matplotlib.rcParams._get_backend_or_none()
import zoo, zoo.core.catalog, zoo.report, zoo.report.plots, zoo.probes, zoo.store, zoo.views.tensorboard
zoo.probes.load()
zoo.core.catalog.list_tasks()  # the report looks tasks up, from the entry points, without Keras
changed = sorted(k for k in set(os.environ) | set(before_env) if os.environ.get(k) != before_env.get(k))
after = {"changed": changed, "backend": matplotlib.rcParams._get_backend_or_none(),
         "before_backend": before_backend, "pyplot": "matplotlib.pyplot" in sys.modules,
         "keras": "keras" in sys.modules}
import zoo.models  # the layer that imports Keras sets its defaults, and only those
after["models_set"] = {k: os.environ.get(k) for k in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
print(json.dumps(after))
"""


@pytest.mark.exhaustive  # a fresh process importing everything: 8 s of a 2-minute test-fast
def test_importing_zoo_and_its_report_changes_no_environment_variable_and_no_backend():
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND")}
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["changed"] == [] and found["backend"] == found["before_backend"] is None
    assert not found["pyplot"] and not found["keras"]
    # (TensorFlow, which Keras imports, sets variables of its own: those are not rnn-zoo's.)
    assert found["models_set"] == {"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}


@pytest.mark.exhaustive
def test_a_report_figure_is_drawn_without_pyplot():
    code = ("import sys, pandas as pd; from zoo.report import training_plots; "
            "fig = training_plots.test_mae_points(pd.DataFrame({'cell': ['gru'], 'mode': ['many_to_one'], "
            "'test_mae': [0.1], 'test_mae_ci95': [0.01]})); "
            "import io; fig.savefig(io.BytesIO(), format='png'); print('matplotlib.pyplot' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


WORKER = """
import json, os, sys
from zoo.runs.executors import prepare_worker
prepare_worker(1)
import keras
found = {"backend": keras.backend.backend(), "matplotlib_after_keras": "matplotlib" in sys.modules}
import matplotlib.figure  # a user's cell file may plot: hidden only while Keras imported
found["matplotlib_then"] = "matplotlib" in sys.modules
print(json.dumps(found))
"""


@pytest.mark.exhaustive
def test_a_worker_imports_keras_on_rnn_zoos_backend_without_matplotlib_and_can_import_it_later():
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}  # as on a Ray node that never set it
    done = subprocess.run([sys.executable, "-c", WORKER], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"backend": "jax", "matplotlib_after_keras": False, "matplotlib_then": True}
