"""One value of a grid file: whole numbers, typed fields, lists of registered names.

Every problem is a ``ConfigError`` naming the value, what was expected and,
for a name, the nearest valid choice.
"""

from __future__ import annotations

import dataclasses
import math
import re

from zoo.core.config import ConfigError, show
from zoo.core.keys import check_keys
from zoo.core.names import closest, unknown_name_message


def count(where: str, value, low: int | None = 1, high: int | None = None) -> int:
    """A whole number in ``low..high``: ``2``, ``2.0``, ``1e3`` or ``"2"`` (from a flag); nothing
    else. ``None`` bounds are left to the caller (the loader checks a grid's)."""
    number = value
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            try:
                number = float(value)
                if not math.isfinite(number):
                    raise ValueError
            except ValueError:
                raise ConfigError(f"{where} = {show(value)}: expected a whole number, such as 2") from None
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int):
        raise ConfigError(f"{where} = {show(value)}: expected a whole number, such as 2")
    if low is not None and number < low:
        raise ConfigError(f"{where} = {number}: expected a number greater than {low - 1}")
    if high is not None and number > high:
        raise ConfigError(f"{where} = {show(number)}: expected at most {high:,}")
    return number


def check_type(where: str, value, kind: type):
    """Coerce ints to floats where a float is expected; refuse anything else.

    One rule for counts, in files, flags and the API alike: a whole number,
    however it is written (``1000``, ``1e3``, ``1000.0``); ``2.5`` is refused.
    """
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ConfigError(f"{where} = {show(value)}: expected a finite number") from None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        got = type(value).__name__
        if kind is int and isinstance(value, float):
            got = "a fraction" if math.isfinite(value) else "a non-finite number"
        raise ConfigError(f"{where} = {show(value)}: expected {kind.__name__}" + (
            " (a whole number)" if kind is int else "") + f", got {got}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where} = {show(value)}: expected a finite number")
    return value


def type_name(f: dataclasses.Field) -> str:
    """A field's type as written (``int``, ``float | None``), whether or not its
    module postpones annotations (a plugin task's settings may not)."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def fill(cls, where: str, given: dict, keys_where: str | None = None):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    check_keys(keys_where or f"[{where}]", given, list(fields), table=where)
    values = {}
    for name, value in given.items():
        kind = type_name(fields[name])
        optional = "None" in kind
        base = kind.replace(" | None", "")
        if optional and value is None:
            values[name] = None
        else:
            values[name] = check_type(f"{where}.{name}", value, {"int": int, "float": float, "str": str}[base])
    return dataclasses.replace(cls(), **values)


def positive(where: str, value) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{where} = {show(value)}: expected a number greater than 0")


SEPARATORS = re.compile(r"[\s;|/+:]+")


def name_list(where: str, value, choices: list[str], kind: str) -> tuple[str, ...]:
    given = value
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} = {show(value)}: expected a list of {kind} names, or 'all'")
    if list(value) in (["all"], ["*"]):
        return tuple(choices)
    if not value:
        raise ConfigError(
            f"{where} = {show(given)}: expected at least one {kind} name; valid choices: {', '.join(choices)}"
        )
    for v in value:
        if v in choices:
            continue
        if v in ("all", "*"):
            raise ConfigError(f"{where}: {show(v)} stands alone (all the {kind}s); give it alone or list names")
        parts = [p for p in SEPARATORS.split(v) if p]
        if len(parts) > 1 and all(p in choices or p == "all" for p in parts):
            raise ConfigError(
                f"{where}: unknown {kind} {show(v)}; separate names with commas: {','.join(parts)!r}"
            )
        message = unknown_name_message(kind, v if len(v) <= 60 else v[:57] + "...", choices)
        if "did you mean" not in message and closest(v, [*choices, "all"]) == "all":
            message += " (did you mean 'all'?)"
        raise ConfigError(f"{where}: " + message)
    dupes = sorted({v for v in value if list(value).count(v) > 1})
    if dupes:
        raise ConfigError(f"{where}: {kind} {show(dupes[0])} is listed twice")
    return tuple(value)
