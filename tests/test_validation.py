"""Validated files word pydantic's errors one way: `field path: what was expected (got input)`."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from edgebench.validation import ProblemsError, describe_validation


class Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    uplink_mbit_s: float = Field(gt=0)
    latency_s: float = 0.0


class Fleet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    clients: int = 1
    links: list[Annotated[Link, BeforeValidator(lambda v: v)]] = []

    @field_validator("clients")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError("must be even")
        return value


def _problems(raw: dict, **kwargs) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Fleet.model_validate(raw)
    return describe_validation(info.value, Fleet, **kwargs)


def test_unknown_keys_list_the_allowed_ones_sorted_or_in_declaration_order() -> None:
    raw = {"name": "f", "clinets": 2, "links": [{"uplink_mbit_s": 1, "uplink": 2}]}
    assert _problems(raw) == [
        ("links[0].uplink", "unknown key; expected one of: latency_s, uplink_mbit_s"),
        ("clinets", "unknown key; expected one of: clients, links, name"),
    ]
    assert _problems(raw, keys_sorted=False) == [
        ("links[0].uplink", "unknown key; expected one of: uplink_mbit_s, latency_s"),
        ("clinets", "unknown key; expected one of: name, clients, links"),
    ]


def test_extra_allowed_keys_and_a_prefix_place_the_model_inside_a_larger_file() -> None:
    assert _problems({"name": "f", "zz": 1}, prefix=("fleets", 3), extra_allowed=("kind", "name")) == [
        ("fleets[3].zz", "unknown key; expected one of: clients, kind, links, name")
    ]


def test_missing_and_bad_values_say_what_was_expected_and_what_was_given() -> None:
    assert _problems({"links": [{"uplink_mbit_s": 0}]}) == [
        ("name", "required field is missing"),
        ("links[0].uplink_mbit_s", "expected greater than 0 (got 0)"),
    ]


def test_a_validators_message_gets_the_input_unless_it_states_it_itself() -> None:
    assert _problems({"name": "f", "clients": 3}) == [("clients", "must be even (got 3)")]
    assert _problems({"name": "f", "clients": 3}, got_after_value_errors=False) == [("clients", "must be even")]


def test_problems_error_is_one_line_per_problem_naming_the_source() -> None:
    error = ProblemsError("fleet.yaml", [("clients", "must be even (got 3)"), ("", "not valid YAML")])
    assert str(error) == "fleet.yaml: clients: must be even (got 3)\nfleet.yaml: not valid YAML"
    assert isinstance(error, ValueError) and error.source == "fleet.yaml"
