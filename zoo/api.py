"""The notebook API: ``zoo.compare``, ``zoo.load_runs`` and ``zoo.load_model``.

Every argument is checked before any work starts: a bad value raises a
one-line ``ConfigError`` and nothing is written. ``python -m zoo compare`` is
``compare`` (through ``compare_outcome``): its flags are its arguments, checked
by the same code.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from zoo import store
from zoo.core.config import ConfigError, MissingPathError, compile_cache_dir, keras_backend, show
from zoo.core.loading import count, load_grid, quick_note
from zoo.core.names import checked_keywords, unknown_name_message
from zoo.runs import runner
from zoo.runs.executors import EXECUTORS, make_executor
from zoo.runs.executors.local import EXIT_NO_MAIN_GUARD
from zoo.store.report_folder import check_folders as check_report_folders

if TYPE_CHECKING:
    from zoo.report import Results


def __getattr__(name):
    # Re-exported from the report when first asked for, so that a command that stops at a bad
    # argument does not load the report (pandas, matplotlib: 1.5 s) first.
    if name in ("Results", "load_runs"):
        from zoo import report

        return getattr(report, name)
    raise AttributeError(f"module 'zoo.api' has no attribute {name!r}")


MAX_RUN_TIMEOUT = 7 * 24 * 3600  # seconds: a week without an epoch ending is a hang, or a typo
MAX_JOBS = 1024  # worker processes or CPUs per task: more is a typo, not a machine
ADDRESS = re.compile(r"(ray://)?([A-Za-z0-9][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\]):([0-9]{1,5})")
NAME_MAX = 255  # bytes in one file name on Linux and macOS


def check_options(
    jobs=None, executor="local", address=None, cpus_per_task=1, flag: str = ""
) -> tuple[int | None, int]:
    """Check where runs train; returns ``(jobs, cpus_per_task)`` as ints.

    ``flag`` prefixes the names in messages (``--`` for the command line).
    """
    jobs = None if jobs is None else count(f"{flag}jobs", jobs, high=MAX_JOBS)
    cpus = count(f"{flag}cpus-per-task" if flag else "cpus_per_task", cpus_per_task, high=MAX_JOBS)
    if not isinstance(executor, str) or executor not in EXECUTORS:
        raise ConfigError(
            f"{flag}executor = {show(executor)}: " + unknown_name_message("executor", executor, EXECUTORS)
        )
    if address is not None:
        if executor != "ray":
            raise ConfigError(f"{flag}address = {show(address)}: only the ray executor joins a cluster")
        match = ADDRESS.fullmatch(address) if isinstance(address, str) else None
        if address != "auto" and (match is None or not 1 <= int(match.group(3)) <= 65535):
            raise ConfigError(
                f"{flag}address = {show(address)}: expected HOST:PORT (e.g. 10.0.0.1:6379), ray://HOST:PORT or auto"
            )
    return jobs, cpus


def check_run_timeout(value, flag: str = "") -> float:
    """``--run-timeout``: whole seconds without progress after which a run is ended (default: 3 hours)."""
    from zoo.runs.executors.local import RUN_TIMEOUT

    if value is None:
        return RUN_TIMEOUT
    return float(count(f"{flag}run-timeout" if flag else "run_timeout", value, low=1, high=MAX_RUN_TIMEOUT))


def folder_path(where: str, value) -> Path:
    """A folder argument as a Path, refusing what no file system takes."""
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"{where} = {show(value)}: expected a folder path")
    text = os.fspath(value)
    if isinstance(text, bytes) or not text.strip():
        raise ConfigError(f"{where} = {show(value)}: expected a folder path")
    if "\0" in text:
        raise ConfigError(f"{where} = {show(text)}: a path cannot hold a NUL byte")
    long = [part for part in Path(text).parts if len(part.encode(errors="surrogateescape")) > NAME_MAX]
    if long:
        raise ConfigError(f"{where} = {show(text)}: a folder name is longer than {NAME_MAX} bytes")
    return Path(text)


def check_writable(where: str, folder: Path) -> None:
    """Refuse a folder that cannot be written, without creating it: the
    nearest part of the path that exists must be a folder that takes a file."""
    existing = Path(folder)
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        with tempfile.TemporaryFile(dir=existing):  # O_TMPFILE: never has a name
            pass
    except OSError as exc:
        raise ConfigError(f"{where} = {show(str(folder))}: cannot write there ({exc.strerror or exc})") from None


def check_folders(runs, reports, flag: str = "", write_runs: bool = True) -> tuple[Path, Path | None]:
    """The runs and reports folders of a compare, checked before any work: paths,
    apart, writable, and a reports folder that holds only a report of ours.
    ``write_runs=False``: the runs are only read (``zoo report``), so a read-only folder will do."""
    runs = folder_path(f"{flag}runs", runs)
    if write_runs:
        check_writable(f"{flag}runs", runs)
    if reports is not None:
        reports = folder_path(f"{flag}reports", reports)
        check_report_folders(runs, reports, flag=f"{flag}reports")
        check_writable(f"{flag}reports", reports)
    return runs, reports


@checked_keywords
def compare(
    cells=None,
    modes=None,
    seeds: int | None = None,
    epochs: int | None = None,
    units: int | None = None,
    config: str | None = None,
    runs: str | Path = "runs",
    reports: str | Path | None = "reports",
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    quick: bool = False,
    full: bool = False,
    cpus_per_task: int = 1,
    device: str = "auto",
    task: str | None = None,
    run_timeout: int | None = None,
    tensorboard: bool = False,
) -> Results:
    """Train the grid's missing runs and return its ``Results``.

    ``quick=True`` shrinks the grid (the shipped quick grid, or ``config``'s)
    to a smoke run: one seed, at most 5 epochs, short series (or the config's
    own ``[quick]`` form); an argument given stays as given (``quick=True,
    seeds=2`` trains 2 seeds), and a first printed line says what quick
    changed. ``full=True`` trains the config's ``[full]`` form (horizon has one).
    ``task`` trains the grid on another task.
    ``run_timeout``: seconds without an epoch ending after which a run is
    ended and recorded as failed (default 3 hours; local executor).
    ``tensorboard=True`` also writes TensorBoard logs into each run folder.
    Call it in a script under ``if __name__ == "__main__":`` (worker processes
    import the script that started them); without the guard it stops at once
    with ``MainGuardError`` saying so.

    ``python -m zoo compare`` is this function: its flags are these arguments.

    Example:
        res = zoo.compare(cells=["gru", "lstm"], modes=["many_to_one"], seeds=3, epochs=20)
        res = zoo.compare(config="memory")           # or task="adding" on the default grid
        res.summary        # pandas DataFrame
        res.plot_loss()    # matplotlib Figure
    """
    results, _ = compare_outcome(**locals())
    return results


@checked_keywords
def compare_outcome(
    cells=None,
    modes=None,
    seeds: int | None = None,
    epochs: int | None = None,
    units: int | None = None,
    config: str | None = None,
    runs: str | Path = "runs",
    reports: str | Path | None = "reports",
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    quick: bool = False,
    full: bool = False,
    cpus_per_task: int = 1,
    device: str = "auto",
    task: str | None = None,
    run_timeout: int | None = None,
    tensorboard: bool = False,
    flag: str = "",
) -> tuple[Results, runner.Outcome]:
    """``compare``, returning the runner's ``Outcome`` (trained, skipped, failed,
    diverged) beside the ``Results``: the one path from options to trained runs
    and report, for the notebook and the command line alike.

    ``flag`` is how messages name the options: ``""`` for the API
    (``seeds = 0``), ``"--"`` for the command line (``--jobs = 0``). Every
    check comes before any work, the cheap ones first; the quick line is
    printed only once all have passed.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # This process is a worker starting up, running the user's script again
        # (no main guard): say so to the driver by the exit code, before any work.
        os._exit(EXIT_NO_MAIN_GUARD)
    keras_backend()
    compile_cache_dir()
    for name, value in (("quick", quick), ("full", full), ("tensorboard", tensorboard)):
        if not isinstance(value, bool):
            raise ConfigError(f"{flag}{name} = {show(value)}: expected True or False")
    jobs, cpus = check_options(jobs, executor, address, cpus_per_task, flag=flag)
    timeout = check_run_timeout(run_timeout, flag=flag)
    runs, reports = check_folders(runs, reports, flag=flag)
    overrides = dict(cells=cells, modes=modes, seeds=seeds, epochs=epochs, units=units, task=task)
    grid = load_grid(config, quick=quick, full=full, **overrides)
    view = None
    if tensorboard:
        from zoo.views import tensorboard as tb

        tb.check_available(flag)
        view = tb.Logs()
    if quick:  # what quick changed, and the options it left as given
        print(quick_note(config, flag=flag, **overrides), flush=True)
    executor = make_executor(executor, jobs, address, cpus, device=device, run_timeout=timeout)
    outcome = runner.execute(grid, runs, executor=executor, view=view)
    from zoo import report

    if reports is not None:
        return report.build(runs, reports, compared=grid.name), outcome
    return report.load_runs(runs, store.read_grids(runs)[grid.name]["run_ids"]), outcome


def load_model(path):
    """Load a run's model: ``path`` is a run folder or its ``model.keras``.

    Only ``.keras`` archives, with Keras's ``safe_mode=True`` (see
    ``zoo.engine.saving``). A path that is not there raises ``MissingPathError``.
    """
    keras_backend()
    path = folder_path("path", path)
    if not path.exists():
        raise MissingPathError(f"{show(str(path))}: no such run folder or .keras file")
    if path.is_dir() and not (path / "model.keras").exists():
        raise MissingPathError(f"{show(str(path))}: holds no model.keras (not a run folder, or a run that failed)")
    from zoo.engine.saving import load_model as load_safely

    return load_safely(path)


@checked_keywords
def diagnose(model, x, y, loss=None):
    """The zoo's gradient diagnostics for your own built Keras 3 model, on the batch ``x``, ``y``.

    Every recurrent layer (SimpleRNN, GRU, LSTM, RNN(cell), both directions of a
    Bidirectional, stacked, masked; functional, Sequential or subclassed) is
    unrolled through its own cell, sharing the layer's weights, and measured with
    the zoo's probes: ‖dh_T/dh_t‖ and dL/dx by lag, the one-step Jacobian's
    spectrum and Lyapunov exponents, the gradient norm per weight group, gate
    activity and the registered probes (``zoo.probes``: the recurrent gradient's
    time profile), with a line in ``notes`` for each layer a probe does not apply
    to. ``loss``: a Keras loss (name, ``Loss`` or function); default the model's
    compiled loss. The model is never changed. Returns a
    ``zoo.report.diagnosis.Diagnosis``: DataFrames, ``plot_*()`` Figures and ``report(folder)``.

    Example:
        d = zoo.diagnose(model, x_val[:32], y_val[:32])
        d.layers, d.probes        # pandas DataFrames
        d.plot_gradient_by_lag()  # matplotlib Figure
        d.report("diagnosis")     # diagnosis/index.html
    """
    keras_backend()
    from zoo.engine.diagnose import Diagnoser, check_finite_weights, check_model
    from zoo.report.diagnosis import Diagnosis

    check_model(model)
    check_finite_weights(model)
    diagnoser = Diagnoser(model, x, y, loss)
    measured = diagnoser.measure(x, y)
    measured["probe_tables"], measured["notes"] = diagnoser.registered(x, y)  # the probe registry's probes
    return Diagnosis.from_measured(model.name, measured)
