"""The report names the engine of every run, shows dropouts and partial rounds, and gives no time or energy
verdict across engines when either side was measured on a contended machine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from edgebench.report import build_report
from tests.report.synth import write_run

FLOWER = "flower-deployment"


def _summary(result) -> dict[str, dict]:
    return {r["series"]: r for r in pd.read_csv(result.csv[0]).to_dict("records")}


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}")[1].split("\n## ")[0]


def test_a_flower_run_with_a_dropout_is_not_shown_as_complete(tmp_path: Path) -> None:
    run = write_run(tmp_path / "flower", engine=FLOWER, statuses={("lora", 2, 1): "dropout: SuperNode 7 went offline"})
    result = build_report([run], tmp_path / "report", baseline="lora")
    md = result.markdown.read_text()
    runs = _section(md, "Runs")
    assert f"| {FLOWER} |" in runs
    assert "lora: 4/4 rounds, complete (1 dropout, 0 rejected of 8 sampled clients; partial round: 2)" in runs
    assert "fedara: 4/4 rounds, complete |" in runs or "fedara: 4/4 rounds, complete" in runs.split("lora")[0]
    rows = _summary(result)
    assert rows["lora"]["engine"] == FLOWER and rows["lora"]["clients_dropped"] == 1
    assert rows["fedara"]["clients_dropped"] == 0
    assert "| 1 of 8 (round 2) |" in _section(md, "Summary")
    headline = _section(md, "Headline")
    assert f"engine {FLOWER}" in headline
    assert (
        "Dropouts and rejected replies: lora: 1 dropout, 0 rejected of 8 sampled clients; partial round: 2." in headline
    )


def _cross_engine_runs(tmp_path: Path, contended: bool) -> list[Path]:
    """LoRA and FedARA in-process, FedARA alone on Flower (two clients sharing one machine: contended)."""
    flags = {("fedara", r, c): "contended;train:contended" for r in (1, 2) for c in (0, 1)} if contended else None
    return [
        write_run(tmp_path / "inproc"),
        write_run(tmp_path / "flower", engine=FLOWER, methods=("fedara",), flags=flags),
    ]


def test_no_time_or_energy_verdict_across_engines_when_contended(tmp_path: Path) -> None:
    result = build_report(_cross_engine_runs(tmp_path, contended=True), tmp_path / "report", baseline="lora")
    rows = _summary(result)
    assert set(rows) == {"lora [in-process]", "fedara [in-process]", f"fedara [{FLOWER}]"}
    # Ratios to the baseline stay within one engine: the Flower series has no LoRA next to it.
    assert rows[f"fedara [{FLOWER}]"]["vs_baseline"].startswith("no baseline 'lora'")
    assert rows["fedara [in-process]"]["baseline_series"] == "lora [in-process]"
    headline = _section(result.markdown.read_text(), "Headline")
    assert f"engines {FLOWER} and in-process" in headline
    across = f"fedara [{FLOWER}] vs lora [in-process] (other baseline): better on bytes; no verdict on train time "
    assert across + "(engines differ, windows contended)" in headline
    assert "engines differ, contended: no verdict" in headline  # the table cells
    assert "Across engines (" in headline
    # Within the in-process engine the same measures get their verdicts as usual.
    assert "fedara vs lora [in-process] (other baseline): better on bytes" in headline
    detail = _section(result.markdown.read_text(), "Verdicts in detail")
    assert "no verdict: engines differ and windows were contended" in detail


def test_uncontended_windows_are_compared_across_engines(tmp_path: Path) -> None:
    result = build_report(_cross_engine_runs(tmp_path, contended=False), tmp_path / "report", baseline="lora")
    headline = _section(result.markdown.read_text(), "Headline")
    assert "engines differ" not in headline.split("Across engines")[0]
    line = next(x for x in headline.splitlines() if x.startswith(f"- fedara [{FLOWER}] vs lora [in-process]"))
    assert "train time (engines differ" not in line and "window time" in line
