"""``python -m zoo clean``'s runs half: remove what compares wrote, and nothing else.

A run folder is recognised by its name (a run id) and its files (only those a
run folder holds, and its TensorBoard logs); the grid records, the lock file,
TensorBoard's experiment file and the leftovers of interrupted writes by their
exact names. Anything else in ``runs/`` is a user's, and stays.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from zoo.core.atomic import clean_leftovers
from zoo.runs import store
from zoo.runs.runner import runs_lock
from zoo.runs.tensorboard import EXPERIMENT_FILE

RUN_ID = re.compile(r"[A-Za-z0-9_.+-]+-s\d+-[0-9a-f]{8}")
TENSORBOARD = "tensorboard"


def _is_run_folder(path: Path) -> bool:
    if not (path.is_dir() and not path.is_symlink() and RUN_ID.fullmatch(path.name)):
        return False
    names = {p.name for p in path.iterdir()}
    return "config.json" in names and names <= set(store.FILES) | {TENSORBOARD}


def remove_runs(runs_dir: Path) -> tuple[int, list[Path]]:
    """Remove the run folders and records in ``runs_dir``; returns (run folders removed, paths kept).

    Holds the runs lock, so a compare in progress is never cleaned under its feet
    (``RunnerBusyError``). The folder itself goes when nothing else is left in it.
    """
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return 0, []
    removed = 0
    with runs_lock(runs_dir):
        store.remove_stale_tmp(runs_dir)
        for path in sorted(runs_dir.iterdir()):
            if _is_run_folder(path):
                shutil.rmtree(path)
                removed += 1
        grids = runs_dir / store.GRIDS
        if grids.is_dir() and not grids.is_symlink():
            clean_leftovers(grids)
            for record in grids.glob("*.json"):
                if record.name in {f"{name}.json" for name in store.read_grids(runs_dir)}:
                    record.unlink()
            _remove_if_empty(grids)
        (runs_dir / EXPERIMENT_FILE).unlink(missing_ok=True)
        (runs_dir / ".lock").unlink()  # last: a compare starting now makes its own
    _remove_if_empty(runs_dir)
    return removed, sorted(runs_dir.iterdir()) if runs_dir.exists() else []


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty: what is left is not ours
