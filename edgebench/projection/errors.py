"""One error type for everything `edgebench project` refuses: a bad fleet file, or runs that cannot cost it.

Every problem names the file, the field and what was expected, one line each, e.g.
``runners/fleets/x.yaml: classes[1].cost.time_factor: expected greater than 0 (got -2)``.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from edgebench.yamlfile import format_loc

Problem = tuple[str, str]


class ProjectionError(ValueError):
    """`problems` holds (field path, message) pairs about `source` (a fleet file or a run directory)."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(
            "\n".join(f"{source}: {path}: {msg}" if path else f"{source}: {msg}" for path, msg in problems)
        )


def describe_validation(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One (field path, message) per pydantic error, worded like the experiment file's errors."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "missing":
            message = "required field is missing"
        elif kind == "extra_forbidden":
            allowed = _fields_at(model, loc[:-1])
            message = f"unknown key; expected one of: {', '.join(allowed)}" if allowed else "unknown key"
        else:
            message = err["msg"].replace("Input should be", "expected", 1).replace("Value error, ", "")
            if kind != "value_error":
                message += f" (got {err['input']!r})"
        problems.append((format_loc(loc), message))
    return problems


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
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
    """The BaseModel class inside Optional[...] / list[...] annotations, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
