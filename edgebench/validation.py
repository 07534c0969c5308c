"""How a validated file's problems are worded: one line each, naming the file, the field and what was expected.

Shared by every validated file type (the experiment file in config, fleet files in projection) whatever their
layer; imports nothing of edgebench but :mod:`edgebench.yamlfile`'s field paths. E.g.
``runners/configs/x.yaml: federation.rounds: expected greater than 0 (got -2)``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from edgebench.yamlfile import format_loc

Problem = tuple[str, str]
Loc = tuple[str | int, ...]


class ProblemsError(ValueError):
    """Problems found in `source` (a file or a run directory): `problems` holds (field path, message) pairs,
    and the message is one line per problem, ``source: path: message`` (``source: message`` without a path)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            "\n".join(f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems)
        )


def describe_validation(
    exc: ValidationError,
    model: type[BaseModel],
    prefix: Loc = (),
    *,
    extra_allowed: Sequence[str] = (),
    keys_sorted: bool = True,
    got_after_value_errors: bool = True,
) -> list[Problem]:
    """One (field path, message) per pydantic error of validating `model` at `prefix` in the file.

    An unknown key lists the keys `model` allows there (plus `extra_allowed`), sorted unless `keys_sorted`
    is false (then in declaration order). A validator's ValueError gets the input appended as
    ``(got ...)`` unless `got_after_value_errors` is false (for validators that word it themselves); a
    ``cross_field`` error (a section's own check across its fields) is its message alone.
    """
    problems = []
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing":
            message = "required field is missing"
        elif kind == "extra_forbidden":
            allowed = list(dict.fromkeys([*_fields_at(model, loc[:-1]), *extra_allowed]))
            if keys_sorted:
                allowed.sort()
            message = f"unknown key; expected one of: {', '.join(allowed)}" if allowed else "unknown key"
        elif kind == "cross_field":
            message = err["msg"]
        else:
            message = err["msg"].replace("Input should be", "expected", 1).replace("Value error, ", "")
            if got_after_value_errors or kind != "value_error":
                message += f" (got {err['input']!r})"
        problems.append((format_loc(prefix + loc), message))
    return problems


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the (nested) model found at `loc` inside `model` (list indexes skipped)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return []
        current = _model_in(current.model_fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside Optional[...] / list[...] / Annotated[...] annotations, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
