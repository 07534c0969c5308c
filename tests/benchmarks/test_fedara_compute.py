"""The FedARA compute micro-benchmark keeps running (smoke mode) and measures what it says it does."""

from __future__ import annotations

import json

from benchmarks import fedara_compute


def test_smoke_mode_times_every_configuration(capsys) -> None:
    assert fedara_compute.main(["--smoke", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"].split()[0] for r in rows] == ["lora", "fedara", "fedara", "fedara", "fedara"]
    fedara = rows[1:]
    assert [r["active_rank"] for r in fedara] == [48, 16, 8, 0]
    assert [r["active_modules"] for r in fedara] == [4, 4, 2, 0]
    trainable = [r["trainable_params"] for r in fedara]
    assert trainable == sorted(trainable, reverse=True) and trainable[-1] > 0  # the head always trains
    assert all(r["ms_per_step"] > 0 for r in rows)
