"""AG News: the official CSVs (or the `label,content` form), and the bundled offline sample."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.data.dataset import DataError
from edgebench.data.reading import Loaded, Row, build, csv_records, lines, split_files
from edgebench.data.text import clean_ag_news_text

if TYPE_CHECKING:
    from edgebench.data.config import DataConfig

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "samples" / "ag_news"
"""The bundled AG News sample (`ag_news_sample`), shipped as package data."""

AG_NEWS_NAMES = ["World", "Sports", "Business", "Sci/Tech"]
DEFAULT_FILES = ("train.csv", "test.csv")


def _names(root: Path) -> list[str]:
    path = root / "classes.txt"
    if not path.is_file():
        return list(AG_NEWS_NAMES)
    names = [line.strip() for _, line in lines(path)]
    if not names:
        raise DataError(f"{path}: expected one class name per line, found none")
    return names


def _label(path: Path, line: int, value: str, num_classes: int) -> str:
    value = value.strip()
    if not value.isdigit() or not 1 <= int(value) <= num_classes:
        raise DataError(f"{path}: line {line}: class must be an integer 1-{num_classes}, got {value!r}")
    return str(int(value) - 1)


def _read(path: Path, num_classes: int) -> list[Row]:
    """Rows of an AG News file: headerless `class,title,description` or `label,content` with header."""
    records = list(csv_records(path))
    if not records:
        raise DataError(f"{path}: empty file (expected AG News rows class,title,description)")
    header = [f.strip().lower() for f in records[0][1]]
    two_column = len(header) == 2 and header[0] == "label"
    if two_column:
        records, width, expected = records[1:], 2, "2 columns (label,content)"
    else:
        width, expected = 3, "3 columns (class,title,description)"
    rows = []
    for line, fields in records:
        if len(fields) != width:
            raise DataError(f"{path}: line {line}: expected {expected}, got {len(fields)}")
        label = _label(path, line, fields[0], num_classes)
        raw = fields[1] if two_column else f"{fields[1]} {fields[2]}"
        rows.append(Row(clean_ag_news_text(raw), label, f"line {line}"))
    return rows


def load_ag_news(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """AG News: train/test CSV (official 3-column form or `label,content`), classes.txt names."""
    root, train_path, test_path = split_files(cfg, root, DEFAULT_FILES, "AG News")
    names = _names(root)
    label_of = {str(i): i for i in range(len(names))}
    train_rows = _read(train_path, len(names))
    test_rows = _read(test_path, len(names))
    return build(train_rows, test_rows, names, (train_path, test_path), str(root), label_of)


def load_ag_news_sample(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """The bundled AG News sample (3,200 train / 1,000 test), or an AG News folder if `path` is set."""
    loaded = load_ag_news(cfg, root if root is not None else SAMPLE_DIR, seed)
    if root is None:
        loaded.notes.append(f"bundled AG News sample, non-commercial research use; see {SAMPLE_DIR / 'NOTICE.md'}")
    return loaded
