"""YAML in and out: a file read with a one-line error where it is broken, and the command line's KEY=VALUE
options."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml

from aeflow.errors import ConfigError


def read_yaml(path: Path, fix: str) -> Any:
    """A YAML file's content, or a ConfigError in one line that says where it is broken and `fix`."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not text (it holds binary bytes); {fix}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"{path} is not valid YAML ({problem}{where}); {fix}") from None


def parse_assignments(pairs: typing.Iterable[str], where: str) -> dict[str, Any]:
    """Parse KEY=VALUE strings from the command line; values are read as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{where} option {pair!r} must look like KEY=VALUE (e.g. code_dim=30)")
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"{where} option {pair!r}: cannot read the value {raw!r}") from None
    return out
