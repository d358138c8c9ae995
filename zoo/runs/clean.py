"""``python -m zoo clean``'s runs half: remove what compares wrote, and nothing else.

A run folder is recognised by its name (a run id), its config.json (whose run id
is that name) and its files (only those a run folder holds, and rnn-zoo's
TensorBoard event files); a grid record by its contents; the lock file (a pid),
TensorBoard's experiment file and the leftovers of interrupted writes by their
exact names. Anything else in ``runs/`` is a user's, and stays.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from zoo import store
from zoo.runs.runner import runs_lock
from zoo.store.atomic import clean_leftovers

RUN_ID = re.compile(r"[A-Za-z0-9_.+-]+-s\d+-[0-9a-f]{8}")
TENSORBOARD, EVENTS = store.TENSORBOARD, store.TENSORBOARD_EVENTS  # what zoo.views.tensorboard writes


def _is_run_folder(path: Path) -> bool:
    """A folder a compare wrote: its own run id in config.json, only a run's files, and
    TensorBoard logs (if any) of only rnn-zoo's event files."""
    if not (path.is_dir() and not path.is_symlink() and RUN_ID.fullmatch(path.name)):
        return False
    entries = list(path.iterdir())
    ours = store.written_files(path) | {TENSORBOARD}
    if any(p.is_symlink() for p in entries) or not {p.name for p in entries} <= ours:
        return False
    try:
        if store.folder_run_id(path) != path.name:
            return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    logs = path / TENSORBOARD
    return not logs.exists() or (
        logs.is_dir() and all(EVENTS.fullmatch(p.name) and p.is_file() and not p.is_symlink() for p in logs.iterdir())
    )


def _is_grid_record(path: Path) -> bool:
    """A record ``store.write_grid`` made: its own name is its file's, with a grid and run ids."""
    try:
        record = json.loads(path.read_text())
        return not path.is_symlink() and record["name"] == path.stem and {"grid", "run_ids"} <= record.keys()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _is_our_lock(path: Path) -> bool:
    """``runs/.lock`` as the runner leaves it: empty, or the pid of the last compare."""
    if not path.exists():
        return True
    try:
        text = path.read_text().strip() if path.is_file() and not path.is_symlink() else "not ours"
    except (OSError, UnicodeDecodeError):
        return False
    return text == "" or text.isdigit()


def remove_runs(runs_dir: Path) -> tuple[int, list[Path]]:
    """Remove the run folders and records in ``runs_dir``; returns (run folders removed, paths kept).

    Holds the runs lock, so a compare in progress is never cleaned under its feet
    (``RunnerBusyError``). The folder itself goes when nothing else is left in it.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return 0, []
    removed = 0
    if not _is_our_lock(runs_dir / ".lock"):
        return 0, [runs_dir / ".lock"]  # a user's own .lock: taking the lock would overwrite it
    with runs_lock(runs_dir):
        store.remove_stale_tmp(runs_dir)
        for path in sorted(runs_dir.iterdir()):
            if _is_run_folder(path):
                shutil.rmtree(path)
                removed += 1
        grids = runs_dir / store.GRIDS
        if grids.is_dir() and not grids.is_symlink():
            clean_leftovers(grids)
            for path in grids.glob("*.json"):
                if _is_grid_record(path):
                    path.unlink()
            _remove_if_empty(grids)
        (runs_dir / store.TENSORBOARD_EXPERIMENT).unlink(missing_ok=True)
        (runs_dir / ".lock").unlink()  # last: a compare starting now makes its own
    _remove_if_empty(runs_dir)
    return removed, sorted(runs_dir.iterdir()) if runs_dir.exists() else []


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty: what is left is not ours
