"""Stanford Sentiment Treebank: SST-2 (GLUE or SentEval layout) and SST-5 (SentEval layout)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.data.dataset import DataError
from edgebench.data.reading import Loaded, Row, build, csv_records, label_first_lines, split_files
from edgebench.data.text import normalize_whitespace

if TYPE_CHECKING:
    from edgebench.data.config import DataConfig

SST2_NAMES = ["negative", "positive"]
SST5_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]


def _read_sst2(path: Path) -> list[Row]:
    """GLUE `sentence<TAB>label` (with header) or SentEval's headerless form."""
    records = list(csv_records(path, delimiter="\t", quoting=csv.QUOTE_NONE))
    text_ix, label_ix = 0, 1
    if records and records[0][1][-1].strip() not in ("0", "1"):
        header = [f.strip().lower() for f in records[0][1]]
        if "sentence" not in header or "label" not in header:
            raise DataError(
                f"{path}: line 1: expected a header with columns sentence and label, got {header}"
                " (GLUE's test.tsv has no labels: evaluate on dev.tsv or sentiment-test via data.test_file)"
            )
        text_ix, label_ix = header.index("sentence"), header.index("label")
        records = records[1:]
    rows = []
    for line, fields in records:
        if len(fields) != 2:
            raise DataError(
                f"{path}: line {line}: expected 2 tab-separated columns (sentence, label), got {len(fields)}"
            )
        label = fields[label_ix].strip()
        if label not in ("0", "1"):
            raise DataError(f"{path}: line {line}: label must be 0 or 1, got {label!r}")
        rows.append(Row(normalize_whitespace(fields[text_ix]), label, f"line {line}"))
    return rows


def load_sst2(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """SST-2 (GLUE): train.tsv, evaluated on dev.tsv unless data.test_file says otherwise."""
    root, train_path, test_path = split_files(cfg, root, ("train.tsv", "dev.tsv"), "SST-2", "evaluation")
    train_rows, test_rows = _read_sst2(train_path), _read_sst2(test_path)
    return build(train_rows, test_rows, SST2_NAMES, (train_path, test_path), str(root), {"0": 0, "1": 1})


def _read_sst5(path: Path) -> list[Row]:
    rows = []
    for line, label, text in label_first_lines(path):
        if label not in ("0", "1", "2", "3", "4"):
            raise DataError(f"{path}: line {line}: expected '<label 0-4> <sentence>', got label {label!r}")
        rows.append(Row(normalize_whitespace(text), label, f"line {line}"))
    return rows


def load_sst5(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """SST-5 in SentEval's layout: `<label> <sentence>` per line."""
    root, train_path, test_path = split_files(cfg, root, ("sentiment-train", "sentiment-test"), "SST-5")
    train_rows, test_rows = _read_sst5(train_path), _read_sst5(test_path)
    label_of = {str(i): i for i in range(5)}
    return build(train_rows, test_rows, SST5_NAMES, (train_path, test_path), str(root), label_of)
