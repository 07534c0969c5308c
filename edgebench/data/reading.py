"""Helpers the format loaders share: reading files, locating split files, raw rows -> datasets.

Every problem with a file is raised as a `DataError` whose message starts with the path.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.data.dataset import DataError, TextDataset

if TYPE_CHECKING:  # DataConfig imports the registry, which imports the loaders
    from edgebench.data.config import DataConfig


@dataclass(frozen=True)
class Row:
    """One raw example: text, the label as written in the file, and where it came from."""

    text: str
    label: str
    where: str  # "line 12", or a file name for one-file-per-example formats


@dataclass
class Loaded:
    """What a format loader returns before subsampling."""

    train: TextDataset
    test: TextDataset
    source: str
    notes: list[str]
    #: Where the train and the test split came from (files), when the format knows; else `source` says.
    files: tuple[str, str] | None = None


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def read_text(path: Path, encoding: str = "utf-8-sig", errors: str = "strict") -> str:
    """The whole file as text; unreadable or undecodable files become a DataError."""
    try:
        return path.read_text(encoding=encoding, errors=errors)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid {encoding} text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({exc.strerror or exc})") from exc


def lines(path: Path, encoding: str = "utf-8-sig") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) for each non-blank line."""
    for number, line in enumerate(read_text(path, encoding).split("\n"), start=1):
        if line.strip():
            yield number, line.removesuffix("\r")


def label_first_lines(path: Path, encoding: str = "utf-8-sig") -> Iterator[tuple[int, str, str]]:
    """(line, label, text) for lines of the form `<label><space><text>`."""
    for line, content in lines(path, encoding):
        label, _, text = content.strip().partition(" ")
        yield line, label, text


def csv_records(path: Path, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL) -> Iterator[tuple[int, list[str]]]:
    """(start line, fields) for each non-empty CSV/TSV record."""
    if csv.field_size_limit() < 1 << 24:
        csv.field_size_limit(1 << 24)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter, quoting=quoting)
    start = 1
    try:
        for fields in reader:
            if fields and any(f.strip() for f in fields):
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from exc


def read_columns(path: Path, columns: Sequence[str], delimiter: str = ",") -> list[tuple[int, list[str]]]:
    """(line, values of `columns`) per record of a CSV/TSV file whose first record is a header."""
    records = list(csv_records(path, delimiter=delimiter))
    if not records:
        raise DataError(f"{path}: empty file (expected a header with columns {', '.join(columns)})")
    header = [f.strip() for f in records[0][1]]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: no column {missing[0]!r} (columns: {', '.join(header)})")
    where = [header.index(c) for c in columns]
    out = []
    for line, fields in records[1:]:
        if len(fields) != len(header):
            raise DataError(
                f"{path}: line {line}: expected {len(header)} columns ({','.join(header)}), got {len(fields)}"
            )
        out.append((line, [fields[i] for i in where]))
    return out


# --------------------------------------------------------------------------------------------
# Locating a format's files
# --------------------------------------------------------------------------------------------


def require_root(cfg: DataConfig, root: Path | None) -> Path:
    """`data.path` resolved, which must exist (a file or a directory)."""
    if root is None:
        raise DataError(f"data.path is not set: dataset {cfg.dataset!r} needs a directory")
    if not root.exists():
        raise DataError(f"{root}: data.path does not exist")
    return root


def require_dir(cfg: DataConfig, root: Path | None) -> Path:
    """`data.path` resolved, which must be an existing directory."""
    root = require_root(cfg, root)
    if not root.is_dir():
        raise DataError(f"{root}: expected a directory for dataset {cfg.dataset!r}, got a file")
    return root


def require_file(root: Path, name: str, what: str) -> Path:
    """`root / name`, which must be an existing file."""
    path = root / name
    if not path.is_file():
        raise DataError(f"{path}: {what} not found (expected a file here)")
    return path


def require_subdir(root: Path, name: str, what: str) -> Path:
    """`root / name`, which must be an existing directory."""
    path = root / name
    if not path.is_dir():
        raise DataError(f"{path}: {what} not found (expected a directory here)")
    return path


def split_names(cfg: DataConfig, defaults: tuple[str, str]) -> tuple[str, str]:
    """Train and test file names: the config's overrides, else the format's `defaults`."""
    return cfg.train_file or defaults[0], cfg.test_file or defaults[1]


def split_files(
    cfg: DataConfig, root: Path | None, defaults: tuple[str, str], title: str, test_role: str = "test"
) -> tuple[Path, Path, Path]:
    """(folder, train file, test file) of a format stored as two files in the `data.path` folder."""
    root = require_dir(cfg, root)
    train_name, test_name = split_names(cfg, defaults)
    train_path = require_file(root, train_name, f"{title} training file")
    test_path = require_file(root, test_name, f"{title} {test_role} file")
    return root, train_path, test_path


# --------------------------------------------------------------------------------------------
# Rows -> TextDataset
# --------------------------------------------------------------------------------------------


def to_dataset(
    rows: Sequence[Row], names: Sequence[str], path: Path | str, label_of: dict[str, int] | None = None
) -> tuple[TextDataset, int]:
    """Map raw labels to ids (`label_of`, default: position in `names`); drop empty texts.

    Returns the dataset and how many rows were dropped for empty text.
    """
    index = label_of if label_of is not None else {name: i for i, name in enumerate(names)}
    texts: list[str] = []
    labels: list[int] = []
    dropped = 0
    for row in rows:
        if row.label not in index:
            shown = ", ".join(list(index)[:12]) + (", ..." if len(index) > 12 else "")
            raise DataError(f"{path}: {row.where}: unknown label {row.label!r} (expected one of: {shown})")
        if not row.text:
            dropped += 1
            continue
        texts.append(row.text)
        labels.append(index[row.label])
    if not texts:
        raise DataError(f"{path}: no examples with non-empty text")
    return TextDataset(texts=texts, labels=labels, label_names=list(names)), dropped


def build(
    train_rows: Sequence[Row],
    test_rows: Sequence[Row],
    names: Sequence[str],
    paths: tuple[Path | str, Path | str],
    source: str,
    label_of: dict[str, int] | None = None,
    notes: list[str] | None = None,
) -> Loaded:
    """Both splits with the same label names, noting dropped empty rows."""
    notes = list(notes or [])
    train, dropped_train = to_dataset(train_rows, names, paths[0], label_of)
    test, dropped_test = to_dataset(test_rows, names, paths[1], label_of)
    for split, dropped, path in (("train", dropped_train, paths[0]), ("test", dropped_test, paths[1])):
        if dropped:
            notes.append(f"{split}: dropped {dropped} rows with empty text ({path})")
    return Loaded(train=train, test=test, source=source, notes=notes, files=(str(paths[0]), str(paths[1])))
