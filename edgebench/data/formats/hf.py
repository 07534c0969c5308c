"""Hugging Face hub datasets via `datasets.load_dataset` (needs the package and network access)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgebench.data.dataset import DataError
from edgebench.data.formats.generic import label_index, raw_label
from edgebench.data.reading import Loaded, Row, build, to_dataset
from edgebench.data.sampling import stratified_holdout
from edgebench.data.text import normalize_whitespace

if TYPE_CHECKING:
    from edgebench.data.config import DataConfig


def _split(dataset: Any, split: str, cfg: DataConfig, where: str) -> tuple[list[Any], list[Any]]:
    part = dataset[split]
    columns = list(part.column_names)
    for column in (cfg.text_column, cfg.label_column):
        if column not in columns:
            raise DataError(f"{where}[{split}]: no column {column!r} (columns: {', '.join(columns)})")
    return list(part[cfg.text_column]), list(part[cfg.label_column])


def load_hf(cfg: DataConfig, root: Path | None, seed: int) -> Loaded:
    """A Hugging Face hub dataset via `datasets.load_dataset(hf_name, hf_subset)`."""
    if not cfg.hf_name:
        raise DataError("data.hf_name is not set: dataset 'hf' needs a hub name such as 'ag_news'")
    where = f"hf:{cfg.hf_name}" + (f"/{cfg.hf_subset}" if cfg.hf_subset else "")
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DataError(
            f"{where}: the 'datasets' package is not installed; run `pip install datasets` "
            "(downloading from the Hugging Face hub also needs network access)"
        ) from exc
    try:
        dd = datasets.load_dataset(cfg.hf_name, cfg.hf_subset)
    except Exception as exc:  # network, missing dataset, bad subset: all reported the same way
        raise DataError(f"{where}: load_dataset failed (needs network access): {exc}") from exc
    splits = list(dd.keys())
    if "train" not in splits:
        raise DataError(f"{where}: no 'train' split (splits: {', '.join(splits)})")
    train_texts, train_labels = _split(dd, "train", cfg, where)
    feature = dd["train"].features.get(cfg.label_column)
    class_names = list(getattr(feature, "names", None) or [])
    notes: list[str] = []
    test_split = None
    for candidate in ("test", "validation"):
        if candidate in splits:
            labels = _split(dd, candidate, cfg, where)[1]
            if all(isinstance(y, int) and y < 0 for y in labels):
                notes.append(f"{where}: split {candidate!r} has hidden labels (-1); not used")
                continue
            test_split = candidate
            break

    def rows(texts: list[Any], labels: list[Any], split: str) -> list[Row]:
        return [
            Row(
                normalize_whitespace(str(t or "")),
                raw_label(y, f"{where}[{split}]", f"row {i}", cfg.label_column),
                f"row {i}",
            )
            for i, (t, y) in enumerate(zip(texts, labels, strict=True))
        ]

    train_rows = rows(train_texts, train_labels, "train")
    test_rows = rows(*_split(dd, test_split, cfg, where), test_split) if test_split else []
    if class_names:
        names, label_of = class_names, {str(i): i for i in range(len(class_names))}
    else:
        names, label_of = label_index(train_rows, test_rows)
    if test_split is None:
        full, _ = to_dataset(train_rows, names, f"{where}[train]", label_of)
        train, test = stratified_holdout(full, cfg.test_fraction, seed)
        notes.append(f"{where}: no labelled test split; held out {len(test)} of train (stratified, seed {seed})")
        return Loaded(train=train, test=test, source=where, notes=notes)
    notes.append(f"{where}: evaluating on split {test_split!r}")
    return build(train_rows, test_rows, names, (f"{where}[train]", f"{where}[{test_split}]"), where, label_of, notes)
