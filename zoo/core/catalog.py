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
"""

from __future__ import annotations

import fnmatch
import warnings
from importlib import metadata
from pathlib import Path

from zoo.core import registry
from zoo.core.specs import CellSpec, ModeSpec, TaskSpec

ENTRY_POINT_GROUPS = ("rnn_zoo.cells", "rnn_zoo.tasks")
TASK_GROUP = "rnn_zoo.tasks"
DISTRIBUTION = "rnn-zoo"  # whose entry points are the built-ins
INSTALL_HINT = "in a checkout run `make install` (or `pip install -e .`)"

_loaded = False
_tasks_loaded = False
_failed: dict[str, str] = {}  # entry point -> why it failed, warned about once


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
                _failed[key] = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"rnn-zoo: plugin {key} failed to load: {_failed[key]}", stacklevel=3)


def refresh() -> None:
    """Forget what was loaded, so the next lookup reads the entry points again."""
    global _loaded, _tasks_loaded
    _loaded = _tasks_loaded = False
    _failed.clear()


def failed_plugins() -> dict[str, str]:
    """Plugins that failed to import, with the reason."""
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
