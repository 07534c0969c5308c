"""Engine-overhead, memory-scaling, profiler-overhead and bytes-floor benchmarks keep running in smoke mode."""

from __future__ import annotations

import json

from benchmarks import bytes_floor, engine_overhead, memory_scaling, profiler_overhead


def test_engine_overhead_ratio_is_round_time_over_client_windows(capsys) -> None:
    assert engine_overhead.main(["--smoke", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for row in data["rounds"]:
        assert row["ratio"] == row["round_s"] / row["client_windows_s"]
        assert row["ratio"] >= 1.0  # the client windows are nested inside the round
    assert {s["method"] for s in data["summary"]} == {"lora", "fedara"}


def test_bytes_floor_overhead_is_only_headers(capsys) -> None:
    assert bytes_floor.main(["--smoke", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["method"] for r in rows} == {"lora", "ffa_lora", "fedara", "fedadalora"}
    for r in rows:
        assert 0 < r["overhead_down"] < 4096 and 0 < r["overhead_up"] < 4096, r
    fedara = sorted((r for r in rows if r["method"] == "fedara"), key=lambda r: r["round"])
    assert fedara[-1]["floor_down"] < fedara[0]["floor_down"]  # ranks shrank, so the floor fell


def test_memory_scaling_reports_one_peak_per_client_count(capsys) -> None:
    assert memory_scaling.main(["--smoke", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["clients"] for r in rows] == [2, 4]
    assert rows[0]["vs_first"] == 1.0
    for r in rows:
        assert r["peak_rss_bytes"] > 100 * 2**20  # torch + tiny-bert in a child process: a real kernel peak
        assert r["vs_first"] == r["peak_rss_bytes"] / rows[0]["peak_rss_bytes"]


def test_profiler_overhead_pairs_adjacent_on_off_rounds(tmp_path, capsys) -> None:
    summary_file = tmp_path / "overhead.json"
    assert profiler_overhead.main(["--rounds", "3", "--repeats", "2", "--json", str(summary_file)]) == 0
    summary = json.loads(summary_file.read_text())
    # 4 methods x 2 runs, rounds 2 and 3 form the one pair per method and run (round 1 is warm-up)
    assert summary["pairs"] == 8
    assert summary["wall_overhead"] > -1.0 and summary["cpu_overhead"] > -1.0
    assert summary["self_timed_overhead"] > 0.0  # the profiled rounds did time their window edges
