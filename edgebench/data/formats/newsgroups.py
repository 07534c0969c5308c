"""20 Newsgroups, bydate layout: one message per file, one folder per newsgroup."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.data.dataset import DataError
from edgebench.data.reading import Loaded, Row, build, read_text, require_dir, require_subdir, split_names
from edgebench.data.text import clean_newsgroup_message

if TYPE_CHECKING:
    from edgebench.data.config import DataConfig


def _group_dirs(split_dir: Path) -> dict[str, Path]:
    groups = {p.name: p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if not groups:
        raise DataError(f"{split_dir}: expected one sub-directory per newsgroup, found none")
    return groups


def _read(split_dir: Path, groups: dict[str, Path]) -> list[Row]:
    rows = []
    for name in sorted(groups):
        for path in sorted(p for p in groups[name].iterdir() if p.is_file() and not p.name.startswith(".")):
            text = clean_newsgroup_message(read_text(path, "utf-8", errors="replace"))
            rows.append(Row(text, name, str(path.relative_to(split_dir))))
    return rows


def load_20newsgroups(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """20 Newsgroups bydate: one message per file, label = folder; headers/footers/quotes stripped."""
    root = require_dir(cfg, root)
    train_name, test_name = split_names(cfg, ("20news-bydate-train", "20news-bydate-test"))
    train_dir = require_subdir(root, train_name, "20 Newsgroups training folder")
    test_dir = require_subdir(root, test_name, "20 Newsgroups test folder")
    train_groups, test_groups = _group_dirs(train_dir), _group_dirs(test_dir)
    if set(train_groups) != set(test_groups):
        diff = sorted(set(train_groups) ^ set(test_groups))
        raise DataError(f"{test_dir}: newsgroup folders differ from {train_dir}: {', '.join(diff)}")
    names = sorted(train_groups)
    notes = ["20 Newsgroups: headers, signatures and quoted replies removed (as scikit-learn's remove=)"]
    return build(
        _read(train_dir, train_groups),
        _read(test_dir, test_groups),
        names,
        (train_dir, test_dir),
        str(root),
        notes=notes,
    )
