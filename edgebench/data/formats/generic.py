"""Generic csv / tsv / jsonl files with named text and label columns."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.data.dataset import DataError
from edgebench.data.reading import (
    Loaded,
    Row,
    build,
    lines,
    read_columns,
    require_file,
    require_root,
    split_names,
    to_dataset,
)
from edgebench.data.sampling import stratified_holdout
from edgebench.data.text import normalize_whitespace

if TYPE_CHECKING:
    from edgebench.data.config import DataConfig


def raw_label(value: Any, path: Path | str, where: str, column: str) -> str:
    """A label value as text: integers (also 3.0) as digits, strings stripped."""
    if value is None or isinstance(value, (list, dict)):
        raise DataError(f"{path}: {where}: column {column!r} must be a string or integer label, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not text:
        raise DataError(f"{path}: {where}: empty label in column {column!r}")
    return text


def _is_int_label(value: str) -> bool:
    return value.isascii() and value.isdigit()


def label_index(train_rows: Sequence[Row], test_rows: Sequence[Row] = ()) -> tuple[list[str], dict[str, int]]:
    """Integer labels keep their ids 0..max of train (names "0".."max"); string labels are sorted names.

    Test spellings such as "01" map to their integer id; labels absent from train stay unmapped.
    """
    values = {r.label for r in train_rows}
    if values and all(_is_int_label(v) for v in values):
        top = max(int(v) for v in values)
        names = [str(i) for i in range(top + 1)]
        spelled = {r.label for r in [*train_rows, *test_rows] if _is_int_label(r.label) and int(r.label) <= top}
        return names, {n: i for i, n in enumerate(names)} | {v: int(v) for v in spelled}
    names = sorted(values)
    return names, {n: i for i, n in enumerate(names)}


def _read_delimited(path: Path, cfg: DataConfig, delimiter: str) -> list[Row]:
    cols = (cfg.text_column, cfg.label_column)
    return [
        Row(normalize_whitespace(text), raw_label(label, path, f"line {n}", cfg.label_column), f"line {n}")
        for n, (text, label) in read_columns(path, cols, delimiter)
    ]


def _read_jsonl(path: Path, cfg: DataConfig) -> list[Row]:
    rows = []
    for n, line in lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {n}: invalid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {n}: expected a JSON object, got {type(obj).__name__}")
        for column in (cfg.text_column, cfg.label_column):
            if column not in obj:
                raise DataError(f"{path}: line {n}: no column {column!r} (columns: {', '.join(map(str, obj))})")
        text = obj[cfg.text_column]
        text = "" if text is None else normalize_whitespace(str(text))
        rows.append(Row(text, raw_label(obj[cfg.label_column], path, f"line {n}", cfg.label_column), f"line {n}"))
    return rows


def _read(path: Path, cfg: DataConfig) -> list[Row]:
    if cfg.dataset == "jsonl":
        return _read_jsonl(path, cfg)
    return _read_delimited(path, cfg, "\t" if cfg.dataset == "tsv" else ",")


def load_generic(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """csv/tsv/jsonl: a folder with train/test files, or one file with a stratified hold-out."""
    root = require_root(cfg, root)
    notes: list[str] = []
    if root.is_file():
        if cfg.train_file or cfg.test_file:
            raise DataError(f"{root}: data.path is a file; train_file/test_file apply only to a directory")
        train_path, test_path = root, None
    else:
        # The format name is also the extension: train.csv, train.tsv, train.jsonl.
        train_name, test_name = split_names(cfg, (f"train.{cfg.dataset}", f"test.{cfg.dataset}"))
        train_path = require_file(root, train_name, f"{cfg.dataset} training file")
        test_path = root / test_name
        if not test_path.is_file():
            if cfg.test_file:
                raise DataError(f"{test_path}: {cfg.dataset} test file not found (expected a file here)")
            test_path = None
    train_rows = _read(train_path, cfg)
    test_rows = _read(test_path, cfg) if test_path is not None else []
    names, label_of = label_index(train_rows, test_rows)
    if test_path is not None:
        return build(train_rows, test_rows, names, (train_path, test_path), str(root), label_of, notes)
    full, dropped = to_dataset(train_rows, names, train_path, label_of)
    if dropped:
        notes.append(f"dropped {dropped} rows with empty text ({train_path})")
    train, test = stratified_holdout(full, cfg.test_fraction, seed)
    notes.append(f"test: held out {len(test)} of {len(full)} rows of {train_path} (stratified, seed {seed})")
    return Loaded(train=train, test=test, source=str(root), notes=notes)
