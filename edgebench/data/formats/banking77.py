"""Banking77: `text,category` CSVs, label order from categories.json when present."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.data.dataset import DataError
from edgebench.data.reading import Loaded, Row, build, read_columns, read_text, split_files
from edgebench.data.text import normalize_whitespace

if TYPE_CHECKING:
    from edgebench.data.config import DataConfig


def _rows(path: Path) -> list[Row]:
    return [
        Row(normalize_whitespace(t), c.strip(), f"line {n}") for n, (t, c) in read_columns(path, ("text", "category"))
    ]


def _category_names(path: Path) -> list[str]:
    """The JSON list of category names in `path` (categories.json), in label order."""
    try:
        names = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc})") from exc
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{path}: expected a JSON list of category names")
    if len(set(names)) != len(names):
        raise DataError(f"{path}: category names are not unique")
    return names


def load_banking77(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """Banking77: `text,category` CSVs; label order from categories.json, else sorted train categories."""
    root, train_path, test_path = split_files(cfg, root, ("train.csv", "test.csv"), "Banking77")
    train_rows, test_rows = _rows(train_path), _rows(test_path)
    names_path = root / "categories.json"
    names = _category_names(names_path) if names_path.is_file() else sorted({r.label for r in train_rows})
    return build(train_rows, test_rows, names, (train_path, test_path), str(root))
