"""The `data:` section of an experiment file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from edgebench.data.registry import DATASETS

DatasetFormat = Literal[tuple(DATASETS)]  # type: ignore[valid-type]
"""The registered dataset names (see `edgebench.data.registry`)."""


class DataConfig(BaseModel):
    """Which dataset to load and how to cut it down.

    `path` is a directory (or, for csv/tsv/jsonl, a directory or a single file) resolved relative
    to the experiment file; formats registered with `needs_path` require it. `train_file`/`test_file`
    override the per-format default file names inside `path`. When a dataset has no test split,
    `test_fraction` of train is held out (stratified, by `seed` of the experiment).

    `validation_fraction` (default: none) holds out that fraction of the (subsampled) train split, per
    class and by `seed`, as a validation split: clients never train on it and the global model is
    evaluated on it instead of the test split (for tuning, e.g. learning rates, without touching the test
    set); run.json `data.eval_split` says which split a run evaluated on.
    """

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetFormat = Field(
        "ag_news_sample", description="; ".join(f"{s.name}: {s.description}" for s in DATASETS.values())
    )
    path: str | None = Field(None, validate_default=True)
    train_file: str | None = None
    test_file: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    hf_name: str | None = Field(None, validate_default=True)
    hf_subset: str | None = None
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_train_examples: int | None = Field(None, gt=0)
    max_test_examples: int | None = Field(None, gt=0)
    validation_fraction: float | None = Field(None, gt=0.0, lt=1.0)
    trec_fine_labels: bool = False

    # Checks that depend on `dataset`: it is declared first, so it is in `info.data` unless it is invalid.
    @field_validator("path")
    @classmethod
    def _path_when_needed(cls, value: str | None, info: ValidationInfo) -> str | None:
        dataset = info.data.get("dataset")
        if not value and dataset in DATASETS and DATASETS[dataset].needs_path:
            raise PydanticCustomError("cross_field", f"required for data.dataset {dataset!r} (a directory or file)")
        return value

    @field_validator("hf_name")
    @classmethod
    def _hf_name_for_hf(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("dataset") == "hf" and not value:
            raise PydanticCustomError("cross_field", "required when data.dataset is 'hf'")
        return value
