"""data.validation_fraction: a stratified, seeded validation split carved out of train, evaluated instead of test.

Tuning (e.g. learning rates, benchmarks/lr_tuning.py) must never look at the test set: clients do not
train on the validation rows, the global model is evaluated on them, and run.json says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from edgebench.config import load_config
from edgebench.data.config import DataConfig
from edgebench.data.dataset import DataError
from edgebench.data.loaders import label_counts, load_splits, require_two_classes
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress


def test_validation_rows_are_a_stratified_seeded_part_of_train_and_the_test_split_is_untouched() -> None:
    plain = load_splits(DataConfig(), seed=3)
    cfg = DataConfig(validation_fraction=0.1)
    split, again = load_splits(cfg, seed=3), load_splits(cfg, seed=3)
    assert plain.validation is None and plain.eval_split == "test" and plain.evaluation is plain.test

    assert split.eval_split == "validation" and split.evaluation is split.validation
    assert label_counts(split.validation) == dict.fromkeys(plain.train.label_names, 80)  # 10 % of 800 per class
    assert label_counts(split.train) == dict.fromkeys(plain.train.label_names, 720)
    assert not set(split.train.texts) & set(split.validation.texts)
    assert sorted(split.train.texts + split.validation.texts) == sorted(plain.train.texts)
    assert split.test.texts == plain.test.texts  # never used for tuning, never changed
    assert split.validation.texts == again.validation.texts  # deterministic in the seed ...
    assert load_splits(cfg, seed=4).validation.texts != split.validation.texts  # ... and depends on it
    assert any("validation: 320 of 3200 train rows held out" in n for n in split.notes)


def test_validation_is_carved_after_train_subsampling() -> None:
    split = load_splits(DataConfig(max_train_examples=400, validation_fraction=0.25), seed=0)
    assert (len(split.train), len(split.validation)) == (300, 100)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_the_fraction_must_lie_strictly_between_0_and_1(fraction: float) -> None:
    with pytest.raises(ValidationError, match="validation_fraction"):
        DataConfig(validation_fraction=fraction)


def test_a_validation_split_with_one_class_is_refused_naming_it(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"a{i},a\n" for i in range(10)) + "b0,b\n")
    (tmp_path / "test.csv").write_text("text,label\nx,a\ny,b\n")
    cfg = DataConfig(dataset="csv", path=str(tmp_path), validation_fraction=0.2)
    splits = load_splits(cfg)
    assert label_counts(splits.validation) == {"a": 2, "b": 0}  # a class of one row stays in train
    with pytest.raises(DataError, match="the validation split has 1 class"):
        require_two_classes(cfg, splits)


def test_a_run_evaluates_on_the_validation_split_and_says_so(write_config, tmp_path: Path) -> None:
    updates = {
        "data": {"max_train_examples": 200, "validation_fraction": 0.2},
        "federation": {"rounds": 1},
        "methods": [{"method": "lora", "r": 2}],
    }
    run_dir, _ = run_experiment(load_config(write_config(updates)), out=tmp_path / "val", progress=Progress(quiet=True))
    data = json.loads((run_dir / "run.json").read_text())["data"]
    assert data["eval_split"] == "validation"
    assert (data["train_examples"], data["validation_examples"]) == (160, 40)
    assert sum(data["validation_label_counts"].values()) == 40
    rounds = pd.read_csv(run_dir / "rounds.csv")
    assert list(rounds["eval_examples"]) == [40]  # not the 80 test rows
    partition = pd.read_csv(run_dir / "partition.csv")
    assert partition["num_examples"].sum() == 160  # clients never hold a validation row

    plain = {**updates, "data": {"max_train_examples": 200}}
    run_dir, _ = run_experiment(load_config(write_config(plain)), out=tmp_path / "test", progress=Progress(quiet=True))
    data = json.loads((run_dir / "run.json").read_text())["data"]
    assert data["eval_split"] == "test" and "validation_examples" not in data
    assert list(pd.read_csv(run_dir / "rounds.csv")["eval_examples"]) == [80]
