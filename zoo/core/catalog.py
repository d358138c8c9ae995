"""What is registered: the built-in cells, modes and tasks, and the entry points.

Loading is lazy and cached (as xarray's ``backends/plugins.py`` does), so
importing rnn-zoo loads no Keras; the first lookup loads the entry points.

Built-ins and plugins load by one path: each is an entry point in the group
``rnn_zoo.cells`` (cells and modes) or ``rnn_zoo.tasks``, naming a module
(importing it registers its cells, modes or tasks) or a builder. rnn-zoo
declares its own in its pyproject.toml, so this module names no module of the
layers above it. Its own load first (so the built-in modes come first, in their
order) and a failure in one is a bug, raised; the metadata only an install
writes, so a checkout that was never installed is ``NotInstalledError``.

Tasks load on their own (``load_tasks``): they are pure NumPy, so the report
can look them up without Keras. A plugin that fails to import gives one
warning naming it; the others stay usable. A name clash is an error, not a
warning: silently picking one of two cells would make results ambiguous.
``refresh()`` loads the plugins again, for a package installed while Python runs.

The built-in cells and tasks are folders whose every file is imported
(``load_folder``), so a user adds one as a file beside them. There a file is
treated as a plugin: one that fails to import (a typo, a bad declaration) is one
warning naming the file, its line and the error, and is left out, whatever
it registered with it; the other files stay usable, and asking for a name it
would have defined says why that name is missing. An installed copy cannot tell
a shipped file from a user's, so what keeps a shipped one from going missing
quietly is the test suite: it checks that every file of those folders imports
and that every shipped name is registered.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
import sys
import traceback
import warnings
from importlib import metadata
from pathlib import Path

from zoo.core import names, registry
from zoo.core.specs import CellSpec, ModeSpec, TaskSpec

CELL_GROUP = "rnn_zoo.cells"  # cells and modes
TASK_GROUP = "rnn_zoo.tasks"
ENTRY_POINT_GROUPS = (CELL_GROUP, TASK_GROUP)
DISTRIBUTION = "rnn-zoo"  # whose entry points are the built-ins
INSTALL_HINT = "in a checkout run `make install` (or `pip install -e .`)"

_loaded = False
_tasks_loaded = False
_failed: dict[str, str] = {}  # entry point or file -> why it failed, warned about once
_failed_in: dict[str, tuple[str, str]] = {}  # the same keys -> (their group, how to name them)
_folders: dict[str, tuple[list[str], str]] = {}  # package -> (its folders, its group): load_folder's
# The kinds of name an entry point group defines: what an unknown name's message says failed to load.
GROUP_KINDS = {CELL_GROUP: ("cell", "mode"), TASK_GROUP: ("task",)}
_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the zoo package


class NotInstalledError(RuntimeError):
    """rnn-zoo runs from files that were never installed, so its built-ins (entry points) are unknown."""


def load() -> None:
    """Import the built-ins and the plugins, once."""
    global _loaded
    if _loaded:
        return
    load_tasks()
    _load_groups(ENTRY_POINT_GROUPS)
    _loaded = True


def load_tasks() -> None:
    """Import the built-in tasks and the task plugins, once (no Keras)."""
    global _tasks_loaded
    if _tasks_loaded:
        return
    _load_groups((TASK_GROUP,))
    _tasks_loaded = True


def builtins(group: str) -> list[metadata.EntryPoint]:
    """rnn-zoo's own entry points in ``group``, as its installed metadata declares them."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise NotInstalledError(
            f"rnn-zoo is not installed (Python finds no metadata of {DISTRIBUTION!r}), so its built-in cells, "
            f"modes and tasks, which are entry points, are unknown: {INSTALL_HINT}"
        ) from None
    found = [ep for ep in dist.entry_points if ep.group == group]
    if not found:
        raise NotInstalledError(
            f"the rnn-zoo metadata Python finds first (in {Path(dist.locate_file('')).resolve()}) declares no "
            f"entry points in the group {group!r}: it was installed from an older pyproject.toml; install it "
            f"again: {INSTALL_HINT}"
        )
    return found


def _load_groups(groups) -> None:
    for group in groups:
        own = builtins(group)
        for ep in own:
            ep.load()  # a built-in that fails to import is a bug: its traceback is what helps
        for package, (path, folder_group) in list(_folders.items()):  # after refresh(): the files again
            if folder_group == group:
                load_folder(package, path, group)
        for ep in metadata.entry_points(group=group):
            if any(ep.value == b.value for b in own):
                continue  # a built-in, loaded above
            key = f"{ep.name} ({ep.value})"
            if key in _failed or any(k.endswith(f" ({ep.value})") for k in _failed):
                continue  # warned once per module, however many entry points (cells, tasks) name it
            try:
                ep.load()
            except registry.DuplicateNameError:
                raise  # and _loaded stays False: every call says so, not just the first
            except Exception as exc:  # a broken plugin must not take the zoo down
                _fail(key, f"plugin {key}", group, f"{type(exc).__name__}: {exc}", stacklevel=4)


def _fail(key: str, label: str, group: str, why: str, stacklevel: int) -> None:
    _failed[key] = why
    _failed_in[key] = (group, label)
    warnings.warn(f"rnn-zoo: {label} failed to load: {why}", stacklevel=stacklevel)


def load_folder(package: str, path, group: str) -> None:
    """Import every module in the folders ``path`` of ``package`` (its ``__path__``), which define
    names of the entry point ``group``: a cell or task is one file there.

    A module that fails to import is one warning naming its file (below the package root), the
    line and the error, once; what it registered before failing is dropped, and the others stay
    usable. A name clash is raised, as for a plugin. ``refresh()`` tries the failed ones again.
    """
    path = [str(p) for p in path]
    _folders[package] = (path, group)
    for info in pkgutil.iter_modules(path):
        module = f"{package}.{info.name}"
        tail = f"{info.name}/__init__.py" if info.ispkg else f"{info.name}.py"
        key = f"{package.replace('.', '/')}/{tail}"
        if module in sys.modules or key in _failed:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:
            registry._forget_module(module)
            if isinstance(exc, registry.DuplicateNameError):
                raise
            file = Path(getattr(info.module_finder, "path", "")) / tail
            _fail(key, key, group, _why(exc, file), stacklevel=3)


def _raised_at(exc: BaseException, file: Path | None = None) -> tuple[str, int] | None:
    """The file and line where ``exc`` was raised: a syntax error's own, else the deepest frame of
    its traceback in ``file`` if any, else the deepest one."""
    if isinstance(exc, SyntaxError) and exc.filename and not exc.filename.startswith("<") and exc.lineno:
        return exc.filename, exc.lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    if file is not None:
        frames = [f for f in frames if _same_file(f.filename, file)] or frames
    return (frames[-1].filename, frames[-1].lineno) if frames else None


def _same_file(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def shown_path(path) -> str:
    """``path`` as a person finds it: below the folder that holds the zoo package (zoo/core/tasks/x.py),
    else below the working folder, else whole."""
    resolved = Path(path).resolve()
    try:
        bases = (_ROOT, Path.cwd().resolve())
    except OSError:  # the working folder is gone
        bases = (_ROOT,)
    for base in bases:
        if resolved.is_relative_to(base):
            return resolved.relative_to(base).as_posix()
    return str(path)


def code_location(exc: BaseException, file=None) -> str:
    """``path:line`` where ``exc`` was raised (in ``file`` where a frame is; see ``_raised_at``), or ""."""
    at = _raised_at(exc, None if file is None else Path(file))
    return f"{shown_path(at[0])}:{at[1]}" if at else ""


def error_text(exc: BaseException) -> str:
    """``NameError: name 'x' is not defined``, on one line (a syntax error without its file and line)."""
    message = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    message = " ".join(message.split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _why(exc: BaseException, file: Path) -> str:
    """Why a module of a folder failed: the error and where, ``(line 12)`` when in the module's own file."""
    at = _raised_at(exc, file)
    if at is None:
        return error_text(exc)
    where = f"line {at[1]}" if _same_file(at[0], file) else f"{shown_path(at[0])}:{at[1]}"
    return f"{error_text(exc)} ({where})"


def _why_missing(kind: str) -> list[str]:
    """What failed to load that would have defined names of ``kind``, for an unknown name's message."""
    return [f"{_failed_in[key][1]} failed to load: {why}" for key, why in _failed.items()
            if key in _failed_in and kind in GROUP_KINDS.get(_failed_in[key][0], ())]


names.explain_missing_names(_why_missing)


def refresh() -> None:
    """Forget what was loaded, so the next lookup reads the entry points again."""
    global _loaded, _tasks_loaded
    _loaded = _tasks_loaded = False
    _failed.clear()
    _failed_in.clear()


def failed_plugins() -> dict[str, str]:
    """Plugins, and files of the built-in folders (``load_folder``), that failed to import, with the reason."""
    load()
    return dict(_failed)


def list_cells(pattern: str = "*") -> list[str]:
    """Registered cell names matching an fnmatch ``pattern``, sorted."""
    load()
    return [n for n in registry.cell_names() if fnmatch.fnmatch(n, pattern)]


def list_modes(pattern: str = "*", *, required_only: bool = False) -> list[str]:
    """Registered mode names matching ``pattern``, in registration order."""
    load()
    return [n for n in registry.mode_names(required_only) if fnmatch.fnmatch(n, pattern)]


def get_cell(name: str) -> CellSpec:
    load()
    return registry.cell(name)


def get_mode(name: str) -> ModeSpec:
    load()
    return registry.mode(name)


def list_tasks(pattern: str = "*") -> list[str]:
    """Registered task names matching ``pattern``, sorted."""
    load_tasks()
    return [n for n in registry.task_names() if fnmatch.fnmatch(n, pattern)]


def get_task(name: str) -> TaskSpec:
    load_tasks()
    return registry.task(name)


def task_modes(task: TaskSpec, *, required_only: bool = False) -> list[str]:
    """The registered modes that ``task`` supports, in registration order."""
    return [m for m in list_modes(required_only=required_only) if task.supports(get_mode(m))]
