"""The paper-claims benchmark runs end to end in smoke mode and its ratios are computed as documented."""

from __future__ import annotations

import pandas as pd

from benchmarks import paper_claims


def test_smoke_profile_writes_ratios_against_lora_r0(tmp_path, capsys) -> None:
    assert paper_claims.main(["--profile", "smoke", "--out", str(tmp_path), "--no-report"]) == 0
    table = pd.read_csv(tmp_path / "ratios.csv")
    assert list(table["method"]) == ["fedara", "lora-r0", "lora-rT", "ffa_lora", "fedadalora"]
    base = table[table["method"] == "lora-r0"].iloc[0]
    assert base["total_bytes_vs_lora_r0"] == 1.0 and base["accuracy_delta_pts"] == 0.0
    for _, row in table.iterrows():
        assert abs(row["total_bytes_vs_lora_r0"] - row["total_bytes"] / base["total_bytes"]) < 1e-12
    fedara = table[table["method"] == "fedara"].iloc[0]
    assert fedara["final_active_rank"] == 2 * 4  # r_target x modules after the schedule
    rounds = pd.read_csv(tmp_path / "runs" / "ag_news_sample-a0.5-s0" / "rounds.csv")
    lora = rounds[rounds["method"] == "lora-r0"]
    assert base["total_bytes"] == (lora["bytes_down"] + lora["bytes_up"]).sum()
