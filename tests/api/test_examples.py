"""The examples and the documented snippet run as shown (tiny models, CPU)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

import edgebench
from edgebench.api import WINDOW_CSV_COLUMNS
from tests.api.conftest import load_example

ROOT = Path(__file__).resolve().parents[2]


def test_the_training_loop_example_writes_epochs_steps_and_evaluations(tmp_path: Path) -> None:
    out = tmp_path / "windows.csv"
    epochs = load_example("profile_training_loop").main(out, epochs=2)
    table = pd.read_csv(out)
    assert list(table.columns) == list(WINDOW_CSV_COLUMNS)
    counts = table["window"].value_counts().to_dict()
    assert counts == {"epoch-1/step": 16, "epoch-2/step": 16, "epoch-1": 1, "epoch-2": 1, "evaluate": 2}
    per_epoch = table[table["window"].str.fullmatch(r"epoch-\d")]
    assert per_epoch["num_steps"].tolist() == [16, 16] and per_epoch["train_loss"].notna().all()
    assert table["energy_provenance"].notna().all() and table["peak_rss_bytes"].notna().all()
    assert [e.window for e in epochs] == ["epoch-1", "epoch-2"] and all(e.closed for e in epochs)


def _first_python_block(path: Path) -> str:
    match = re.search(r"```python\n(.*?)```", path.read_text(), re.S)
    assert match, f"{path} has no python block"
    return match.group(1)


def test_the_api_snippet_is_under_15_lines_the_same_in_readme_and_docs_and_runs(tmp_path: Path, monkeypatch) -> None:
    snippet = _first_python_block(ROOT / "docs" / "api.md")
    assert len(snippet.strip().splitlines()) < 15
    assert snippet in (ROOT / "README.md").read_text()
    monkeypatch.chdir(tmp_path)
    calls: list[str] = []
    namespace = {
        "train": lambda *a: calls.append("train"),
        "evaluate": lambda *a: calls.append("evaluate"),
        "batches": [1, 2],
    }
    exec(compile(snippet, "docs/api.md", "exec"), namespace)
    assert "train" in calls and "evaluate" in calls
    assert isinstance(namespace["w"], edgebench.WindowMeasurement) and namespace["w"].closed
    assert (tmp_path / "windows.csv").is_file()
