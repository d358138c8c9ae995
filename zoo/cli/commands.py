"""The commands: ``list``, ``compare``, ``report``, ``clean`` and ``new-cell``, each from its parsed flags
to its exit code. What they share (signals, one-line errors, exit codes) is ``zoo.cli``'s (``main``)."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from zoo.cli.parsing import UsageError


def run_list(args) -> int:
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
    print("configs (make compare CONFIG=name, QUICK=1 for a smoke run):")
    for name, about in config_descriptions().items():
        print(f"  {name:<20} {about}")
    return 0


def config_descriptions(width: int = 110) -> dict[str, str]:
    """Each shipped config by its ``experiment`` line's first sentence (most ask a question), else by its
    file's opening comment."""
    from zoo.core.config_files import CONFIG_DIR, read_toml, shipped_configs

    described = {}
    for name in shipped_configs():
        path = CONFIG_DIR / f"{name}.toml"
        text = str(read_toml(path).get("experiment") or "")
        if not text:  # the file's opening comment, its lines joined
            opening = itertools.takewhile(lambda line: line.startswith("#"), path.read_text().splitlines())
            text = " ".join(line.lstrip("# ").strip() for line in opening) or "a grid"
        first = text.split("? ")[0] + "?" if "? " in text else text.split(". ")[0].rstrip(".,:;")
        described[name] = first if len(first) <= width else first[: width - 3].rstrip() + "..."
    return described


def _count_flag(flag: str, value):
    """A count flag as an int; its range is the loader's to check (as for a file)."""
    from zoo.core.loading import count

    return None if value is None else count(flag, value, low=None, high=None)


def run_compare(args) -> int:
    """``zoo.api.compare``, with what the command line says around it: the
    summary, the diverged and failed runs, and an exit code from the outcome."""
    from zoo import api
    from zoo.core.config import counted

    # Each flag is the API argument of its name. The flags are strings: the counts
    # become numbers here, named as flags; every other check is the API's own
    # (with flag="--", so its messages name the flags).
    options = {name: value for name, value in vars(args).items() if name != "command"}
    options.update({name: _count_flag(f"--{name}", options[name]) for name in ("seeds", "epochs", "units")})
    results, outcome = api.compare_outcome(**options, flag="--")
    from zoo import report  # loaded by the compare by now: a bad flag has stopped it before

    runs, reports = Path(args.runs), Path(args.reports)
    for msg in results.foreign:
        if not msg.startswith(str(runs)):  # a run folder's line was said before training
            print(f"left out: {msg}", file=sys.stderr)
    print(results.summary_markdown())
    for line in report.diverged_lines(results):
        print(line)
    _print_answer(results)
    print(
        f"trained {counted(outcome.trained, 'run')}, skipped {outcome.skipped} finished, "
        f"in {outcome.seconds:.0f}s; {_where(reports)}"
    )
    if outcome.diverged:
        print(f"{counted(len(outcome.diverged), 'run')} diverged (a result, shown in the report)")
    if outcome.failed:
        print(f"{counted(len(outcome.failed), 'run')} FAILED:", file=sys.stderr)
        for line in outcome.failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


def run_report(args) -> int:
    from zoo import api
    from zoo.core.config import MissingPathError, counted, show

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
    from zoo import report  # after every check: a bad flag stops before loading it

    results = report.build(runs, reports, record=record)
    for msg in results.damaged:
        print(f"damaged run folder, left out: {msg}", file=sys.stderr)
    for msg in results.foreign:
        print(f"left out: {msg}", file=sys.stderr)
    if results.missing:
        print(f"{counted(len(results.missing), 'run')} of the grid {'is' if len(results.missing) == 1 else 'are'} "
              f"not in {runs} yet", file=sys.stderr)
    print(results.summary_markdown())
    for line in report.diverged_lines(results):
        print(line)
    _print_answer(results)
    print(_where(reports))
    return 0


def _print_answer(results) -> None:
    """The report page's opening (its answer in words), after the table, as the page has it first."""
    if results.answer:
        print("\n" + "\n".join(results.answer) + "\n")


def _where(reports: Path) -> str:
    return f"report: {reports / 'index.html'} (the answer and every figure; the table: summary.md)"


def run_clean(args) -> int:
    from zoo import api
    from zoo.runs.clean import remove_runs
    from zoo.store.report_folder import remove_report

    runs, reports = api.folder_path("--runs", args.runs), api.folder_path("--reports", args.reports)
    for flag, path in (("--runs", runs), ("--reports", reports)):
        if path.exists() and not path.is_dir():
            raise UsageError(f"{flag} = {str(path)!r}: is a file, not a folder")
    try:
        removed, kept_runs = remove_runs(runs)
        files, kept_report = remove_report(reports)
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


def run_new_cell(args) -> int:
    from zoo import new_cell

    kwargs = {"folder": Path(args.dir)} if args.dir else {}
    try:
        path = new_cell.create(args.name, **kwargs)
    except OSError as exc:
        where = f"--dir = {args.dir!r}" if args.dir else f"{exc.filename or new_cell.CELLS_DIR}"
        raise UsageError(f"{where}: cannot write the cell file there ({exc.strerror or exc})") from None
    print(f"wrote {path}")
    print(f"next: edit its call(), then `python -m zoo list` and `make compare CELLS={args.name} QUICK=1`")
    return 0


def needs_keras(args) -> bool:
    """Whether the command loads the registry, and so Keras (``report`` does only with --config)."""
    return args.command not in ("report", "clean") or bool(getattr(args, "config", None))


COMMANDS = {"list": run_list, "compare": run_compare, "report": run_report, "clean": run_clean,
            "new-cell": run_new_cell}
