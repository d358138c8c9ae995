"""The report's vocabulary (zoo.core.report_spec) and what draws each name (zoo.report.registry):
every name has its entry, a [report] table is checked when its config is loaded, and the
report names no cell: what it says of one comes from what the cell declares or from the numbers."""

import io
import re
import tokenize
from pathlib import Path

import pytest

from zoo.core import report_spec
from zoo.core.config import ConfigError
from zoo.core.loading import CONFIG_DIR, load_grid
from zoo.report import registry

REPORT_DIR = Path(registry.__file__).parent
NAMES = [(kind, name) for kind, items in report_spec.KINDS.items() for name in items]
# A value list per setting a report item can read, to sweep it in a test config.
SWEEPS = {"task.window": "[5, 20]", "train.global_clipnorm": '["none", 1.0]', "train.clipnorm": '["none", 1.0]',
          "param_budget": '["none", 300]', "units": "[4, 8]"}
BASE = 'cells = ["simple_rnn"]\nmodes = ["many_to_one"]\nseeds = 1\nunits = 8\n'


def _config(tmp_path, report: str, sweep: str = "") -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(BASE + 'experiment = "A test."\n' + (f"[sweep]\n{sweep}\n" if sweep else "")
                    + f"[report]\n{report}\n")
    return path


@pytest.mark.parametrize("kind,name", NAMES)
def test_every_declared_name_has_what_draws_it(kind, name):
    table = registry._TABLES[kind]
    assert name in table and callable(table[name])
    assert report_spec.KINDS[kind][name].description


def test_nothing_is_drawn_that_the_vocabulary_does_not_declare():
    for kind, table in registry._TABLES.items():
        assert set(table) == set(report_spec.KINDS[kind]), kind
    with pytest.raises(ValueError, match="not in zoo.core.report_spec.FIGURES"):
        registry._register("figures", "not_declared")


@pytest.mark.parametrize("kind,name", [(k, n) for k, n in NAMES if report_spec.KINDS[k][n].sweeps])
def test_an_item_that_reads_a_setting_needs_the_grid_to_sweep_it(tmp_path, kind, name):
    item = report_spec.KINDS[kind][name]
    with pytest.raises(ConfigError, match=f"report.{kind}: '{name}' shows .* so the grid must sweep "
                                          + re.escape(" or ".join(item.sweeps))):
        load_grid(_config(tmp_path, f'{kind} = ["{name}"]'))
    for key in item.sweeps:
        grid = load_grid(_config(tmp_path, f'{kind} = ["{name}"]', f'"{key}" = {SWEEPS[key]}'))
        assert getattr(grid.report, kind) == (name,)
        assert registry.column(kind, name, grid) == key.split(".")[-1]


def test_an_unknown_name_is_refused_before_any_work(tmp_path, monkeypatch):
    path = _config(tmp_path, 'figures = ["cliping"]', '"train.global_clipnorm" = ["none", 1.0]')
    with pytest.raises(ConfigError) as err:
        load_grid(path)
    message = str(err.value)
    assert "report.figures: unknown name 'cliping'" in message and "did you mean 'clipping'?" in message
    assert "valid choices: " + ", ".join(report_spec.FIGURES) in message and "\n" not in message
    # Through the front door: refused before a runs folder or a report exists.
    from zoo import api

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="unknown name 'cliping'"):
        api.compare(config=str(path), runs=tmp_path / "runs", reports=tmp_path / "reports")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("report,expected", [
    ("figure = []", "unknown key 'figure' in [report]; valid keys: figures, findings, sections (did you mean "
                    "'figures'?)"),
    ('sections = "memory"', "report.sections = 'memory': expected a list of names"),
    ('sections = ["memory", "memory"]', "a name is listed twice"),
    ('sections = ["horizon"]', "'horizon' shows a [search]'s horizon, and this grid has no [search]"),
])
def test_a_bad_report_table_says_what_is_wrong(tmp_path, report, expected):
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_grid(_config(tmp_path, report))


def test_a_declared_report_survives_the_grid_record():
    from zoo.core.config import GridConfig

    for path in sorted(CONFIG_DIR.glob("*.toml")):
        grid = load_grid(path)
        assert grid.report is not None, f"{path.name} declares no [report] table"
        assert GridConfig.from_stored(grid.to_dict()).report == grid.report
    plain = GridConfig()
    assert "report" not in plain.to_dict() and report_spec.spec_of(plain) == report_spec.default_spec(plain)


def _names_in_code(source: str) -> set[str]:
    """Every word of the module's string literals and identifiers (comments left out)."""
    words, kinds = set(), (tokenize.STRING, tokenize.NAME, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING))
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):  # (3.12 splits an f-string in parts)
        if tok.type in kinds:
            words |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", tok.string))
    return words


def test_no_report_module_names_a_cell():
    from zoo.core import catalog

    cells = set(catalog.list_cells())
    assert {"lstm", "gru", "simple_rnn"} <= cells
    assert {"lstm", "gru"} <= _names_in_code('TEXTBOOK = ("lstm", "gru")  # a list of cells\n')  # it can fail
    named = {path.name: sorted(_names_in_code(path.read_text()) & cells) for path in sorted(REPORT_DIR.glob("*.py"))}
    assert {name: found for name, found in named.items() if found} == {}


def test_what_a_cell_declares_is_stored_with_its_runs_as_json():
    import json

    from zoo.core import catalog, registry

    for name in catalog.list_cells():
        declared = catalog.get_cell(name).declares()
        assert set(declared) <= {"description", "claim", "remedy", "published"}
        assert declared["description"] == catalog.get_cell(name).description  # the page's glossary reads it
        assert json.loads(json.dumps(declared)) == declared  # metrics.json holds it as it is
    with pytest.raises(ValueError, match=r"published must be \(task, length, who reported what\)"):
        registry.register_cell("bad_claim", param_count=lambda i, u: u, published=("adding", "long"))
