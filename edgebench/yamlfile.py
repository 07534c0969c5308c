"""Reading YAML files and naming pydantic field paths, shared by every validated file type.

No edgebench imports: experiment files (config), device profiles (devices) and the profiler's
commands all use it, whatever their layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


class YamlFileError(ValueError):
    """A file that could not be read as YAML; `problem` is the one-line reason (no path)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def read_yaml(path: Path) -> Any:
    """The parsed document at `path`; YamlFileError for a missing file or invalid YAML."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise YamlFileError("file not found") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(f"not valid YAML: {exc}") from None


def format_loc(loc: Sequence[Any]) -> str:
    """A pydantic error location as a field path: ('methods', 0, 'r') -> 'methods[0].r'.

    Validator frames pydantic inserts into locations (e.g. 'function-after[...]') are skipped.
    """
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-"):
            out += f".{part}" if out else str(part)
    return out
