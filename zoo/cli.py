"""Command line: ``python -m zoo list | compare | report | new-cell | clean``. A thin front end.

Every flag is checked before any work starts (the notebook API runs the same
checks). A bad one is answered with one line on stderr, ``error: ...``, naming
the value, what was expected and the nearest valid choice, and exit code 2;
nothing is written.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import threading
import warnings
from pathlib import Path

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

QUICK_HELP = (
    "a smoke run: the grid shrunk to 1 seed, at most 5 epochs and series of at most 2,000 training / 200 test "
    "points (same sampling gaps). Without --config: the shipped quick grid (every cell in the four modes); "
    "with --config: that grid, shrunk, or the config's own [quick] form where it has one (memory does); "
    "its name gets -quick, so its runs never pass for the full grid's. A flag given stays as given (--quick "
    "--seeds 2 trains 2 seeds); the first line says what --quick changed"
)


# Sent by schedulers (Docker, Kubernetes, SLURM: SIGTERM) and by a closed
# terminal (SIGHUP): they stop a compare as Ctrl-C does.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _Stopped(KeyboardInterrupt):
    """A stop signal, raised where the process is, so every ``finally`` runs (workers stopped)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise _Stopped(signum)


class _usage(Exception):
    """A command line that cannot run; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, with no abbreviated flags and its errors as one line each."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise _usage(_one_line(self, message))


def _one_line(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's error message, said the project's way."""
    import re

    from zoo.core.registry import closest

    m = re.match(r"argument (\S+?)(?:/\S+)?: invalid choice: '(.*)' \(choose from (.*)\)$", message)
    if m:
        what, value, choices = m.groups()
        names = [c.strip().strip("'") for c in choices.split(",")]
        near = closest(value, names)
        what = "command" if what in ("command", "{list,compare,new-cell,report,clean}") else what
        return (
            f"{what} {value!r}: unknown; valid choices: {', '.join(names)}"
            + (f" (did you mean {near!r}?)" if near else "")
        )
    m = re.match(r"the following arguments are required: (.*)$", message)
    if m:
        missing = m.group(1)
        if missing == "command":
            return "expected a command: list, compare, report or new-cell (python -m zoo --help)"
        return f"{missing}: expected a value ({parser.prog} --help)"
    m = re.match(r"argument (\S+?)(?:/\S+)?: expected one argument$", message)
    if m:
        return f"{m.group(1)}: expected a value after it ({parser.prog} --help)"
    m = re.match(r"argument (\S+?)(?:/\S+)?: ignored explicit argument '(.*)'$", message)
    if m:
        return f"{m.group(1)}={m.group(2)!r}: {m.group(1)} is a switch and takes no value"
    return " ".join(message.split())


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m zoo", description="Compare recurrent cells on sequence tasks.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p.commands = sub.choices  # name -> its parser, for the hints on unknown flags
    sub.add_parser("list", help="registered cells, modes and tasks")

    c = sub.add_parser("compare", help="train the grid's missing runs, then write the report")
    c.add_argument("--config", help="a TOML file, or the name of a shipped one in zoo/configs/ (default: default)")
    c.add_argument("--cells", help="comma-separated cell names, or 'all'")
    c.add_argument("--modes", help="comma-separated mode names, or 'all'")
    c.add_argument("--seeds", help="number of seeds (0..N-1)")
    c.add_argument("--epochs", help="training epochs of every run")
    c.add_argument("--units", help="units of every cell")
    c.add_argument("--task", help="train on this task (default: the config's; `python -m zoo list` shows them)")
    c.add_argument("--runs", default="runs", help="run folders (default: runs)")
    c.add_argument(
        "--reports", default="reports",
        help="report folder (default: reports); replaced whole, so it must be new, empty or an earlier report",
    )
    c.add_argument("--jobs", help="worker processes (default: the number of cores)")
    c.add_argument("--quick", action="store_true", help=QUICK_HELP)
    c.add_argument("--full", action="store_true",
                   help="the config's [full] form (horizon has one: longer lengths, more seeds, for a GPU or many "
                        "cores); its name gets -full")
    c.add_argument("--executor", default="local", help="where runs train: local (default) or ray")
    c.add_argument("--address", help="ray: the cluster to join, e.g. 10.0.0.1:6379 (default: start a local one)")
    c.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs into each run folder")
    c.add_argument("--cpus-per-task", default="1", help="cores each run asks for and uses (default: 1)")
    c.add_argument("--device", default="auto", help="auto (default: a GPU if there is one), cpu or gpu")
    c.add_argument(
        "--run-timeout", help="end a run when no epoch of it ends for this many seconds, and record it as failed "
        "(default: 10800, 3 hours; local executor)",
    )

    n = sub.add_parser("new-cell", help="write zoo/cells/NAME.py, a cell that trains, to edit")
    n.add_argument("name", help="the cell's registry name, a lowercase identifier such as my_rnn")
    n.add_argument("--dir", help="folder to write into (default: the zoo/cells package)")

    r = sub.add_parser("report", help="rebuild the report from stored runs, without training")
    r.add_argument("--config", help="report this grid instead of the last compared one")
    r.add_argument("--runs", default="runs")
    r.add_argument("--reports", default="reports")

    k = sub.add_parser("clean", help="remove the run folders and the report rnn-zoo wrote; anything else stays")
    k.add_argument("--runs", default="runs")
    k.add_argument("--reports", default="reports")
    return p


def _parse(argv) -> argparse.Namespace:
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        raise _usage(f"unknown flag {argv[0]!r}; a command comes first: list, compare, report or new-cell")
    args, extra = parser.parse_known_args(argv)
    if extra:
        raise _usage(_extra_message(parser, args, argv, extra))
    return args


def _extra_message(parser, args, argv: list[str], extra: list[str]) -> str:
    """An argument nothing took: a flag typo, or a list given with spaces."""
    from zoo.core.registry import closest

    first = extra[0]
    if first.startswith("-"):
        flag = first.split("=", 1)[0]
        sub = parser.commands.get(args.command, parser)
        flags = sorted(o for a in sub._actions for o in a.option_strings if o.startswith("--"))
        near = closest(flag, flags)
        return f"unknown flag {first!r} for {args.command}; valid flags: {', '.join(flags)}" + (
            f" (did you mean {near!r}?)" if near else ""
        )
    at = argv.index(first) if first in argv else -1
    before = argv[at - 1] if at > 0 else ""
    flag, value = (before.split("=", 1) if before.startswith("--") and "=" in before
                   else (argv[at - 2] if at > 1 else "", before))
    if flag in ("--cells", "--modes") and not value.startswith("-"):
        words = [value] + [w for w in extra if not w.startswith("-")]
        return (
            f"{flag}: unexpected {first!r} after {value!r}: separate names with commas, "
            f"without spaces: {flag} {','.join(words)}"
        )
    return f"unexpected argument {first!r} (after {before!r}); see python -m zoo {args.command or ''} --help".replace(
        "  ", " "
    )


# ---------------------------------------------------------------- commands


def _list() -> int:
    from zoo.core import catalog

    print("cells:")
    for name in catalog.list_cells():
        spec = catalog.get_cell(name)
        print(f"  {name:<20} {spec.description}")
    print("modes:")
    for name in catalog.list_modes():
        spec = catalog.get_mode(name)
        extra = "" if spec.required else "  (not in the default grid)"
        print(f"  {name:<20} {spec.description}{extra}")
    print("tasks:")
    for name in catalog.list_tasks():
        spec = catalog.get_task(name)
        kind = f"{spec.classes}-class classification" if spec.classes else "regression"
        print(f"  {name:<20} {spec.description}")
        print(f"  {'':<20} {kind}, {spec.loss} loss, judged by {spec.metric} over its memoryless baseline; "
              f"length setting: task.{spec.length}; modes: {', '.join(catalog.task_modes(spec))}")
    return 0


def _count_flag(flag: str, value):
    """A count flag as an int; its range is the loader's to check (as for a file)."""
    from zoo.core.loading import count

    return None if value is None else count(flag, value, low=None, high=None)


def _compare(args) -> int:
    """``zoo.api.compare``, with what the command line says around it: the
    summary, the diverged and failed runs, and an exit code from the outcome."""
    from zoo import api, report

    # Each flag is the API argument of its name. The flags are strings: the counts
    # become numbers here, named as flags; every other check is the API's own
    # (with flag="--", so its messages name the flags).
    options = {name: value for name, value in vars(args).items() if name != "command"}
    options.update({name: _count_flag(f"--{name}", options[name]) for name in ("seeds", "epochs", "units")})
    results, outcome = api.compare_outcome(**options, flag="--")
    runs, reports = Path(args.runs), Path(args.reports)
    for msg in results.foreign:
        if not msg.startswith(str(runs)):  # a run folder's line was said before training
            print(f"left out: {msg}", file=sys.stderr)
    print(results.summary_markdown())
    for line in report.diverged_lines(results):
        print(line)
    print(
        f"trained {outcome.trained} runs, skipped {outcome.skipped} finished ones, "
        f"in {outcome.seconds:.0f}s; report: {reports / 'summary.md'}"
    )
    if outcome.diverged:
        print(f"{len(outcome.diverged)} runs diverged (a result, shown in the report)")
    if outcome.failed:
        print(f"{len(outcome.failed)} runs FAILED:", file=sys.stderr)
        for line in outcome.failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def _report(args) -> int:
    from zoo import api, report
    from zoo.core.config import MissingPathError, show

    runs = api.folder_path("--runs", args.runs)
    if not runs.is_dir():
        what = "is a file, not a runs folder" if runs.exists() else "no such folder (compare first)"
        raise MissingPathError(f"--runs = {show(str(runs))}: {what}")
    runs, reports = api.check_folders(runs, args.reports, flag="--", write_runs=False)
    record = None
    if args.config:  # a grid file: resolve its run ids (this needs the registry, so Keras)
        from zoo.core.grid import expand
        from zoo.core.loading import load_grid

        grid = load_grid(args.config)
        run_ids = [r.run_id for r in expand(grid)]
        if grid.search is not None:  # a search's runs are those it asked for, on the runs stored
            from zoo.core.grid import search_lines
            from zoo.runs.runner import search_round

            run_ids = list(dict.fromkeys(r.run_id for r in search_round(search_lines(grid), runs, grid.seeds)[1]))
        record = {"name": grid.name, "grid": grid.to_dict(), "run_ids": run_ids}
    results = report.build(runs, reports, record=record)
    for msg in results.damaged:
        print(f"damaged run folder, left out: {msg}", file=sys.stderr)
    for msg in results.foreign:
        print(f"left out: {msg}", file=sys.stderr)
    if results.missing:
        print(f"{len(results.missing)} runs of the grid are not in {runs} yet", file=sys.stderr)
    print(results.summary_markdown())
    for line in report.diverged_lines(results):
        print(line)
    print(f"report: {reports / 'summary.md'}")
    return 0


def _clean(args) -> int:
    from zoo import api, report
    from zoo.runs.clean import remove_runs

    runs, reports = api.folder_path("--runs", args.runs), api.folder_path("--reports", args.reports)
    for flag, path in (("--runs", runs), ("--reports", reports)):
        if path.exists() and not path.is_dir():
            raise _usage(f"{flag} = {str(path)!r}: is a file, not a folder")
    try:
        removed, kept_runs = remove_runs(runs)
        files, kept_report = report.remove_report(reports)
    except OSError as exc:  # a folder rnn-zoo may not write: one line, and what was removed stays removed
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"error: cannot clean{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    plural = lambda n, noun: f"{n} {noun}" + ("" if n == 1 else "s")  # noqa: E731
    print(f"removed {plural(removed, 'run folder')} from {runs} and {plural(files, 'report file')} from {reports}")
    kept = kept_runs + kept_report
    if kept:
        shown = ", ".join(str(p) for p in kept[:5]) + (f" and {len(kept) - 5} more" if len(kept) > 5 else "")
        print(f"kept what rnn-zoo did not write: {shown}")
    return 0


def _new_cell(args) -> int:
    from zoo import new_cell

    kwargs = {"folder": Path(args.dir)} if args.dir else {}
    try:
        path = new_cell.create(args.name, **kwargs)
    except OSError as exc:
        where = f"--dir = {args.dir!r}" if args.dir else f"{exc.filename or new_cell.CELLS_DIR}"
        raise _usage(f"{where}: cannot write the cell file there ({exc.strerror or exc})") from None
    print(f"wrote {path}")
    print(f"next: edit its call(), then `python -m zoo list` and `make compare CELLS={args.name} QUICK=1`")
    return 0


def _needs_keras(args) -> bool:
    """Whether the command loads the registry, and so Keras (``report`` does only with --config)."""
    return args.command not in ("report", "clean") or bool(getattr(args, "config", None))


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    text = " ".join(str(message).split())
    return f"warning: {text}\n" if text.startswith("rnn-zoo:") else _default_format(
        message, category, filename, lineno, line
    )


_default_format = warnings.formatwarning

OUTPUT_ERRORS = (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EIO)
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a tool killed by SIGPIPE returns (`zoo list | head -1`)


def _output_failed(exc: OSError) -> int:
    """Stdout is gone (a reader that stopped) or full: end quietly, or with one line on stderr.

    Stdout is pointed at /dev/null, so the interpreter's last flush at exit finds nothing to fail on."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    if exc.errno == errno.EPIPE:
        return EXIT_BROKEN_PIPE
    print(f"error: cannot write the output: {exc.strerror}", file=sys.stderr)
    return 1


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    warnings.formatwarning = _one_line_warning  # a broken plugin: one line, not a source listing
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS} if main_thread else {}
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit: a closed pipe or a full device is answered below
        return code
    except OSError as exc:
        if exc.errno not in OUTPUT_ERRORS or exc.filename is not None:  # a named file: not the output
            raise
        return _output_failed(exc)
    finally:
        warnings.formatwarning = _default_format
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv) -> int:
    from zoo.core.config import compile_cache_dir, keep_tensorflow_out, keras_backend

    try:
        args = _parse(argv)
        if _needs_keras(args):
            keras_backend()  # before anything imports Keras, which raises its own traceback
            compile_cache_dir()
            keep_tensorflow_out()
        if args.command == "list":
            return _list()
        if args.command == "compare":
            return _compare(args)
        if args.command == "new-cell":
            return _new_cell(args)
        if args.command == "clean":
            return _clean(args)
        return _report(args)
    except KeyboardInterrupt as exc:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:  # stopping now: a second signal must not cut the message short
                signal.signal(sig, signal.SIG_IGN)
        what = f"stopped by {exc}" if isinstance(exc, _Stopped) else "interrupted"
        print(
            f"\n{what}: finished runs are stored; run the same command again to resume",
            file=sys.stderr,
        )
        # The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
        return 128 + exc.signum if isinstance(exc, _Stopped) else EXIT_INTERRUPTED
    except Exception as exc:
        code = _exit_code(exc)
        if code is None:
            raise  # a bug: its traceback is what helps
        _say(exc)
        return code


# What the command line answers in one line, and with which exit code: bad
# input 2, a fault it could not get past (a full disk, a busy runs folder) 1.
# Looked up in modules already imported, so a refused flag imports nothing more.
ANSWERED = {
    "zoo.core.config": (("ConfigError", EXIT_USAGE),),
    "zoo.core.registry": (("UnknownNameError", EXIT_USAGE), ("DuplicateNameError", EXIT_USAGE)),
    "zoo.core.catalog": (("NotInstalledError", 1),),
    "zoo.new_cell": (("NewCellError", EXIT_USAGE),),
    "zoo.runs.runner": (("RunnerBusyError", 1),),
    "zoo.store": (("StorageError", 1),),
    "zoo.runs.executors.local": (("MainGuardError", EXIT_USAGE),),
    "zoo.report": (("ReportWriteError", 1),),
}


def _exit_code(exc: Exception) -> int | None:
    if isinstance(exc, _usage):
        return EXIT_USAGE
    for module, names in ANSWERED.items():
        loaded = sys.modules.get(module)
        for name, code in names if loaded is not None else ():
            if isinstance(exc, getattr(loaded, name)):
                return code
    return None


def _say(exc: BaseException) -> None:
    print("error: " + " ".join(str(exc).split()), file=sys.stderr)
