"""Folders that appear whole or not at all.

``atomic_folder(final)`` yields a fresh temporary folder beside ``final``;
when the block ends without an error, the folder is renamed into place (an
existing ``final`` is moved aside first and removed after), so a reader sees
the old folder or the new one, never a half-written one. On an error the
temporary folder is removed and ``final`` is untouched.

Leftovers of a process killed mid-write have names only this module makes
(``.NAME.tmp-*`` and ``.NAME.old-*`` beside ``final``); ``clean_leftovers``
removes them, and restores an ``.old`` folder whose replacement never
arrived, so even a kill between the two renames loses nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

TMP, OLD = ".tmp-", ".old-"


def _aside(final: Path, kind: str) -> Path:
    return final.parent / f".{final.name}{kind}{uuid.uuid4().hex[:8]}"


def _ours(parent: Path, name: str, kind: str) -> list[Path]:
    """Leftovers of ``_aside``: exactly ``.NAME<kind><8 hex digits>``, nothing a user would name."""
    return [p for p in parent.glob(f".{name}{kind}*") if re.fullmatch(r"[0-9a-f]{8}", p.name.rsplit(kind, 1)[1])]


def clean_leftovers(parent: Path, name: str = "*") -> None:
    """Remove the temporary folders this module left in ``parent`` for ``name``
    (every name with ``*``), restoring a moved-aside folder that lost its place."""
    parent = Path(parent)
    if not parent.is_dir():
        return
    for old in sorted(_ours(parent, name, OLD)):
        final = parent / old.name[1 : old.name.rindex(OLD)]
        if not final.exists():
            os.rename(old, final)  # the replacement never arrived: the old one stays
        else:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in _ours(parent, name, TMP):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """Write a folder's files into the yielded path; it becomes ``final`` whole."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _aside(final, TMP)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if final.exists():
            old = _aside(final, OLD)
            os.rename(final, old)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(final: Path) -> Iterator[Path]:
    """Write one file at the yielded path; it replaces ``final`` whole."""
    final = Path(final)
    tmp = _aside(final, TMP)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes(path: Path, data: bytes) -> None:
    """Write and flush to disk, so a renamed folder's files are really there."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
