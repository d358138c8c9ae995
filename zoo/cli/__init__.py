"""Command line: ``python -m zoo list | compare | report | new-cell | clean``. A thin front end.

Every flag is checked before any work starts (the notebook API runs the same
checks). A bad one is answered with one line on stderr, ``error: ...``, naming
the value, what was expected and the nearest valid choice, and exit code 2;
nothing is written.

By job: ``parsing`` (the commands and flags), ``commands`` (each command's work),
and here ``main``: stop signals, one-line errors and warnings, exit codes.
"""

from __future__ import annotations

import errno
import signal
import sys
import threading
import warnings

from zoo.cli.commands import COMMANDS, needs_keras
from zoo.cli.parsing import UsageError, parse

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
        args = parse(argv)
        if needs_keras(args):
            keras_backend()  # before anything imports Keras, which raises its own traceback
            compile_cache_dir()
            keep_tensorflow_out()
        return COMMANDS[args.command](args)
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
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    for module, names in ANSWERED.items():
        loaded = sys.modules.get(module)
        for name, code in names if loaded is not None else ():
            if isinstance(exc, getattr(loaded, name)):
                return code
    return None


def _say(exc: BaseException) -> None:
    print("error: " + " ".join(str(exc).split()), file=sys.stderr)
