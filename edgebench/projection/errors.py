"""One error type for everything `edgebench project` refuses: a bad fleet file, or runs that cannot cost it.

Every problem names the file, the field and what was expected, one line each, e.g.
``runners/fleets/x.yaml: classes[1].cost.time_factor: expected greater than 0 (got -2)``.
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from edgebench import validation
from edgebench.validation import Problem, ProblemsError


class ProjectionError(ProblemsError):
    """`problems` holds (field path, message) pairs about `source` (a fleet file or a run directory)."""


def describe_validation(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One (field path, message) per pydantic error, worded like the experiment file's errors, except that
    unknown keys list the allowed ones in declaration order and the fleet's validators say what they got."""
    return validation.describe_validation(exc, model, keys_sorted=False, got_after_value_errors=False)
