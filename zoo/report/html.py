"""reports/index.html: one self-contained page (images inlined) with it all."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from zoo.report.table_text import display_table, table_note

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: .85rem; margin: .8rem 0; }
/* Cells wrap at spaces (never inside a number or name), so a wide table shrinks to the
   1400-px page instead of running off its right edge. */
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: right; white-space: normal; }
th { background: #f4f4f4; } td:first-child, td:nth-child(2) { text-align: left; }
.findings li { margin: .3rem 0; } .note { color: #555; font-size: .85rem; }
img { max-width: 100%; border: 1px solid #eee; margin: .5rem 0; }
figure { margin: 1rem 0; } figcaption { color: #444; font-size: .9rem; max-width: 70rem; }
.settings td { text-align: left; } .wide { overflow-x: auto; }
.answer { border-left: 4px solid #3a7; background: #f5fbf7; padding: .3rem 1rem; margin: 1rem 0; }
.answer p { margin: .4rem 0; }
"""


def _img(path: Path, alt: str, caption: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    below = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">{below}</figure>'


def _table(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "<p>No finished runs.</p>"
    shown = display_table(summary).to_html(index=False, border=0, escape=True)
    return f'<div class="wide">{shown}</div><p class="note">{html.escape(table_note(summary))}</p>'


def _findings(lines: list[str]) -> str:
    """The findings as a list; nothing where there are none (a probe with no finding sentence)."""
    if not lines:
        return ""
    return '<ul class="findings">' + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"


def _settings(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="settings">{body}</table>'


def _glossary(rows: list[tuple[str, str]]) -> str:
    """The cells and modes of the page, each in its registered words (``zoo.report.settings.glossary``)."""
    if not rows:
        return ""
    return "<h2>Cells and modes</h2>" + _settings(rows)


def figure(path: Path) -> str:
    """A PNG inlined as a figure."""
    return _img(path, path.stem.replace("_", " "))


def findings_list(lines: list[str]) -> str:
    return _findings(lines)


def frame_table(table: pd.DataFrame, note: str = "") -> str:
    """Any table of strings, with a note under it."""
    shown = table.to_html(index=False, border=0, escape=True)
    return f'<div class="wide">{shown}</div>' + (f'<p class="note">{html.escape(note)}</p>' if note else "")


def section(title: str, intro: str, findings: list[str], summary: pd.DataFrame, figures: list[Path],
            captions: dict[str, str] | None = None) -> str:
    """A titled section: its intro, findings, table and figures, each figure with its caption
    (``captions``, by file name) where it has one."""
    parts = [f"<h2>{html.escape(title)}</h2>"]
    if intro:
        parts.append(f"<p>{html.escape(intro)}</p>")
    parts += [_findings(findings), _table(summary)]
    parts += [_img(f, f.stem.replace("_", " "), (captions or {}).get(f.name, "")) for f in figures]
    return "\n".join(parts)


def answer_block(lines: list[str]) -> str:
    """The page's short answer in words, before any table."""
    if not lines:
        return ""
    return '<div class="answer">' + "".join(f"<p>{html.escape(x)}</p>" for x in lines) + "</div>"


def page(findings: list[str], settings: list[tuple[str, str]], main: str, experiments: list[str],
         answer: list[str] = (), tasks: str = "the sine task", glossary: list[tuple[str, str]] = ()) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rnn-zoo report</title>
<style>{STYLE}</style></head><body>
<h1>rnn-zoo: recurrent cells on {html.escape(tasks)}</h1>
{answer_block(answer)}
<p class="note">Built from the runs in runs/; <code>python -m zoo report</code> (<code>make report</code>)
builds it again without training.</p>
{_findings(findings)}
<h2>Settings</h2>
{_settings(settings)}
{_glossary(glossary)}
{main}
{"".join(experiments)}
</body></html>
"""
