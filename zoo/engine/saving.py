"""Loading a stored run's model: ``.keras`` archives only, in Keras's safe mode."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras


class UnsafeModelError(ValueError):
    """A model file that rnn-zoo will not load: not a ``.keras`` archive, or holding code."""


def load_model(path: Path):
    """Load a run's model: a ``.keras`` archive only, with Keras's ``safe_mode=True``.

    ``path`` is a run folder or its ``model.keras``. Other formats (HDF5,
    SavedModel, pickles) are refused, and so is an archive that would run code
    on load, such as a ``Lambda`` layer's bytecode.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.keras"
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise UnsafeModelError(f"{path}: refused: rnn-zoo loads only .keras archives (zip files)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" not in str(exc):
            raise
        raise UnsafeModelError(
            f"{path}: refused: the archive holds code (e.g. a lambda) that safe mode will not run"
        ) from None
