"""The command line's grammar: its commands and flags, and argparse's errors said in one line."""

from __future__ import annotations

import argparse
import sys

QUICK_HELP = (
    "a smoke run: the grid shrunk to 1 seed, at most 5 epochs and series of at most 2,000 training / 200 test "
    "points (same sampling gaps). Without --config: the shipped quick grid (every cell in the four modes); "
    "with --config: that grid, shrunk, or the config's own [quick] form where it has one (memory does); "
    "its name gets -quick, so its runs never pass for the full grid's. A flag given stays as given (--quick "
    "--seeds 2 trains 2 seeds); the first line says what --quick changed"
)


class UsageError(Exception):
    """A command line that cannot run; the message is one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, with no abbreviated flags and its errors as one line each."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(_one_line(self, message))


def _one_line(parser: argparse.ArgumentParser, message: str) -> str:
    """argparse's error message, said the project's way."""
    import re

    from zoo.core.names import closest

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


def parser() -> argparse.ArgumentParser:
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

    n = sub.add_parser("new-cell", help="write zoo/models/cells/NAME.py, a cell that trains, to edit")
    n.add_argument("name", help="the cell's registry name, a lowercase identifier such as my_rnn")
    n.add_argument("--dir", help="folder to write into (default: zoo/models/cells, the built-in cells' package)")

    r = sub.add_parser("report", help="rebuild the report from stored runs, without training")
    r.add_argument("--config", help="report this grid instead of the last compared one")
    r.add_argument("--runs", default="runs")
    r.add_argument("--reports", default="reports")

    k = sub.add_parser("clean", help="remove the run folders and the report rnn-zoo wrote; anything else stays")
    k.add_argument("--runs", default="runs")
    k.add_argument("--reports", default="reports")
    return p


def parse(argv) -> argparse.Namespace:
    """``argv`` (default: ``sys.argv[1:]``) as the command and its flags; ``UsageError`` if it cannot run."""
    grammar = parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        raise UsageError(f"unknown flag {argv[0]!r}; a command comes first: list, compare, report or new-cell")
    args, extra = grammar.parse_known_args(argv)
    if extra:
        raise UsageError(_extra_message(grammar, args, argv, extra))
    return args


def _extra_message(parser, args, argv: list[str], extra: list[str]) -> str:
    """An argument nothing took: a flag typo, or a list given with spaces."""
    from zoo.core.names import closest

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
