"""The majority-class rate the report draws comes from the split the run evaluated on."""

from __future__ import annotations

import json
from pathlib import Path

from edgebench.report.load import load_run
from tests.report.synth import write_run


def _rewrite_data(run: Path, **data: object) -> None:
    meta = json.loads((run / "run.json").read_text())
    meta["data"].update(data)
    (run / "run.json").write_text(json.dumps(meta))


def test_a_run_evaluated_on_validation_uses_the_validation_label_counts(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    _rewrite_data(run, eval_split="validation", validation_label_counts={"a": 9, "b": 1})
    rate, where = load_run(run).majority_class()
    assert rate == 0.9
    assert where.startswith("validation split")


def test_a_run_evaluated_on_test_keeps_the_test_label_counts(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run")
    _rewrite_data(run, eval_split="test", validation_label_counts={"a": 9, "b": 1})
    rate, where = load_run(run).majority_class()
    assert rate == 0.3
    assert where.startswith("test split")
