"""Shared fixtures: a tiny, fast experiment config written to a temporary file."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_EXPERIMENT: dict[str, Any] = {
    "model": {
        "name": "tiny-bert",
        "tiny": {"layers": 2, "hidden": 32, "heads": 2, "intermediate": 64, "vocab_size": 500},
    },
    "data": {"dataset": "ag_news_sample", "max_train_examples": 240, "max_test_examples": 80},
    "partition": {"scheme": "dirichlet", "alpha": 1.0},
    "federation": {
        "num_clients": 4,
        "clients_per_round": 2,
        "rounds": 3,
        "local_steps": 2,
        "batch_size": 8,
        "lr": 0.005,
        "max_seq_len": 32,
    },
    "methods": [{"method": "lora", "r": 4}, {"method": "ffa_lora", "r": 4}],
    "seed": 7,
}


def deep_update(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def write_config(tmp_path: Path):
    """write_config(updates) -> path of a YAML file holding TINY_EXPERIMENT updated with `updates`."""

    def _write(updates: dict[str, Any] | None = None, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(deep_update(TINY_EXPERIMENT, updates or {}), sort_keys=False))
        return path

    return _write
