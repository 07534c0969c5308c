"""The paper-claims benchmark runs end to end in smoke mode and its ratios are computed as documented."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import paper_claims


def test_smoke_profile_writes_ratios_against_lora_r0(tmp_path, capsys) -> None:
    assert paper_claims.main(["--profile", "smoke", "--seeds", "0,1", "--out", str(tmp_path), "--no-report"]) == 0
    both = pd.read_csv(tmp_path / "ratios.csv")
    assert list(both["setting"].unique()) == ["ag_news_sample-a0.5-s0", "ag_news_sample-a0.5-s1"]
    table = both[both["setting"] == "ag_news_sample-a0.5-s0"]
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
    # the last 30 % of 3 rounds is ceil(0.9) = 1 round: the last one
    assert base["accuracy_last30"] == pytest.approx(lora[lora["round"] == 3]["eval_accuracy"].mean())

    spread = pd.read_csv(tmp_path / "ratios_across_seeds.csv")
    assert list(spread["setting"].unique()) == ["ag_news_sample-a0.5"]
    fedara_spread = spread[spread["method"] == "fedara"].iloc[0]
    fedara_rows = both[both["method"] == "fedara"]
    assert fedara_spread["seeds"] == 2
    assert fedara_spread["total_bytes_vs_lora_r0_mean"] == pytest.approx(fedara_rows["total_bytes_vs_lora_r0"].mean())
    assert fedara_spread["total_bytes_vs_lora_r0_max"] == fedara_rows["total_bytes_vs_lora_r0"].max()
    assert fedara_spread["final_accuracy_std"] == pytest.approx(fedara_rows["final_accuracy"].std(ddof=1))
