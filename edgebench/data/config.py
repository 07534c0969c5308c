"""The `data:` section of an experiment file."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DatasetFormat = Literal[
    "ag_news_sample",  # bundled derived sample (offline default, tests)
    "ag_news",
    "sst2",
    "sst5",
    "trec",
    "banking77",
    "20newsgroups",
    "csv",
    "tsv",
    "jsonl",
    "hf",  # Hugging Face `datasets` hub name (needs the package and network)
]


class DataConfig(BaseModel):
    """Which dataset to load and how to cut it down.

    `path` is a directory (or, for csv/tsv/jsonl, a directory or a single file) resolved relative
    to the experiment file. `train_file`/`test_file` override the per-format default file names
    inside `path`. When a dataset has no test split, `test_fraction` of train is held out
    (stratified, by `seed` of the experiment).
    """

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetFormat = "ag_news_sample"
    path: str | None = None
    train_file: str | None = None
    test_file: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    hf_name: str | None = None
    hf_subset: str | None = None
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    max_train_examples: int | None = Field(None, gt=0)
    max_test_examples: int | None = Field(None, gt=0)
    trec_fine_labels: bool = False
