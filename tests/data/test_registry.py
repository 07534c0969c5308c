"""The dataset registry is the one list of formats: the config and the loader both take theirs from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from edgebench.config import ConfigError, load_config
from edgebench.data.config import DataConfig
from edgebench.data.loaders import load_splits
from edgebench.data.reading import Loaded
from edgebench.data.registry import DATASETS
from edgebench.data.sampling import stratified_holdout

NEEDS_PATH = [name for name, spec in DATASETS.items() if spec.needs_path]


def _section(name: str) -> dict[str, str]:
    """A `data:` section that is valid for dataset `name`."""
    section = {"dataset": name}
    if DATASETS[name].needs_path:
        section["path"] = "somewhere"
    if name == "hf":
        section["hf_name"] = "ag_news"
    return section


def test_registry_entries_are_complete() -> None:
    assert not DATASETS[DataConfig().dataset].needs_path  # the default runs offline, with no path
    for name, spec in DATASETS.items():
        assert spec.name == name and callable(spec.loader)
        assert spec.description and "\n" not in spec.description


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_registered_dataset_is_accepted(write_config, name: str) -> None:
    assert load_config(write_config({"data": _section(name)})).data.dataset == name


@pytest.mark.parametrize("name", NEEDS_PATH)
def test_needs_path_datasets_require_a_path(write_config, name: str) -> None:
    message = f"required for data.dataset {name!r} (a directory or file)"
    with pytest.raises(ValidationError) as err:
        DataConfig(dataset=name)
    assert [(e["loc"], e["msg"]) for e in err.value.errors()] == [(("path",), message)]
    path = write_config({"data": {"dataset": name}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: data.path: {message}")


def test_hf_requires_a_hub_name() -> None:
    with pytest.raises(ValidationError) as err:
        DataConfig(dataset="hf")
    assert [(e["loc"], e["msg"]) for e in err.value.errors()] == [(("hf_name",), "required when data.dataset is 'hf'")]


def test_unregistered_dataset_is_rejected_listing_the_registered_ones(write_config) -> None:
    names = [repr(name) for name in DATASETS]
    expected = f"{', '.join(names[:-1])} or {names[-1]}"
    path = write_config({"data": {"dataset": "imdb"}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: data.dataset: expected {expected} (got 'imdb')"


def test_load_splits_calls_the_registered_loader(monkeypatch, tmp_path: Path) -> None:
    calls = []

    def fake_loader(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
        calls.append((cfg.dataset, root, seed))
        sample = load_splits(DataConfig())
        train, test = stratified_holdout(sample.test, 0.5, seed)
        return Loaded(train=train, test=test, source="fake", notes=[])

    monkeypatch.setitem(DATASETS, "csv", dataclasses.replace(DATASETS["csv"], loader=fake_loader))
    splits = load_splits(DataConfig(dataset="csv", path="x"), base_dir=tmp_path, seed=3)
    assert calls == [("csv", tmp_path / "x", 3)] and splits.source == "fake"
