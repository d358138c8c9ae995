"""Run folders on disk: written whole or not at all, read back, checked.

A run folder is written under a temporary name inside ``runs/`` and renamed
into place once every file is flushed, so ``runs/<run-id>/`` either exists
complete or does not exist. Readers also check the folder, so a folder damaged
later (a truncated CSV, a bad JSON, one flipped bit) is reported and retrained,
never read: ``metrics.json`` holds the SHA-256 of every other file of the
folder, and of its own other contents.

A folder written by another version of rnn-zoo (its config.json has fields
this version does not know) is ``ForeignRunError``: left alone, never
retrained over. Folders and grid records in the old format (a task table
without its name, before every task stored its own) read as they always did:
``OLD_UNNAMED_TASK`` is the one place that knows it.

The store is the data model beneath the runner (which writes runs/) and the
views (the report, TensorBoard's logs), which read it; it imports only the core.
It also names what else rnn-zoo keeps in runs/: the grid records and the
TensorBoard files, so ``python -m zoo clean`` knows them without the views.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from zoo.core.config import RunConfig, TrainConfig, run_id_of, task_spec
from zoo.store.atomic import atomic_file, atomic_folder, clean_leftovers, write_bytes

TABLES = ("history", "gradients", "probes", "gates", "predictions")
FILES = ("config.json", *(f"{t}.csv" for t in TABLES), "metrics.json", "model.keras")
PROBE_PREFIX = "probe_"  # probe_<name>.csv: a registered probe's table (zoo.core.probe_registry)
GRIDS = ".grids"  # runs/.grids/<name>.json: each compared grid and its run ids, for the report
# TensorBoard's logs (zoo.views.tensorboard): runs/<run-id>/tensorboard/, of event files named so,
# and the grid's HParams experiment in runs/ itself.
TENSORBOARD = "tensorboard"
TENSORBOARD_EVENTS = re.compile(r"events\.out\.tfevents\.\d+\.rnn-zoo")
TENSORBOARD_EXPERIMENT = "events.out.tfevents.0.rnn-zoo-hparams"


# The old format: rnn-zoo wrote the sine task's table without its name (every other
# task's with it). The task a table without a name means, for ever, whatever the default is now.
OLD_UNNAMED_TASK = "sine"


def upgrade(stored: dict) -> dict:
    """A stored config or grid (``to_dict``) in the current format: its task named.
    (Its run id is the hash of what was written: ``folder_run_id``.)"""
    task = stored.get("task") if isinstance(stored, dict) else None
    if isinstance(task, dict) and "name" not in task:
        return {**stored, "task": {"name": OLD_UNNAMED_TASK, **task}}
    return stored


CHECKSUMS = "sha256"  # in metrics.json: {file name: hex digest} of every other file of the folder
SELF_CHECKSUM = "sha256_metrics"  # in metrics.json: the digest of its other keys, as _json writes them


class CorruptRunError(ValueError):
    """A run folder that exists but cannot be read whole."""


class ForeignRunError(ValueError):
    """A run folder written by another version of rnn-zoo: not ours to read, retrain or delete."""


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
    # The registered probes' tables by probe name (probe_<name>.csv), those the run has.
    probe_tables: dict = field(default_factory=dict)


@dataclass
class RunResult:
    """Everything a run produced, in memory (``zoo.engine.run.train_run``); ``run_files`` makes its folder."""

    config: RunConfig
    history: pd.DataFrame  # a row per epoch
    gradients: pd.DataFrame  # a row per epoch x weight group
    probes: pd.DataFrame  # a row per probed epoch x lag
    gates: pd.DataFrame  # a row per probed epoch x gate (empty for ungated cells)
    predictions: pd.DataFrame  # test series: truth and prediction
    metrics: dict
    model_bytes: bytes
    # The registered probes' tables (``zoo.core.probe_registry``), each stored as probe_<name>.csv.
    probe_tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.metrics["status"]


def _json(obj) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, default=float).encode()


class StorageError(OSError):
    """A run folder could not be written (a full disk, a read-only folder)."""


def run_files(result: RunResult) -> dict[str, bytes]:
    """A ``RunResult`` as the bytes of its run folder's files: what a worker sends back."""
    files = {"config.json": _json(result.config.to_dict())}
    files.update({f"{table}.csv": getattr(result, table).to_csv(index=False).encode() for table in TABLES})
    files["model.keras"] = result.model_bytes
    probe_tables = getattr(result, "probe_tables", {})
    files.update({f"{PROBE_PREFIX}{name}.csv": t.to_csv(index=False).encode() for name, t in probe_tables.items()})
    # Row counts let a reader tell a truncated CSV from a short one.
    rows = {table: len(getattr(result, table)) for table in TABLES}
    rows.update({f"{PROBE_PREFIX}{name}": len(t) for name, t in probe_tables.items()})
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


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _seal(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files with metrics.json carrying the checksums of the others and of itself."""
    metrics = json.loads(files["metrics.json"])
    metrics[CHECKSUMS] = {name: _sha256(data) for name, data in sorted(files.items()) if name != "metrics.json"}
    metrics[SELF_CHECKSUM] = _sha256(_json(metrics))
    return {**files, "metrics.json": _json(metrics)}


def _check_sums(path: Path, metrics: dict, names) -> None:
    """Raise ``CorruptRunError`` naming the first file whose bytes changed since it was written.

    A folder written before checksums existed has none, and is checked by its row counts alone."""
    sums = metrics.pop(CHECKSUMS, None)
    own = metrics.pop(SELF_CHECKSUM, None)
    if sums is None:
        return
    if own != _sha256(_json({**metrics, CHECKSUMS: sums})):
        raise CorruptRunError(f"{path}: metrics.json does not match its checksum (changed after it was written)")
    for name in names:
        if name in sums and _sha256((path / name).read_bytes()) != sums[name]:
            raise CorruptRunError(f"{path}: {name} does not match its checksum (changed after it was written)")


def unknown_fields(stored: dict) -> list[str]:
    """Fields of a stored config.json that this version of rnn-zoo does not know (a newer one wrote it)."""
    known = {f.name for f in dataclasses.fields(RunConfig)}
    found = [k for k in stored if k not in known]
    train = stored.get("train", {})
    found += [f"train.{k}" for k in train if k not in {f.name for f in dataclasses.fields(TrainConfig)}]
    task = upgrade(stored).get("task", {})
    spec = task_spec(task["name"]) if isinstance(task, dict) and isinstance(task.get("name"), str) else None
    if spec is not None:  # a task not registered here reads back as stored (``config.task_settings``)
        found += [f"task.{k}" for k in task if k not in {f.name for f in dataclasses.fields(spec.settings)} | {"name"}]
    return found


def folder_run_id(path: Path) -> str:
    """The run id a folder's config.json was written under, in whichever format: its name,
    for a folder a compare wrote."""
    return run_id_of(json.loads((Path(path) / "config.json").read_text()))


def _config(path: Path) -> RunConfig:
    """A folder's config.json; ``ForeignRunError`` if another version of rnn-zoo wrote it."""
    stored = json.loads((path / "config.json").read_text())
    unknown = unknown_fields(stored) if isinstance(stored, dict) else []
    if unknown:
        raise ForeignRunError(
            f"{path}: written by another version of rnn-zoo (config.json has {', '.join(unknown)}, unknown to "
            "this one); left alone: read it with that version, or move it aside to train the run here"
        )
    return RunConfig.from_dict(upgrade(stored))


def storage_advice(exc: OSError) -> str:
    """What to do about an OSError while writing, by its real cause: room only for a full disk."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "make room and run the same command again"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "this user may not write there: fix its permissions, or pass another folder, and run it again"
    if exc.errno == errno.ENAMETOOLONG:
        return "a name is longer than the file system allows: use a shorter cell, grid or folder name"
    return "fix that and run the same command again"


def _write_folder(runs_dir: Path, config: RunConfig, files: dict[str, bytes]) -> Path:
    final = Path(runs_dir) / config.run_id
    files = _seal(files)
    try:
        with atomic_folder(final) as tmp:  # replaces a damaged folder, if there is one
            for name, data in files.items():
                if name != "metrics.json":
                    write_bytes(tmp / name, data)
            write_bytes(tmp / "metrics.json", files["metrics.json"])  # last: its presence means whole
    except OSError as exc:
        raise StorageError(
            f"cannot write run folder {final}: {exc.strerror or exc}; the runs stored before it are "
            f"intact: {storage_advice(exc)} to resume"
        ) from exc
    return final


def write_grid(runs_dir: Path, name: str, grid: dict, run_ids: list[str]) -> None:
    """Record a compared grid and its resolved run ids, so the report can find its
    runs without the registry (a run id depends on the cell's code)."""
    folder = Path(runs_dir) / GRIDS
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / f"{name}.json") as tmp:
        write_bytes(tmp, _json({"name": name, "grid": grid, "run_ids": run_ids}))


def read_grids(runs_dir: Path) -> dict[str, dict]:
    """The grids recorded by ``write_grid``, by name; unreadable records are skipped."""
    grids = {}
    for path in sorted((Path(runs_dir) / GRIDS).glob("*.json")):
        try:
            record = json.loads(path.read_text())
            grids[record["name"]] = {**record, "grid": upgrade(record["grid"])}
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return grids


def probe_files(metrics: dict) -> list[str]:
    """The registered probes' tables a run folder holds, as its metrics.json lists them."""
    rows = metrics.get("rows") if isinstance(metrics, dict) else None
    if not isinstance(rows, dict):  # a damaged metrics.json: no probe tables, and the caller says what is wrong
        return []
    return [f"{k}.csv" for k in rows if isinstance(k, str) and k.startswith(PROBE_PREFIX)]


def written_files(path: Path) -> set[str]:
    """Every file name a compare writes into this run folder: the fixed ones and its probes' tables."""
    try:
        metrics = json.loads((Path(path) / "metrics.json").read_text())
    except (OSError, ValueError):
        return set(FILES)
    return set(FILES) | set(probe_files(metrics))


def read_run(path: Path) -> StoredRun:
    """Read a run folder; raises ``CorruptRunError`` naming what is wrong."""
    path = Path(path)
    try:
        config = _config(path)
        metrics = json.loads((path / "metrics.json").read_text())
        if metrics.get("status") == "failed":
            _check_sums(path, metrics, ["config.json"])
            return StoredRun(config, metrics, *(pd.DataFrame() for _ in TABLES), path=path)
        missing = [f for f in FILES if not (path / f).is_file()]
        if missing:
            raise CorruptRunError(f"{path}: missing {', '.join(missing)}")
        probe_names = [f[len(PROBE_PREFIX):-len(".csv")] for f in probe_files(metrics)]
        _check_sums(path, metrics, [f for f in FILES if f != "metrics.json"] + probe_files(metrics))
        tables = {t: pd.read_csv(path / f"{t}.csv") for t in TABLES}
        probe_tables = {n: pd.read_csv(path / f"{PROBE_PREFIX}{n}.csv") for n in probe_names}
        if not zipfile.is_zipfile(path / "model.keras"):
            raise CorruptRunError(f"{path}: model.keras is not a whole .keras archive")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, pd.errors.ParserError) as exc:
        if isinstance(exc, (CorruptRunError, ForeignRunError)):
            raise
        raise CorruptRunError(f"{path}: {type(exc).__name__}: {exc}") from None
    written = folder_run_id(path)
    if written != path.name:
        raise CorruptRunError(f"{path}: config.json belongs to run {written}")
    rows = metrics.get("rows", {})
    for table, frame in {**tables, **{PROBE_PREFIX + n: t for n, t in probe_tables.items()}}.items():
        if len(frame) != rows.get(table):
            raise CorruptRunError(
                f"{path}: {table}.csv has {len(frame)} rows, metrics.json says {rows.get(table)}"
            )
    return StoredRun(config, metrics, path=path, probe_tables=probe_tables, **tables)


def from_files(path: Path, files: dict[str, bytes]) -> StoredRun:
    """The run whose folder ``path`` was just written from ``files`` (``run_files``), as ``read_run``
    would read it back, but from the bytes in memory: a view of a fresh run reads no folder."""
    metrics = json.loads(files["metrics.json"])
    for key in (CHECKSUMS, SELF_CHECKSUM):  # as read_run leaves them: checked, then dropped
        metrics.pop(key, None)
    tables = {t: pd.read_csv(io.BytesIO(files[f"{t}.csv"])) for t in TABLES}
    probe_tables = {f[len(PROBE_PREFIX):-len(".csv")]: pd.read_csv(io.BytesIO(files[f])) for f in probe_files(metrics)}
    config = RunConfig.from_dict(json.loads(files["config.json"]))
    return StoredRun(config, metrics, path=Path(path), probe_tables=probe_tables, **tables)


def _line_count(path: Path) -> int:
    with open(path, "rb") as f:
        return f.read().count(b"\n")


def is_finished(runs_dir: Path, run: RunConfig) -> bool:
    """Whether ``run`` is stored whole and did not fail, checked cheaply.

    Reads ``metrics.json``, checks every file's checksum and counts each
    CSV's lines against its row count (the CSVs hold no quoted newlines);
    parses no CSV. Raises ``CorruptRunError`` for a damaged folder and
    ``ForeignRunError`` for another version's, so the caller can say so.
    """
    path = Path(runs_dir) / run.run_id
    if not path.exists():
        return False
    try:
        metrics = json.loads((path / "metrics.json").read_text())
        config = _config(path)
        if metrics.get("status") == "failed":
            return False
        if config.run_id != run.run_id:
            raise CorruptRunError(f"{path}: config.json belongs to another run")
        missing = [f for f in FILES if not (path / f).is_file()]
        if missing:
            raise CorruptRunError(f"{path}: missing {', '.join(missing)}")
        probes = probe_files(metrics)
        _check_sums(path, metrics, [f for f in FILES if f != "metrics.json"] + probes)
        for table in (*TABLES, *(f[:-len(".csv")] for f in probes)):
            lines, rows = _line_count(path / f"{table}.csv"), metrics["rows"][table]
            if lines != rows + 1:  # the header, then a line per row
                raise CorruptRunError(f"{path}: {table}.csv has {lines - 1} rows, metrics.json says {rows}")
        if not zipfile.is_zipfile(path / "model.keras"):
            raise CorruptRunError(f"{path}: model.keras is not a whole .keras archive")
    except (CorruptRunError, ForeignRunError):
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptRunError(f"{path}: {type(exc).__name__}: {exc}") from None
    return True


def solved(runs_dir: Path, run: RunConfig) -> bool:
    """Whether a finished run (``is_finished``) solved its task: its ``metrics.json`` says,
    by its task's threshold; a diverged run did not."""
    metrics = json.loads((Path(runs_dir) / run.run_id / "metrics.json").read_text())
    return bool(metrics.get("solved", False))


def remove_stale_tmp(runs_dir: Path) -> None:
    """Remove temporary folders left by a run that was killed mid-write."""
    clean_leftovers(runs_dir)
    clean_leftovers(Path(runs_dir) / GRIDS)
