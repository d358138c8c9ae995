"""Run folders on disk: written whole or not at all, read back, checked.

A run folder is written under a temporary name inside ``runs/`` and renamed
into place once every file is flushed, so ``runs/<run-id>/`` either exists
complete or does not exist. Readers also check the folder, so a folder damaged
later (a truncated CSV, a bad JSON) is reported and retrained, never read.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from zoo.config import RunConfig

TABLES = ("history", "gradients", "probes", "gates", "predictions")
FILES = ("config.json", *(f"{t}.csv" for t in TABLES), "metrics.json", "model.keras")
TMP_PREFIX = ".tmp-"


class CorruptRunError(ValueError):
    """A run folder that exists but cannot be read whole."""


@dataclass
class StoredRun:
    config: RunConfig
    metrics: dict
    history: pd.DataFrame
    gradients: pd.DataFrame
    probes: pd.DataFrame
    gates: pd.DataFrame
    predictions: pd.DataFrame
    path: Path


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _json(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, default=float).encode()


class StorageError(OSError):
    """A run folder could not be written (a full disk, a read-only folder)."""


def run_files(result) -> dict[str, bytes]:
    """A ``RunResult`` as the bytes of its run folder's files: what a worker sends back."""
    files = {"config.json": _json(result.config.to_dict())}
    files.update({f"{table}.csv": getattr(result, table).to_csv(index=False).encode() for table in TABLES})
    files["model.keras"] = result.model_bytes
    # Row counts let a reader tell a truncated CSV from a short one.
    rows = {table: len(getattr(result, table)) for table in TABLES}
    files["metrics.json"] = _json({**result.metrics, "rows": rows})
    return files


def write_files(runs_dir: Path, config: RunConfig, files: dict[str, bytes]) -> Path:
    """Store a run folder's files (from ``run_files``) atomically; returns the folder."""
    missing = [f for f in FILES if f not in files]
    if missing:
        raise ValueError(f"run {config.run_id}: files missing: {', '.join(missing)}")
    return _write_folder(runs_dir, config, files)


def write_failed(runs_dir: Path, config: RunConfig, error: str) -> Path:
    """Record a run that raised: its config and error, so the report can count it.

    A failed run is not a result: the next compare trains it again.
    """
    files = {"config.json": _json(config.to_dict()), "metrics.json": _json({"status": "failed", "error": error})}
    return _write_folder(runs_dir, config, files)


def _write_folder(runs_dir: Path, config: RunConfig, files: dict[str, bytes]) -> Path:
    runs_dir = Path(runs_dir)
    final = runs_dir / config.run_id
    tmp = runs_dir / f"{TMP_PREFIX}{config.run_id}-{uuid.uuid4().hex[:8]}"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        for name, data in files.items():
            if name != "metrics.json":
                _write(tmp / name, data)
        _write(tmp / "metrics.json", files["metrics.json"])  # last: its presence means whole
        if final.exists():  # a damaged folder being replaced
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise StorageError(
                f"cannot write run folder {final}: {exc.strerror or exc}; the runs stored before it are "
                "intact: make room and run the same command again to resume"
            ) from exc
        raise
    return final


def read_run(path: Path) -> StoredRun:
    """Read a run folder; raises ``CorruptRunError`` naming what is wrong."""
    path = Path(path)
    try:
        config = RunConfig.from_dict(json.loads((path / "config.json").read_text()))
        metrics = json.loads((path / "metrics.json").read_text())
        if metrics.get("status") == "failed":
            return StoredRun(config, metrics, *(pd.DataFrame() for _ in TABLES), path=path)
        missing = [f for f in FILES if not (path / f).is_file()]
        if missing:
            raise CorruptRunError(f"{path}: missing {', '.join(missing)}")
        tables = {t: pd.read_csv(path / f"{t}.csv") for t in TABLES}
        if not zipfile.is_zipfile(path / "model.keras"):
            raise CorruptRunError(f"{path}: model.keras is not a whole .keras archive")
    except (OSError, ValueError, KeyError, TypeError, pd.errors.ParserError) as exc:
        if isinstance(exc, CorruptRunError):
            raise
        raise CorruptRunError(f"{path}: {type(exc).__name__}: {exc}") from None
    if config.run_id != path.name:
        raise CorruptRunError(f"{path}: config.json belongs to run {config.run_id}")
    rows = metrics.get("rows", {})
    for table, frame in tables.items():
        if len(frame) != rows.get(table):
            raise CorruptRunError(
                f"{path}: {table}.csv has {len(frame)} rows, metrics.json says {rows.get(table)}"
            )
    return StoredRun(config, metrics, path=path, **tables)


def finished_run(runs_dir: Path, run: RunConfig) -> StoredRun | None:
    """The stored result of ``run``, if it reads whole and did not fail.

    Raises ``CorruptRunError`` for a damaged folder, so the caller can say so.
    """
    path = Path(runs_dir) / run.run_id
    if not path.exists():
        return None
    stored = read_run(path)
    return None if stored.metrics.get("status") == "failed" else stored


class UnsafeModelError(ValueError):
    """A model file that rnn-zoo will not load: not a ``.keras`` archive, or holding code."""


def load_model(path: Path):
    """Load a run's model: a ``.keras`` archive only, with Keras's ``safe_mode=True``.

    ``path`` is a run folder or its ``model.keras``. Other formats (HDF5,
    SavedModel, pickles) are refused, and so is an archive that would run code
    on load, such as a ``Lambda`` layer's bytecode.
    """
    import keras

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


def remove_stale_tmp(runs_dir: Path) -> None:
    """Remove temporary folders left by a run that was killed mid-write."""
    for tmp in Path(runs_dir).glob(f"{TMP_PREFIX}*"):
        shutil.rmtree(tmp, ignore_errors=True)
