"""Finding and reading grid files: a .toml path, or the name of a config shipped in ``zoo/configs/``.

Named configs ship in the package, so they resolve from any working directory.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

from zoo.core.config import ConfigError, show
from zoo.core.names import nearest_hint

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


MAX_CONFIG_BYTES = 1_000_000  # a grid file is a few lines; a bigger file is not one


def shipped_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def resolve_config_path(name_or_path) -> Path:
    """A path to a TOML file, or the name of one in ``configs/``.

    Says what is wrong with anything else: not found, a folder, a device or
    pipe, a file without the ``.toml`` suffix, a file too big to be a config.
    """
    if not isinstance(name_or_path, (str, Path)):
        raise ConfigError(f"config = {show(name_or_path)}: expected a .toml path or a shipped config's name")
    text, known = str(name_or_path), shipped_configs()
    choices = f"named configs: {', '.join(known)}"
    wanted = f"expected a .toml file or a shipped config's name; {choices}"
    if not text.strip() or "\0" in text:
        raise ConfigError(f"config {show(text)}: expected a .toml path or a shipped config's name; {choices}")
    path = Path(text)
    if not path.suffix and os.sep not in text:  # a bare name: NAME.toml here, then a shipped config
        for candidate in (path.with_suffix(".toml"), CONFIG_DIR / f"{text}.toml"):
            if os.path.lexists(candidate):
                return _checked_file(candidate)
        if path.exists():
            kind = "a folder" if path.is_dir() else "a file without the .toml suffix"
            raise ConfigError(f"config {show(text)} is {kind}; {wanted}")
        raise ConfigError(f"config {show(text)} not found; {choices}" + nearest_hint(text, known))
    if path.suffix.lower() != ".toml":
        if path.is_dir():
            raise ConfigError(f"config {show(text)} is a folder; expected a .toml file")
        kind = f"a {path.suffix} file" if path.suffix else "a file without the .toml suffix"
        found = f"is {kind}" if path.exists() else f"not found ({kind})"
        raise ConfigError(f"config {show(text)} {found}; {wanted}")
    if not os.path.lexists(path):
        raise ConfigError(f"config {show(text)} not found; {wanted}")
    return _checked_file(path)


def _checked_file(path: Path) -> Path:
    """``path`` if it is a regular file of a config's size; else why not."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"config {show(str(path))}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"config {show(str(path))} is a folder; expected a .toml file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"config {show(str(path))} is not a regular file (a device or pipe?); expected a .toml file")
    if info.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config {show(str(path))} is {info.st_size:,} bytes; a grid file is at most {MAX_CONFIG_BYTES:,}"
        )
    return path


def read_toml(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config {show(str(path))} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "expected a TOML file"
        ) from None
    except OSError as exc:
        raise ConfigError(f"config {show(str(path))}: cannot read it ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if message.endswith("(at end of document)"):  # give the place as a line too
            lines = text.split("\n")
            where = f"(at the end: line {len(lines)}, column {len(lines[-1]) + 1})"
            message = message.replace("(at end of document)", where)
        raise ConfigError(f"{path}: malformed TOML: {message}") from None
    except RecursionError:
        raise ConfigError(f"{path}: malformed TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(f"{path}: malformed TOML: {show(str(exc), 120)}") from None
