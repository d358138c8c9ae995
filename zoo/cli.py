"""Command line: ``python -m zoo list | compare | report``. A thin front end."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m zoo", description="Compare recurrent cells on the sine task.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="registered cells and modes")

    c = sub.add_parser("compare", help="train the grid's missing runs, then write the report")
    c.add_argument("--config", help="a TOML file, or the name of a shipped one in zoo/configs/ (default: default)")
    c.add_argument("--cells", help="comma-separated cell names, or 'all'")
    c.add_argument("--modes", help="comma-separated mode names, or 'all'")
    c.add_argument("--seeds", type=int, help="number of seeds (0..N-1)")
    c.add_argument("--epochs", type=int)
    c.add_argument("--units", type=int)
    c.add_argument("--runs", default="runs", help="run folders (default: runs)")
    c.add_argument("--reports", default="reports", help="report folder (default: reports)")
    c.add_argument("--jobs", type=int, help="worker processes (default: the number of cores)")
    c.add_argument("--quick", action="store_true", help="the quick smoke grid (zoo/configs/quick.toml)")
    c.add_argument("--executor", default="local", help="where runs train: local (default) or ray")
    c.add_argument("--address", help="ray: the cluster to join, e.g. 10.0.0.1:6379 (default: start a local one)")
    c.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs into each run folder")
    c.add_argument("--cpus-per-task", type=int, default=1, help="cores each run asks for and uses (default: 1)")
    c.add_argument("--device", default="auto", help="auto (default: a GPU if there is one), cpu or gpu")

    n = sub.add_parser("new-cell", help="write zoo/cells/NAME.py, a cell that trains, to edit")
    n.add_argument("name", help="the cell's registry name, a lowercase identifier such as my_rnn")
    n.add_argument("--dir", help="folder to write into (default: the zoo/cells package)")

    r = sub.add_parser("report", help="rebuild the report from stored runs, without training")
    r.add_argument("--config", help="report this grid instead of the last compared one")
    r.add_argument("--runs", default="runs")
    r.add_argument("--reports", default="reports")
    return p


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
    return 0


def _grid(args):
    from zoo.core.loading import load_grid

    name = args.config or ("quick" if args.quick else "default")
    return load_grid(name, cells=args.cells, modes=args.modes, seeds=args.seeds, epochs=args.epochs, units=args.units)


def _writable(flag: str, folder: Path) -> None:
    """Refuse, before training, a runs or reports folder that cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise _usage(f"{flag} = '{folder}': cannot write there ({exc.strerror or exc})") from None


def _compare(args) -> int:
    from zoo import report
    from zoo.runs import runner
    from zoo.runs.executors import make_executor

    grid = _grid(args)
    for flag in ("--jobs", "--cpus-per-task"):
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None and value < 1:
            raise _usage(f"{flag} = {value}: expected a number greater than 0")
    report.check_folders(Path(args.runs), Path(args.reports))
    _writable("--runs", Path(args.runs))
    _writable("--reports", Path(args.reports))
    if args.tensorboard:
        from zoo.runs.tensorboard import check_available

        check_available()
    executor = make_executor(args.executor, args.jobs, args.address, args.cpus_per_task, device=args.device)
    outcome = runner.execute(grid, Path(args.runs), executor=executor, tensorboard=args.tensorboard)
    results = report.build(Path(args.runs), Path(args.reports), compared=grid.name)
    print(results.summary_markdown())
    print(
        f"trained {outcome.trained} runs, skipped {outcome.skipped} finished ones, "
        f"in {outcome.seconds:.0f}s; report: {Path(args.reports) / 'summary.md'}"
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
    from zoo import report

    record = None
    if args.config:  # a grid file: resolve its run ids (this needs the registry, so Keras)
        from zoo.core.grid import expand
        from zoo.core.loading import load_grid

        grid = load_grid(args.config)
        record = {"name": grid.name, "grid": grid.to_dict(), "run_ids": [r.run_id for r in expand(grid)]}
    results = report.build(Path(args.runs), Path(args.reports), record=record)
    for msg in results.damaged:
        print(f"damaged run folder, left out: {msg}", file=sys.stderr)
    if results.missing:
        print(f"{len(results.missing)} runs of the grid are not in {args.runs} yet", file=sys.stderr)
    print(results.summary_markdown())
    print(f"report: {Path(args.reports) / 'summary.md'}")
    return 0


def _new_cell(args) -> int:
    from zoo import new_cell

    kwargs = {"folder": Path(args.dir)} if args.dir else {}
    path = new_cell.create(args.name, **kwargs)
    print(f"wrote {path}")
    print(f"next: edit its call(), then `python -m zoo list` and `make compare CELLS={args.name} QUICK=1`")
    return 0


class _usage(Exception):
    pass


def main(argv=None) -> int:
    from zoo.core.config import ConfigError
    from zoo.core.registry import UnknownNameError
    from zoo.new_cell import NewCellError
    from zoo.runs.runner import RunnerBusyError
    from zoo.runs.store import StorageError

    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "compare":
            return _compare(args)
        if args.command == "new-cell":
            return _new_cell(args)
        return _report(args)
    except (ConfigError, UnknownNameError, NewCellError, _usage) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (RunnerBusyError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished runs are stored; run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
