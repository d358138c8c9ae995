"""The JAX and TensorFlow backends compute the same numbers."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Both backends trained in subprocesses, for minutes: only in the full suite.
pytestmark = pytest.mark.exhaustive

SCRIPT = Path(__file__).with_name("backend_parity.py")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = {}
    for backend in ("jax", "tensorflow"):
        path = tmp_path_factory.mktemp(backend) / "out.npz"
        env = {**os.environ, "KERAS_BACKEND": backend}
        done = subprocess.run([sys.executable, str(SCRIPT), str(path)], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        out[backend] = dict(np.load(path))
    return out


@pytest.mark.parametrize("name", ["loss", "gnorm", "groups", "dL_dx", "dhT_dht", "carry", "spectrum", "weights"])
def test_backends_agree_to_float32_tolerance(outputs, name):
    np.testing.assert_allclose(outputs["jax"][name], outputs["tensorflow"][name], rtol=2e-4, atol=1e-6)


def test_clipping_agrees(outputs):
    np.testing.assert_array_equal(outputs["jax"]["clipped"], outputs["tensorflow"]["clipped"])
    assert outputs["jax"]["clipped"].any()  # the case is exercised
