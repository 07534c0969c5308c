"""Engine-overhead, memory-scaling, profiler-overhead and bytes-floor benchmarks in smoke mode.

Each benchmark's figures are checked against the raw measurements it worked from (the run's CSV files,
the per-round timings), against byte counts known from the model's shapes, and for the properties its
docstring promises, not by running the benchmark's own formula again.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from benchmarks import bytes_floor, engine_overhead, memory_scaling, profiler_overhead

MIB = 2**20


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_engine_overhead_ratio_is_round_time_over_client_windows(tmp_path: Path, monkeypatch, capsys) -> None:
    raw = tmp_path / "raw"
    real_run_experiment = engine_overhead.run_experiment

    def keep_run_files(*args, **kwargs):  # the benchmark's run lives in a temporary directory: copy it out
        run_dir, summaries = real_run_experiment(*args, **kwargs)
        shutil.copytree(run_dir, raw)
        return run_dir, summaries

    monkeypatch.setattr(engine_overhead, "run_experiment", keep_run_files)
    assert engine_overhead.main(["--smoke", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)

    round_s = {(r["method"], int(r["round"])): float(r["round_s"]) for r in _csv_rows(raw / "rounds.csv")}
    windows: dict[tuple[str, int], float] = defaultdict(float)
    clients_per_round: dict[tuple[str, int], int] = defaultdict(int)
    for r in _csv_rows(raw / "clients.csv"):
        windows[(r["method"], int(r["round"]))] += float(r["total_s"])
        clients_per_round[(r["method"], int(r["round"]))] += 1
    # --smoke: 2 rounds with both of 2 clients, for lora and fedara
    assert set(round_s) == {("lora", 1), ("lora", 2), ("fedara", 1), ("fedara", 2)}
    assert set(clients_per_round.values()) == {2}

    assert {(row["method"], row["round"]) for row in data["rounds"]} == set(round_s)
    for row in data["rounds"]:
        key = (row["method"], row["round"])
        assert row["round_s"] == pytest.approx(round_s[key])
        assert row["client_windows_s"] == pytest.approx(windows[key])  # both clients' windows, not one
        assert row["ratio"] == pytest.approx(round_s[key] / windows[key])
        assert row["ratio"] >= 1.0  # clients run one after another inside the round

    ratios: dict[str, list[float]] = defaultdict(list)
    for row in data["rounds"]:
        ratios[row["method"]].append(row["ratio"])
    assert {s["method"] for s in data["summary"]} == {"lora", "fedara"}
    for s in data["summary"]:
        mine = ratios[s["method"]]
        assert s["count"] == 2
        assert (s["min"], s["max"]) == (pytest.approx(min(mine)), pytest.approx(max(mine)))
        assert s["min"] <= s["median"] <= s["max"]


# Floors for the bytes-floor smoke run, by hand from the default tiny-bert (2 layers, hidden 64) adapted on
# query and value (4 Linear modules of 64 x 64), with AG News's 4 labels: the head is 64 x 4 + 4 = 260
# values, and every value is a 4-byte float32.
HEAD = 64 * 4 + 4
LORA_R8_FLOOR = 4 * (4 * (64 * 8 + 8 * 64) + HEAD)  # A and B: 17,424 bytes
FFA_LORA_R8_FLOOR = 4 * (4 * (64 * 8) + HEAD)  # B only: 9,232 bytes
SVD_R8_FLOOR = 4 * (4 * (64 * 8 + 8 + 8 * 64) + HEAD)  # P, lambda, Q at r0 = 8: 17,552 bytes
FEDARA_R8_UPLINK_FLOOR = SVD_R8_FLOOR + 4 * (4 * 8)  # plus 8 importance scores per module: 17,680 bytes


def test_bytes_floor_matches_hand_counted_floors_and_overhead_is_only_headers(tmp_path: Path, capsys) -> None:
    run_dir = bytes_floor.smoke_run(tmp_path)
    assert bytes_floor.main([str(run_dir), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)

    columns = ("bytes_down", "floor_down", "bytes_up", "floor_up", "overhead_down", "overhead_up")
    for r in rows:
        assert all(isinstance(r[c], int) for c in columns), r
        assert all(math.isfinite(r[c]) for c in ("ratio_down", "ratio_up")), r
    by_method: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r["round"]):
        by_method[r["method"]].append(r)
    assert {m: [r["round"] for r in rs] for m, rs in by_method.items()} == {
        m: [1, 2, 3] for m in ("lora", "ffa_lora", "fedara", "fedadalora")
    }

    # bytes are what the engine recorded for the round's clients (every client gets and sends the same)
    sent: dict[tuple[str, int], set[tuple[int, int]]] = defaultdict(set)
    for c in _csv_rows(run_dir / "clients.csv"):
        sent[(c["method"], int(c["round"]))].add((int(c["bytes_down"]), int(c["bytes_up"])))
    for r in rows:
        assert sent[(r["method"], r["round"])] == {(r["bytes_down"], r["bytes_up"])}, r

    fixed = {"lora": LORA_R8_FLOOR, "ffa_lora": FFA_LORA_R8_FLOOR, "fedadalora": SVD_R8_FLOOR}
    for method, floor in fixed.items():
        assert [(r["floor_down"], r["floor_up"]) for r in by_method[method]] == [(floor, floor)] * 3, method
    fedara = by_method["fedara"]
    assert (fedara[0]["floor_down"], fedara[0]["floor_up"]) == (SVD_R8_FLOOR, FEDARA_R8_UPLINK_FLOOR)
    floors_down = [r["floor_down"] for r in fedara]
    assert floors_down == sorted(floors_down, reverse=True) and floors_down[-1] < floors_down[0]  # ranks shrank

    for r in rows:
        # above the floor: safetensors headers (and FedARA's rank lists), a few KiB at most
        assert 0 < r["overhead_down"] < 4096 and r["bytes_down"] == r["floor_down"] + r["overhead_down"], r
        assert 0 < r["overhead_up"] < 4096 and r["bytes_up"] == r["floor_up"] + r["overhead_up"], r
        assert r["ratio_down"] == pytest.approx(r["bytes_down"] / r["floor_down"])
        assert r["ratio_up"] == pytest.approx(r["bytes_up"] / r["floor_up"])


def test_memory_scaling_reports_one_kernel_peak_per_client_count(capsys) -> None:
    assert memory_scaling.main(["--smoke", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["clients"] for r in rows] == [2, 4]
    first = rows[0]["peak_rss_bytes"]
    for r in rows:
        peak = r["peak_rss_bytes"]
        assert isinstance(peak, int) and peak % 1024 == 0  # the kernel's ru_maxrss, in KiB, converted to bytes
        assert 100 * MIB < peak < 16 * 2**30  # torch + tiny-bert in a child process: a real kernel peak
        assert peak == pytest.approx(r["vs_first"] * first)  # vs_first scales the 2-client peak to this one
    assert rows[0]["vs_first"] == 1.0


def test_profiler_overhead_pairs_adjacent_on_off_rounds(tmp_path: Path, monkeypatch) -> None:
    runs: list[dict] = []
    real_run = profiler_overhead._run

    def record_run(*args, **kwargs):  # keep each run's raw per-round (on, wall_s, cpu_s) timings
        result = real_run(*args, **kwargs)
        runs.append(result)
        return result

    monkeypatch.setattr(profiler_overhead, "_run", record_run)
    summary_file = tmp_path / "overhead.json"
    assert profiler_overhead.main(["--rounds", "3", "--repeats", "2", "--json", str(summary_file)]) == 0
    summary = json.loads(summary_file.read_text())

    # two runs of the 4 smoke methods x 3 rounds; the on/off phase flips between the runs
    assert len(runs) == 2
    methods = {m for m, _ in runs[0]["rounds"]}
    assert len(methods) == 4
    for phase, run in enumerate(runs):
        assert set(run["rounds"]) == {(m, rnd) for m in methods for rnd in (1, 2, 3)}
        for m in methods:
            assert [run["rounds"][(m, rnd)][0] for rnd in (2, 3)] == ([True, False] if phase == 0 else [False, True])

    # rounds 2 and 3 form the one (on, off) pair per method and run: round 1 is warm-up
    on_round = {0: 2, 1: 3}
    pairs = [
        (run["rounds"][(m, on_round[phase])], run["rounds"][(m, 5 - on_round[phase])])
        for phase, run in enumerate(runs)
        for m in methods
    ]
    assert summary["pairs"] == len(pairs) == 8
    assert summary["wall_overhead"] == pytest.approx(statistics.geometric_mean(on[1] / off[1] for on, off in pairs) - 1)
    assert summary["cpu_overhead"] == pytest.approx(statistics.geometric_mean(on[2] / off[2] for on, off in pairs) - 1)
    for key in ("wall_overhead_stderr", "cpu_overhead_stderr"):
        assert math.isfinite(summary[key]) and summary[key] > 0.0

    on_wall_s = sum(wall for run in runs for on, wall, _ in run["rounds"].values() if on)
    assert summary["self_timed_overhead"] == pytest.approx(sum(run["overhead_s"] for run in runs) / on_wall_s)
    assert 0.0 < summary["self_timed_overhead"] < 1.0  # the window edges were timed, inside the rounds
    all_walls = [wall for run in runs for _, wall, _ in run["rounds"].values()]
    assert summary["round_wall_s_median"] == pytest.approx(statistics.median(all_walls))
