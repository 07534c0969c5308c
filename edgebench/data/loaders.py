"""Loading a dataset: the registered format's loader, then optional stratified subsampling.

`load_splits` resolves `data.path`, calls the loader that `edgebench.data.registry` lists for
`data.dataset`, then applies the seeded subsampling (`max_train_examples` / `max_test_examples`) and
holds out the validation split (`validation_fraction`) from what is left of train.
Every problem with a file is raised as a `DataError` whose message starts with the path.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from edgebench.data.config import DataConfig
from edgebench.data.dataset import DataError, DatasetSplits, TextDataset
from edgebench.data.registry import DATASETS
from edgebench.data.sampling import stratified_holdout, stratified_subsample


def resolve_data_path(cfg: DataConfig, base_dir: Path | None = None) -> Path | None:
    """`cfg.path` with `~` expanded, relative paths taken from `base_dir` (default: the working directory)."""
    if cfg.path is None:
        return None
    path = Path(cfg.path).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return path


def load_splits(cfg: DataConfig, *, base_dir: Path | None = None, seed: int = 0) -> DatasetSplits:
    """Load the train and test splits that `cfg` describes, subsampled (stratified, seeded) if asked, and the
    validation split held out of train when `cfg.validation_fraction` is set (stratified, seeded)."""
    spec = DATASETS.get(cfg.dataset)
    if spec is None:
        raise DataError(f"data.dataset: unknown format {cfg.dataset!r} (known: {', '.join(DATASETS)})")
    loaded = spec.loader(cfg, resolve_data_path(cfg, base_dir), seed)
    train, test, notes = loaded.train, loaded.test, list(loaded.notes)
    if cfg.max_train_examples is not None and cfg.max_train_examples < len(train):
        notes.append(f"train: stratified subsample {len(train)} -> {cfg.max_train_examples} (seed {seed})")
        train = stratified_subsample(train, cfg.max_train_examples, seed, "train")
    if cfg.max_test_examples is not None and cfg.max_test_examples < len(test):
        notes.append(f"test: stratified subsample {len(test)} -> {cfg.max_test_examples} (seed {seed})")
        test = stratified_subsample(test, cfg.max_test_examples, seed, "test")
    validation = None
    if cfg.validation_fraction is not None:
        rows = len(train)
        train, validation = stratified_holdout(train, cfg.validation_fraction, seed, "validation")
        notes.append(
            f"validation: {len(validation)} of {rows} train rows held out (stratified, fraction "
            f"{cfg.validation_fraction:g}, seed {seed}); clients train on the other {len(train)}, the global "
            "model is evaluated on the validation rows, not on the test split"
        )
    name = f"hf:{cfg.hf_name}" if cfg.dataset == "hf" else cfg.dataset
    return DatasetSplits(
        train=train,
        test=test,
        name=name,
        source=loaded.source,
        notes=notes,
        files=loaded.files,
        validation=validation,
    )


def require_two_classes(cfg: DataConfig, splits: DatasetSplits) -> None:
    """DataError naming the split's file and data.dataset when the train, the test or the validation split
    has fewer than two classes (a model trained on one class reaches accuracy 1.0 and means nothing)."""
    files = splits.files or (splits.source, splits.source)
    checks = [("train", splits.train, files[0]), ("test", splits.test, files[1])]
    if splits.validation is not None:
        checks.append(("validation", splits.validation, files[0]))
    for split, dataset, source in checks:
        present = sorted({dataset.label_names[y] for y in dataset.labels})
        if len(present) >= 2:
            continue
        classes = f"{len(present)} class{'' if len(present) == 1 else 'es'} ({', '.join(map(repr, present)) or 'none'})"
        subsampled = ""
        if any(note.startswith(f"{split}: stratified subsample") for note in splits.notes):
            subsampled = f" after subsampling to data.max_{split}_examples = {getattr(cfg, f'max_{split}_examples')}"
        raise DataError(
            f"{source}: data.dataset {cfg.dataset!r}: the {split} split has {classes}{subsampled}; "
            "classification needs at least two"
        )


def label_counts(dataset: TextDataset) -> dict[str, int]:
    """Rows per label name, in label order (handy for reports and tests)."""
    counts = Counter(dataset.labels)
    return {name: counts.get(i, 0) for i, name in enumerate(dataset.label_names)}
