"""The one list of dataset formats: name, loader, whether `data.path` is required, description.

`DataConfig` takes its allowed `data.dataset` values and its "path required" check from here, and
`load_splits` its loader; a new format is one entry below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.data.formats import agnews, banking77, generic, hf, newsgroups, sst, trec
from edgebench.data.reading import Loaded

if TYPE_CHECKING:  # DataConfig imports this module for the dataset names
    from edgebench.data.config import DataConfig

Loader = Callable[["DataConfig", Path | None, int], Loaded]
"""(data config, resolved `data.path` or None, seed) -> both splits before subsampling."""


@dataclass(frozen=True)
class DatasetSpec:
    """One `data.dataset` value."""

    name: str
    loader: Loader
    needs_path: bool
    description: str


_SPECS = (
    DatasetSpec("ag_news_sample", agnews.load_ag_news_sample, False, "bundled AG News sample (offline default)"),
    DatasetSpec("ag_news", agnews.load_ag_news, True, "AG News train/test CSVs, 4 topics"),
    DatasetSpec("sst2", sst.load_sst2, True, "SST-2 binary sentiment (GLUE or SentEval files)"),
    DatasetSpec("sst5", sst.load_sst5, True, "SST-5 five-way sentiment (SentEval files)"),
    DatasetSpec("trec", trec.load_trec, True, "TREC questions, 6 coarse or the fine classes"),
    DatasetSpec("banking77", banking77.load_banking77, True, "Banking77 intents, 77 classes"),
    DatasetSpec("20newsgroups", newsgroups.load_20newsgroups, True, "20 Newsgroups bydate folders, 20 groups"),
    DatasetSpec("csv", generic.load_generic, True, "CSV file(s) with named text and label columns"),
    DatasetSpec("tsv", generic.load_generic, True, "TSV file(s) with named text and label columns"),
    DatasetSpec("jsonl", generic.load_generic, True, "JSON-lines file(s) with named text and label keys"),
    DatasetSpec("hf", hf.load_hf, False, "a Hugging Face hub dataset (needs `datasets` and network)"),
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}
"""Every dataset format by name, in the order error messages list them."""
