"""Names looked up by a person: the error for an unknown one, and the hint that
names the nearest valid choice (``(did you mean 'gru'?)``). Every vocabulary
of rnn-zoo uses these: cells, modes and tasks, config keys, report names,
executors.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from typing import Callable


class UnknownNameError(KeyError, ValueError):
    """A cell, mode, task or probe name that is not registered."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0])


def closest(name: str, choices) -> str | None:
    """The name in ``choices`` closest to ``name``, or None when nothing is close."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if str(name).lower() in lowered:  # a case slip is the likeliest typo of all
        return lowered[str(name).lower()]
    found = difflib.get_close_matches(str(name), choices, n=1, cutoff=0.4)
    return found[0] if found else None


def nearest_hint(name, choices) -> str:
    """`` (did you mean 'x'?)`` naming the choice closest to ``name``, or "" when nothing is close."""
    near = closest(str(name), choices)
    return f" (did you mean {near!r}?)" if near is not None else ""


def unknown_keyword_message(function: str, keyword: str, valid) -> str:
    """``compare() got an unknown keyword 'epoch'; valid keywords: ... (did you mean 'epochs'?)``."""
    valid = sorted(valid)
    return (f"{function}() got an unknown keyword {keyword!r}; valid keywords: {', '.join(valid)}"
            + nearest_hint(keyword, valid))


def checked_keywords(fn):
    """``fn`` refusing an unknown keyword with a TypeError that names the valid ones and the nearest,
    where Python's own names neither (``compare() got an unexpected keyword argument 'epoch'``)."""
    parameters = inspect.signature(fn).parameters
    valid = [p for p, v in parameters.items() if p != "self" and v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD)]
    function = fn.__qualname__.removesuffix(".__init__")

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        unknown = [k for k in kwargs if k not in parameters]
        if unknown:
            raise TypeError(unknown_keyword_message(function, unknown[0], valid))
        return fn(*args, **kwargs)

    return checked


def unknown_name_message(kind: str, name, choices) -> str:
    """``unknown task 'x'; valid choices: a, b (did you mean 'a'?)``, and what failed to load that
    might have defined it (``; zoo/core/tasks/x.py failed to load: SyntaxError: ... (line 3)``)."""
    choices = sorted(choices)
    message = f"unknown {kind} {name!r}; valid choices: {', '.join(choices)}" + nearest_hint(name, choices)
    notes = _why_missing(kind) if _why_missing is not None else []
    return message + "".join(f"; {note}" for note in notes)


# What failed to load, by the kind of name it would have defined: the catalog, which loads the
# cells, modes and tasks, says (this module imports nothing of rnn-zoo's).
_why_missing: Callable[[str], list[str]] | None = None


def explain_missing_names(why: Callable[[str], list[str]]) -> None:
    """Have ``unknown_name_message`` add ``why(kind)``: lines saying what failed to load."""
    global _why_missing
    _why_missing = why
