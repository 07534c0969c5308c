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
    """The parsed document at `path`; YamlFileError for a missing file, invalid YAML or a key given twice."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise YamlFileError("file not found") from None
    return parse_yaml(text)


def parse_yaml(text: str) -> Any:
    """The parsed document `text` (safe loading); YamlFileError for invalid YAML or a key given twice in
    one mapping (YAML would silently keep the last value)."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        raise YamlFileError(f"not valid YAML: {exc}") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a mapping with the same key twice (merge keys `<<` may still override)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first:
                        raise YamlFileError(f"duplicate key {key!r} at line {line} (first given at line {first[key]})")
                    first[key] = line
                except TypeError:  # an unhashable key: SafeLoader reports it
                    continue
        return super().construct_mapping(node, deep=deep)


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
