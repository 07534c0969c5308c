"""A dataset with fewer than two classes in its train or test split is refused before training (it would
train to accuracy 1.0 without a word), with an error naming the file and data.dataset; `edgebench run` and
`edgebench partition` exit 2. (`load_splits` itself still reads such files: parsing tests use them.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgebench.cli import main
from edgebench.data.config import DataConfig
from edgebench.data.dataset import DataError
from edgebench.data.loaders import load_splits, require_two_classes


def _check(cfg: DataConfig) -> None:
    require_two_classes(cfg, load_splits(cfg))


def _write(path: Path, labels: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("text,label\n" + "".join(f"text {i} {y},{y}\n" for i, y in enumerate(labels)))
    return path


def test_one_class_in_train_is_refused_naming_the_train_file(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.csv", "aaaaaa")
    _write(tmp_path / "test.csv", "aaa")
    with pytest.raises(DataError) as exc:
        _check(DataConfig(dataset="csv", path=str(tmp_path)))
    assert str(exc.value) == (
        f"{train}: data.dataset 'csv': the train split has 1 class ('a'); classification needs at least two"
    )


def test_one_class_in_test_is_refused_naming_the_test_file(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", "ababab")
    test = _write(tmp_path / "test.csv", "bbb")
    with pytest.raises(DataError, match=re.escape(f"{test}: data.dataset 'csv': the test split has 1 class ('b')")):
        _check(DataConfig(dataset="csv", path=str(tmp_path)))


def test_one_class_in_a_single_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = _write(tmp_path / "all.csv", "x" * 20)
    with pytest.raises(DataError, match=re.escape(f"{path}: data.dataset 'csv': the train split has 1 class ('x')")):
        _check(DataConfig(dataset="csv", path=str(path)))


def test_subsampling_down_to_one_class_is_refused_and_says_so(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", "ab" * 10)
    test = _write(tmp_path / "test.csv", "ab" * 5)
    with pytest.raises(DataError) as exc:
        _check(DataConfig(dataset="csv", path=str(tmp_path), max_test_examples=1))
    assert str(exc.value).startswith(f"{test}: data.dataset 'csv': the test split has 1 class")
    assert "after subsampling to data.max_test_examples = 1" in str(exc.value)


def test_two_classes_are_enough(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", "ab" * 4)
    _write(tmp_path / "test.csv", "ab")
    splits = load_splits(DataConfig(dataset="csv", path=str(tmp_path)))
    assert len(splits.train) == 8 and len(splits.test) == 2


def test_run_refuses_a_one_class_dataset_with_exit_2(write_config, tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    train = _write(data / "train.csv", "s" * 40)
    _write(data / "test.csv", "s" * 8)
    config = write_config({"data": {"dataset": "csv", "path": str(data), "max_train_examples": None}})
    for command in (["run", str(config), "--out", str(tmp_path / "run"), "--quiet"], ["partition", str(config)]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"edgebench: error: {train}: data.dataset 'csv': the train split has 1 class ('s')")
        assert len(err.splitlines()) == 1
