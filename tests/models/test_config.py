"""The `model:` section checks itself: tiny-bert's heads must divide its hidden size."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edgebench.config import ConfigError, load_config
from edgebench.models.config import ModelConfig, TinyBertConfig


def test_tiny_heads_must_divide_hidden() -> None:
    with pytest.raises(ValidationError) as err:
        ModelConfig(tiny=TinyBertConfig(hidden=30, heads=4))
    assert [(e["loc"], e["msg"]) for e in err.value.errors()] == [
        (("tiny", "heads"), "must divide model.tiny.hidden (got 4 for 30)")
    ]


def test_tiny_shape_is_not_checked_for_other_models() -> None:
    assert ModelConfig(name="minilm-l6", tiny=TinyBertConfig(hidden=30, heads=4)).tiny.heads == 4


def test_experiment_error_names_the_field(write_config) -> None:
    path = write_config({"model": {"tiny": {"hidden": 30, "heads": 4}}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0][0] == "model.tiny.heads"
    assert str(info.value).startswith(f"{path}: model.tiny.heads: must divide model.tiny.hidden (got 4 for 30)")
