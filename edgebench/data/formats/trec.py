"""TREC question classification (`COARSE:fine question` lines, latin-1)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.data.dataset import DataError
from edgebench.data.reading import Loaded, Row, build, label_first_lines, split_files
from edgebench.data.text import normalize_whitespace

if TYPE_CHECKING:
    from edgebench.data.config import DataConfig

TREC_COARSE_NAMES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _read(path: Path, fine: bool) -> list[Row]:
    """`COARSE:fine question` lines (latin-1); the label is the coarse part or the whole tag."""
    rows = []
    for line, tag, text in label_first_lines(path, encoding="latin-1"):
        coarse, colon, detail = tag.partition(":")
        if not colon or not detail or coarse not in TREC_COARSE_NAMES:
            raise DataError(f"{path}: line {line}: expected '<COARSE>:<fine> <question>', got {tag!r}")
        rows.append(Row(normalize_whitespace(text), tag if fine else coarse, f"line {line}"))
    return rows


def load_trec(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """TREC question classification: 6 coarse classes, or the fine `COARSE:fine` tags seen in train."""
    root, train_path, test_path = split_files(cfg, root, ("train_5500.label", "TREC_10.label"), "TREC")
    fine = cfg.trec_fine_labels
    train_rows, test_rows = _read(train_path, fine), _read(test_path, fine)
    names = sorted({r.label for r in train_rows}) if fine else list(TREC_COARSE_NAMES)
    return build(train_rows, test_rows, names, (train_path, test_path), str(root))
