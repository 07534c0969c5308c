"""The report on a real run directory written by the in-process engine (tiny model, lora + ffa_lora).

The energy meter is fixed by the experiment file, so what the report must say about energy does not
depend on the machine running the test: one case with the CPU-time estimate (available everywhere),
one with the `replay` power meter (measured samples from a trace, read by the sampler process).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from edgebench.config import load_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.report import build_report
from tests.conftest import TINY_EXPERIMENT, deep_update
from tests.report.helpers import assert_valid_png


@pytest.mark.parametrize(
    ("meter", "provenance", "energy_note"),
    [
        ("estimate", "estimated:", "Estimated energy (not measured): ffa_lora, lora."),
        ("replay", "measured-sampled:", "No estimated energy: every energy value shown here is measured"),
    ],
    ids=["estimated-energy", "measured-energy"],
)
def test_report_on_engine_run(tmp_path: Path, meter: str, provenance: str, energy_note: str) -> None:
    profiler: dict = {"meters": [meter]}
    if meter == "replay":
        trace = tmp_path / "trace.csv"
        trace.write_text("seconds,watts\n0,5.0\n1,6.0\n2,5.0\n")
        profiler["replay_trace"] = str(trace)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(deep_update(TINY_EXPERIMENT, {"device": {"name": "x86-cpu"}, "profiler": profiler})))
    run_dir, _ = run_experiment(load_config(path), out=tmp_path / "run", progress=Progress(quiet=True))
    clients = pd.read_csv(run_dir / "clients.csv")
    assert clients["energy_provenance"].str.startswith(provenance).all(), clients["energy_provenance"].unique()

    result = build_report([run_dir], tmp_path / "report", target_accuracy=0.2)

    summary = pd.read_csv(result.csv[0])
    assert list(summary["series"]) == ["lora", "ffa_lora"]
    assert (summary["rounds_completed"] == 3).all() and (summary["n_runs"] == 1).all()
    rounds = pd.read_csv(run_dir / "rounds.csv")
    for label, row in summary.set_index("series").iterrows():
        mine = rounds[rounds["method"] == label]
        assert row["bytes_up_total"] == mine["bytes_up"].sum()
        assert row["final_accuracy"] == mine["eval_accuracy"].iloc[-1]
        assert row["energy_total_j"] == pytest.approx(clients.loc[clients["method"] == label, "energy_j"].sum())
        assert row["energy_estimated"] == (provenance == "estimated:")
    assert summary.set_index("series").loc["ffa_lora", "bytes_ratio"] < 1.0

    names = {p.stem for p in result.png}
    assert {"accuracy_vs_round", "accuracy_vs_mb", "client_time_phases", "energy_per_round", "peak_memory"} <= names
    for png in result.png:
        assert_valid_png(png)
    md = result.markdown.read_text()
    assert "Energy per round: skipped" not in md
    assert energy_note in md  # estimated energy is labelled as such; measured energy is not
    assert "Rank budget vs active rank: skipped" in md
    assert result.html.read_text().count("data:image/png;base64,") == len(result.png)


SMOKE = Path(__file__).resolve().parents[2] / "runners" / "configs" / "smoke.yaml"


def test_smoke_config_report_gives_no_accuracy_verdict(tmp_path: Path, capsys) -> None:
    """runners/configs/smoke.yaml as shipped (one seed, every method at chance) through `edgebench run --report`."""
    from edgebench.cli import main

    assert (
        main(["run", str(SMOKE), "--out", str(tmp_path / "run"), "--report", str(tmp_path / "report"), "--quiet"]) == 0
    )
    out = capsys.readouterr().out
    assert "None" not in out and "MB down + up" in out and " bytes" not in out  # formatted on the terminal
    md = (tmp_path / "report" / "report.md").read_text()
    headline = md.split("## Headline")[1].split("## Verdicts in detail")[0]
    others = ("lora", "ffa_lora", "fedadalora")
    for other in others:
        assert f"- fedara vs {other} (" in headline  # each baseline stated separately
    accuracy = next(line for line in headline.splitlines() if line.startswith("| accuracy, last 30 % of rounds"))
    assert accuracy.count("no accuracy verdict") == len(others)
    assert "better" not in accuracy and "worse" not in accuracy and "no clear difference" not in accuracy
    for line in headline.splitlines():
        if line.startswith("- fedara vs "):
            parts = line.split(": ", 1)[1].rstrip(".").split("; ")
            assert all("accuracy" not in p for p in parts if p.startswith(("better on", "worse on", "tie on")))
            assert any(p.startswith("no verdict on") and "accuracy (" in p for p in parts)
