"""Engine-overhead, memory-scaling and bytes-floor benchmarks keep running in smoke mode."""

from __future__ import annotations

import json

from benchmarks import bytes_floor, engine_overhead


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
