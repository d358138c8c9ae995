"""Which files of a reports folder are rnn-zoo's: the manifest every report writes, and the checks
that keep a report from replacing a folder holding anything else (``check_folders``) or ``make clean``
from removing it (``remove_report``). rnn-zoo never deletes a file it did not write.

Beside the run folders, in the store: ``zoo.api`` checks a compare's folders with it before any
work, without loading the report (pandas and matplotlib, 1.5 s) on a path that only says an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from zoo.core.config import ConfigError, show
from zoo.store.atomic import clean_leftovers

# Written with every report: the files it holds. A folder is replaced only when
# every file in it is listed here (or is one of make bench's, KEPT): rnn-zoo
# never deletes a file it did not write.
MANIFEST = ".rnn-zoo-report"
KEPT = ("benchmark.csv", "benchmark.md", "benchmark_long.csv", "scaling.csv", "scaling.png", "scaling.md",
        "callback_cost.csv", "callback_cost.md", "worker_start.md")  # by `make bench` (benchmarks/*.py)


class ReportFolderError(ConfigError):
    """A --reports folder that rnn-zoo may not replace."""


def _inside(a: Path, b: Path) -> bool:
    return a == b or b in a.parents


def foreign_files(reports_dir: Path) -> list[Path]:
    """Files in ``reports_dir`` that no report wrote (not in its manifest, not make bench's)."""
    reports_dir = Path(reports_dir)
    if not reports_dir.exists():
        return []
    try:
        ours = set(json.loads((reports_dir / MANIFEST).read_text())["files"]) | set(KEPT) | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):
        ours = set()
    found = sorted(p for p in reports_dir.rglob("*") if not p.is_dir())
    return [p for p in found if p.relative_to(reports_dir).as_posix() not in ours]


def remove_report(reports_dir: Path) -> tuple[int, list[Path]]:
    """Remove the files a report (or ``make bench``) wrote in ``reports_dir``, then its empty
    folders; returns (files removed, files kept). Without a manifest nothing is ours."""
    reports_dir = Path(reports_dir)
    if not reports_dir.is_dir() or reports_dir.is_symlink():
        return 0, []
    clean_leftovers(reports_dir.parent, reports_dir.name)
    if not (reports_dir / MANIFEST).is_file():  # not a report's folder: not even looked through
        return 0, [reports_dir] if any(reports_dir.iterdir()) else []
    foreign = set(foreign_files(reports_dir))
    ours = [p for p in reports_dir.rglob("*") if not p.is_dir() and p not in foreign and p.name != MANIFEST]
    for path in ours:
        path.unlink()
    (reports_dir / MANIFEST).unlink()
    folders = (p for p in reports_dir.rglob("*") if p.is_dir() and not p.is_symlink())
    for folder in sorted(folders, key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    if not any(reports_dir.iterdir()):
        reports_dir.rmdir()
    return len(ours) + 1, sorted(foreign)


def check_folders(runs_dir: Path, reports_dir: Path, flag: str = "--reports") -> None:
    """Refuse, before any work, a reports folder the report may not replace.

    It must not be, hold or sit inside the runs folder, must be a folder (or
    not exist yet) and not a symbolic link, and may hold only files that an
    earlier report wrote. ``flag`` names the folder in messages.
    """
    runs, reports = Path(runs_dir).resolve(), Path(reports_dir).resolve()
    where = f"{flag} = {show(str(reports_dir))}"
    if _inside(runs, reports) or _inside(reports, runs):
        relation = "is" if runs == reports else ("contains" if _inside(runs, reports) else "is inside")
        raise ReportFolderError(
            f"{where} {relation} the runs folder {show(str(runs_dir))}; the report replaces its folder, "
            "so the two must be apart (e.g. --runs runs --reports reports)"
        )
    if Path(reports_dir).is_symlink():
        raise ReportFolderError(f"{where} is a symbolic link; pass the folder itself ({show(str(reports))})")
    if reports.exists() and not reports.is_dir():
        raise ReportFolderError(f"{where} is a file; expected a folder (new, empty, or an earlier report)")
    try:
        foreign = foreign_files(reports)
    except OSError as exc:
        raise ReportFolderError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if foreign:
        extra = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise ReportFolderError(
            f"{where} holds files that no rnn-zoo report wrote "
            f"({show(foreign[0].relative_to(reports).as_posix())}{extra}); the report replaces its whole folder, "
            "so choose a new or empty one"
        )
