"""The report on synthetic run directories: numbers against hand computations, figures, degradation."""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from edgebench.report import ReportResult, build_report
from edgebench.report.load import ReportInputError, load_run
from edgebench.report.metrics import method_metrics
from tests.report.helpers import assert_valid_png
from tests.report.synth import ESTIMATED, MEASURED, UNAVAILABLE, write_run

MIB = 2**20
ALL_FIGURES = (
    "accuracy_vs_round",
    "accuracy_vs_mb",
    "client_time_phases",
    "energy_per_round",
    "peak_memory",
    "rank_heatmap_fedara",
    "pruned_modules",
    "budget_vs_rank",
)


def _rows(result: ReportResult) -> dict[str, dict]:
    table = pd.read_csv(result.csv[0])
    return {r["series"]: r for r in table.to_dict("records")}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> ReportResult:
    """Two seeds of lora + fedara on one device; target 0.73 (lora reaches it in one seed only)."""
    base = tmp_path_factory.mktemp("seeds")
    runs = [write_run(base / "s0", seed=0), write_run(base / "s1", seed=1, acc_shift=0.02)]
    return build_report(runs, base / "report", target_accuracy=0.73)


def test_seed_aggregation_matches_hand_computation(seeds: ReportResult) -> None:
    rows = _rows(seeds)
    assert set(rows) == {"lora", "fedara"}
    lora, fedara = rows["lora"], rows["fedara"]
    assert lora["n_runs"] == fedara["n_runs"] == 2
    assert lora["final_accuracy"] == pytest.approx((0.72 + 0.74) / 2)
    assert lora["final_accuracy_std"] == pytest.approx(0.02 / math.sqrt(2))
    assert fedara["best_accuracy"] == pytest.approx((0.75 + 0.77) / 2)
    # bytes: lora 4 rounds x 2 clients x 1000 each way; fedara 2 clients x (800+600+400+400) each way.
    assert lora["bytes_down_total"] == lora["bytes_up_total"] == 8000
    assert fedara["bytes_down_total"] == fedara["bytes_up_total"] == 4400
    # phase means: download 0.1, train mean of (1.0, 2.0) and (0.8, 1.2), upload 0.2.
    assert lora["client_train_s_per_round"] == pytest.approx(1.5)
    assert fedara["client_train_s_per_round"] == pytest.approx(1.0)
    assert lora["client_download_s_per_round"] == pytest.approx(0.1)
    assert fedara["client_upload_s_per_round"] == pytest.approx(0.2)
    # energy: (10 + 14) J and (7 + 9) J per round over 4 rounds; net (6 + 8) and (4 + 5).
    assert lora["energy_total_j"] == pytest.approx(96.0) and lora["energy_per_round_j"] == pytest.approx(24.0)
    assert fedara["energy_total_j"] == pytest.approx(64.0) and fedara["energy_net_total_j"] == pytest.approx(36.0)
    assert lora["energy_net_per_round_j"] == pytest.approx(14.0)
    assert lora["energy_provenance"] == MEASURED and not lora["energy_estimated"]
    assert lora["peak_rss_bytes"] == 120 * MIB and fedara["peak_accel_bytes"] == 220 * MIB
    # ranks: fedara ends with m1, m2 pruned (rank 0), active rank 4 + 8.
    assert fedara["pruned_modules"] == 2 and fedara["modules"] == 4 and fedara["final_active_rank"] == 12
    assert lora["pruned_modules"] == 0 and lora["final_active_rank"] == 32


def test_rounds_to_target(seeds: ReportResult) -> None:
    rows = _rows(seeds)
    # lora: seed 0 tops out at 0.72 (never), seed 1 reaches 0.74 at round 4 after 4 x 4000 bytes.
    assert rows["lora"]["target_reached"] == "1/2"
    assert rows["lora"]["rounds_to_target"] == 4 and rows["lora"]["bytes_to_target"] == 16000
    # fedara: 0.74 / 0.76 at round 3 in both seeds, after 2 x 2 x (800 + 600 + 400) bytes.
    assert rows["fedara"]["target_reached"] == "2/2"
    assert rows["fedara"]["rounds_to_target"] == 3 and rows["fedara"]["bytes_to_target"] == 7200
    md = seeds.markdown.read_text()
    assert "| lora | edge-a | 73.0 | 1/2 runs | 4 |" in md and "| fedara | edge-a | 73.0 | yes | 3 ± 0 |" in md


def test_ratios_against_baseline(seeds: ReportResult) -> None:
    fedara = _rows(seeds)["fedara"]
    assert fedara["bytes_ratio"] == pytest.approx(8800 / 16000)
    assert fedara["train_time_ratio"] == pytest.approx(1.0 / 1.5)
    assert fedara["energy_ratio"] == pytest.approx(64 / 96)
    assert fedara["energy_net_ratio"] == pytest.approx(36 / 56)
    assert fedara["accuracy_delta_pts"] == pytest.approx(3.0)
    assert fedara["vs_baseline"] == "bytes 0.55x, train time 0.67x, energy 0.67x, net energy 0.64x, accuracy +3.0 pts"
    assert _rows(seeds)["lora"]["vs_baseline"] == "baseline"
    html = seeds.html.read_text()
    assert (
        "fedara vs lora (other baseline): better on bytes, train time, client window time, end-to-end round time, "
        "energy, accuracy." in html
    )
    # lora: final accuracy 72 / 74 %, last 30 % of rounds (rounds 3-4) 71 / 73 %: mean ± std in %
    assert "<td>4 ± 0</td><td>73.0 ± 1.4</td><td>73.0 ± 1.4</td><td>72.0 ± 1.4</td><td>yes</td>" in html


def test_figures_exist_and_are_valid_pngs(seeds: ReportResult) -> None:
    figures = seeds.out_dir / "figures"
    for name in ALL_FIGURES:
        png = next(figures.glob(f"{name}*.png"), None)
        assert png is not None, f"no figure {name}"
        assert_valid_png(png)
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
    assert not (figures / "device_comparison.png").exists()  # one device only
    assert sorted(seeds.png) == sorted(figures.glob("*.png"))
    md = seeds.markdown.read_text()
    for png in seeds.png:
        assert f"](figures/{png.name})" in md
    assert "not drawn for lora: ranks constant" in md


def test_html_is_self_contained(seeds: ReportResult) -> None:
    html = seeds.html.read_text()
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert html.count('src="data:image/png;base64,') == len(seeds.png)
    assert html.index('id="headline"') < html.index('id="summary"')


def test_default_baseline_is_the_baseline_method_wherever_it_is_listed(tmp_path: Path) -> None:
    result = build_report([write_run(tmp_path / "r", methods=("fedara", "lora"))], tmp_path / "report")
    assert _rows(result)["lora"]["vs_baseline"] == "baseline"
    md = result.markdown.read_text()
    assert "fedara vs lora (other baseline): better on bytes" in md
    assert "one seed: no accuracy verdict (+3.5 pts)" in md  # last 30 %: (74 + 75) / 2 - (70 + 72) / 2


def test_missing_energy_fixed_rank_only(tmp_path: Path) -> None:
    run = write_run(tmp_path / "bare", methods=("lora",), energy=None, net_energy=False, accel=False)
    result = build_report([run], tmp_path / "report")
    row = _rows(result)["lora"]
    assert math.isnan(row["energy_total_j"]) and math.isnan(row["energy_per_round_j"])
    assert math.isnan(row["peak_accel_bytes"]) and row["peak_rss_bytes"] == 120 * MIB
    with result.csv[0].open(newline="") as fh:  # unmeasured stays an empty cell, never 0
        cells = next(csv.DictReader(fh))
    assert cells["energy_total_j"] == "" and cells["peak_accel_bytes"] == ""
    names = {p.stem for p in result.png}
    assert names == {"accuracy_vs_round", "accuracy_vs_mb", "client_time_phases", "peak_memory"}
    md = result.markdown.read_text()
    skipped = md.split("## Missing data and skipped figures")[1].split("## Runs")[0]
    assert (
        f'Energy per round: skipped — no client window has an energy value; provenance: lora: "{UNAVAILABLE}"'
        in skipped
    )
    assert "Peak accelerator memory: skipped — not measured" in skipped and "unavailable: CUDA not in use" in skipped
    assert "Rank allocation heatmap: skipped — no method's ranks vary" in skipped
    assert "Pruned modules per round: skipped — no module was pruned" in skipped
    assert "Rank budget vs active rank: skipped — rounds.csv budget is empty for every method (lora)" in skipped
    assert "| lora | edge-a | 1 | complete | n/a | n/a | n/a | n/a | 0 | " + UNAVAILABLE in md


def test_partly_measured_energy_is_not_zero_filled(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r")
    path = run / "clients.csv"
    rows = list(csv.DictReader(path.open(newline="")))
    rows[1]["energy_j"] = ""  # lora, round 1, client 1 (14 J) not measured
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    data = load_run(run)
    m = method_metrics(*data.rows("lora"))
    assert m["energy_total_j"] == pytest.approx(96 - 14)
    assert m["energy_per_round_j"] == pytest.approx(24.0)  # round 1 has no round energy; rounds 2-4 do
    assert (m["energy_windows_measured"], m["energy_windows"]) == (7, 8)


def test_failed_run_alone_is_partial_and_marked(tmp_path: Path) -> None:
    run = write_run(tmp_path / "failed", status="failed: RuntimeError: boom", rounds_done={"fedara": 2})
    result = build_report([run], tmp_path / "report")
    rows = _rows(result)
    assert set(rows) == {"lora", "fedara (partial)"}
    partial = rows["fedara (partial)"]
    assert partial["data"] == "partial" and partial["rounds_completed"] == 2
    assert partial["bytes_total"] == 2 * 2 * (800 + 600)
    assert rows["lora"]["data"] == "complete"  # lora finished before the failure
    md = result.markdown.read_text()
    assert "failed: RuntimeError: boom" in md
    assert "fedara: 2/4 rounds, running" in md
    assert "fedara (partial): only unfinished runs (failed: 2 rounds)" in md
    assert "(PARTIAL DATA)" in md


def test_failed_run_next_to_finished_seed_and_empty_run(tmp_path: Path) -> None:
    runs = [
        write_run(tmp_path / "s0", seed=0),
        write_run(tmp_path / "failed", seed=1, status="failed: RuntimeError: boom", rounds_done={"fedara": 2}),
        write_run(tmp_path / "empty", seed=2, empty=True),
    ]
    result = build_report(runs, tmp_path / "report")
    rows = _rows(result)
    assert set(rows) == {"lora", "fedara"}
    assert rows["fedara"]["n_runs"] == 1 and rows["fedara"]["runs"] == "s0"
    assert rows["lora"]["n_runs"] == 2  # lora completed in the failed run too
    per_run = pd.read_csv(result.csv[1])
    excluded = per_run[~per_run["used_in_summary"]]
    assert list(zip(excluded["run"], excluded["method"], strict=True)) == [("failed", "fedara")]
    md = result.markdown.read_text()
    assert "failed: fedara did not finish (failed: RuntimeError: boom); its 2 completed rounds are not used" in md
    assert "empty: skipped (no rows in rounds.csv or clients.csv)" in md
    assert "| empty | complete | 2 | edge-a |" in md


def test_two_devices_side_by_side_with_estimated_energy(tmp_path: Path) -> None:
    runs = [
        write_run(tmp_path / "a", device="auto", hostname="edge-a"),
        write_run(tmp_path / "b", device="jetson-orin", hostname="orin1", energy="estimated", net_energy=False),
    ]
    result = build_report(runs, tmp_path / "report", baseline="lora")
    rows = _rows(result)
    assert set(rows) == {"lora @ edge-a", "fedara @ edge-a", "lora @ jetson-orin", "fedara @ jetson-orin"}
    jet = rows["fedara @ jetson-orin"]
    assert jet["energy_estimated"] and jet["energy_provenance"] == ESTIMATED
    assert jet["baseline_series"] == "lora @ jetson-orin"
    assert jet["vs_baseline"] == "bytes 0.55x, train time 0.67x, energy 0.67x (estimated), accuracy +3.0 pts"
    assert_valid_png(result.out_dir / "figures" / "device_comparison.png")
    md = result.markdown.read_text()
    assert "| 64.0* | 16.0* |" in md
    assert "Estimated energy (not measured): fedara @ jetson-orin, lora @ jetson-orin." in md
    headline = md.split("## Headline")[1].split("## Verdicts in detail")[0]
    assert "**fedara on jetson-orin, engine in-process, compared with one other method:**" in headline
    # one seed, 8 windows a side: energy separates completely (p < 0.05), train time overlaps (within noise)
    line = "fedara vs lora @ jetson-orin (other baseline): better on bytes, energy; no verdict on train time"
    assert line in headline
    assert "| energy per client window (ratio of medians) | 0.67x ✔ better (ESTIMATED) |" in headline


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ReportInputError):
        build_report([tmp_path / "missing"], tmp_path / "out")
    with pytest.raises(ReportInputError):
        build_report([write_run(tmp_path / "r")], tmp_path / "out", target_accuracy=73)


def test_cli_report(tmp_path: Path, monkeypatch, capsys) -> None:
    from edgebench.cli import main

    run = write_run(tmp_path / "myrun", methods=("lora",), energy=None, accel=False)
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(run), "--target-accuracy", "0.7", "--baseline", "lora"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == (tmp_path / "reports" / "myrun" / "report.html").resolve() and printed.is_file()
    assert main(["report", str(run), "--target-accuracy", "70"]) == 2
