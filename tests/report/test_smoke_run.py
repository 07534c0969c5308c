"""The report on a real run directory written by the in-process engine (tiny model, lora + ffa_lora)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.report import build_report
from tests.conftest import TINY_EXPERIMENT
from tests.report.helpers import assert_valid_png


def test_report_on_engine_run(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(TINY_EXPERIMENT))
    run_dir, _ = run_experiment(load_config(path), out=tmp_path / "run", progress=Progress(quiet=True))
    result = build_report([run_dir], tmp_path / "report", target_accuracy=0.2)

    summary = pd.read_csv(result.csv[0])
    assert list(summary["series"]) == ["lora", "ffa_lora"]
    assert (summary["rounds_completed"] == 3).all() and (summary["n_runs"] == 1).all()
    rounds = pd.read_csv(run_dir / "rounds.csv")
    for label, row in summary.set_index("series").iterrows():
        mine = rounds[rounds["method"] == label]
        assert row["bytes_up_total"] == mine["bytes_up"].sum()
        assert row["final_accuracy"] == mine["eval_accuracy"].iloc[-1]
    assert summary.set_index("series").loc["ffa_lora", "bytes_ratio"] < 1.0
    names = {p.stem for p in result.png}
    assert {"accuracy_vs_round", "accuracy_vs_mb", "client_time_phases", "peak_memory"} <= names
    for png in result.png:
        assert_valid_png(png)
    md = result.markdown.read_text()
    clients = pd.read_csv(run_dir / "clients.csv")
    if clients["energy_provenance"].str.startswith("estimated").all():
        assert "Energy per round: skipped" not in md
        assert "estimated" in md  # every estimated figure is labelled as such
    assert "Rank budget vs active rank: skipped" in md
    assert result.html.read_text().count("data:image/png;base64,") == len(result.png)
