"""What the page says of how its runs were made: the settings table, the library versions, and
what each cell and mode is (the glossary), all from the grid and the stored runs.
"""

from __future__ import annotations

from zoo.core.config import GridConfig, TaskConfig
from zoo.report import memory
from zoo.report.results import Results


def glossary(runs) -> list[tuple[str, str]]:
    """What each cell and mode of the page is, in its registered words, as its runs stored them (a
    run stored before they did says nothing): cells by name, then modes in the order they ran."""
    cells, modes = {}, {}
    for r in runs:
        about = r.metrics.get("cell_declares", {}).get("description")
        if about:
            cells.setdefault(r.config.cell, about)
        if r.metrics.get("mode_description"):
            modes.setdefault(r.config.mode, r.metrics["mode_description"])

    def lower(text: str) -> str:  # "The w values ..." -> "the w values ...", an acronym kept
        return text[:1].lower() + text[1:] if text[1:2].islower() else text

    return [(c, cells[c]) for c in sorted(cells)] + [(m, f"mode: {lower(about)}") for m, about in modes.items()]


def settings(grid: GridConfig, results: Results) -> list[tuple[str, str]]:
    t, tr = grid.task, grid.train
    if not isinstance(t, TaskConfig):  # another task than the post's sine: its settings as they are
        return memory.settings_rows(grid) + versions(results)
    rows = [
        ("cells x modes x seeds", f"{', '.join(grid.cells)} x {', '.join(grid.modes)} x {grid.seeds}"),
        ("training series", f"sin(linspace({t.train_start:g}, {t.train_stop:g}, {t.train_points})), "
                            f"sampling gap {t.train_gap:.4g}"),
        ("test series", f"sin(linspace({t.test_start:g}, {t.test_stop:g}, {t.test_points})), "
                        f"sampling gap {t.test_gap:.4g}"
                        + (f" ({t.test_gap / t.train_gap:.3g}x the training gap, as in the seed post: "
                           "the test 'next value' lies further ahead)" if abs(t.test_gap / t.train_gap - 1) > 0.01
                           else "")),
        ("window / horizon", f"{t.window} past values / {t.horizon} future values"),
        ("model", f"{grid.units} units, Dense(1) head"),
        ("training", f"{tr.optimizer} lr {tr.learning_rate:g}, batch {tr.batch_size}, {tr.epochs} epochs, "
                     f"{tr.loss} loss, clipnorm {tr.clipnorm}, global_clipnorm {tr.global_clipnorm}"),
    ]
    return rows + versions(results)


def versions(results: Results) -> list[tuple[str, str]]:
    if not results.runs:
        return []
    v = results.runs[0].metrics.get("versions", {})
    return [("backend", f"Keras {v.get('keras')} on {v.get('backend')} {v.get('backend_version')}"),
            ("libraries", f"Python {v.get('python')}, NumPy {v.get('numpy')}, pandas {v.get('pandas')}")]
