"""Verdict rules (edgebench.report.verdicts) on constructed result tables, then through whole reports.

Accuracy: one seed gives no verdict; two seeds give one only when the paired difference is clear; a method
at chance is in no accuracy verdict. Time and energy: flagged windows are left out and counted, too few
clean ones mean "contaminated: no verdict". The headline compares the candidate with every baseline and
names each by its role.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edgebench.report import build_report
from edgebench.report.load import load_run
from edgebench.report.metrics import exclusion_flags, last_share_accuracy, per_round, to_target
from edgebench.report.summary import analyse
from edgebench.report.verdicts import (
    BETTER,
    CONTAMINATED,
    NO_CLEAR,
    NO_VERDICT,
    TIE,
    WORSE,
    accuracy_verdict,
    mann_whitney_p,
    median_verdict,
    t_critical,
)
from tests.report.synth import METHODS, write_run

CHANCE = 0.25


# -- accuracy on constructed per-seed tables ---------------------------------------------------------


def test_one_seed_gives_no_accuracy_verdict_but_shows_the_number() -> None:
    v = accuracy_verdict({0: 0.80}, {0: 0.70}, CHANCE)
    assert v.verdict == NO_VERDICT and v.reason == "one seed: no accuracy verdict"
    assert v.delta_pts == pytest.approx(10.0) and v.n == 1
    assert v.text() == "one seed: no accuracy verdict (+10.0 pts)"


def test_two_seeds_with_a_clear_difference() -> None:
    # differences +10 and +11 points: mean 10.5, std 0.71, SE 0.5; t(0.975, 1) = 12.706 -> needs > 6.35
    v = accuracy_verdict({0: 0.80, 1: 0.81}, {0: 0.70, 1: 0.70}, CHANCE)
    assert v.verdict == BETTER and v.n == 2
    assert v.delta_pts == pytest.approx(10.5) and v.se_pts == pytest.approx(0.5)
    assert v.needed_pts == pytest.approx(12.706 * 0.5)
    worse = accuracy_verdict({0: 0.70, 1: 0.70}, {0: 0.80, 1: 0.81}, CHANCE)
    assert worse.verdict == WORSE and worse.delta_pts == pytest.approx(-10.5)


def test_two_seeds_with_an_unclear_difference() -> None:
    # differences +10 and -6: mean +2, std 11.3, SE 8 -> needs > 101.6 points
    v = accuracy_verdict({0: 0.80, 1: 0.70}, {0: 0.70, 1: 0.76}, CHANCE)
    assert v.verdict == NO_CLEAR and v.delta_pts == pytest.approx(2.0)
    assert v.text().startswith("no clear difference: +2.0 ± 11.3 pts over 2 seeds")
    # consistent but tiny (0.5 and 0.6 points): under the 1-point floor
    small = accuracy_verdict({0: 0.705, 1: 0.706}, {0: 0.70, 1: 0.70}, CHANCE)
    assert small.verdict == NO_CLEAR and small.needed_pts == pytest.approx(1.0)


def test_a_method_at_chance_takes_part_in_no_accuracy_verdict() -> None:
    # three seeds, the other method clearly higher, but the candidate sits within 2 points of chance
    v = accuracy_verdict({0: 0.26, 1: 0.25, 2: 0.27}, {0: 0.70, 1: 0.71, 2: 0.72}, CHANCE, ("fedara", "lora"))
    assert v.verdict == NO_VERDICT and v.reason == "fedara did not learn: no accuracy verdict"
    both = accuracy_verdict({0: 0.25}, {0: 0.25}, CHANCE, ("fedara", "lora"))
    assert both.reason == "fedara and lora did not learn: no accuracy verdict"
    # 2.1 points above chance has learned
    assert accuracy_verdict({0: 0.271, 1: 0.272}, {0: 0.70, 1: 0.70}, CHANCE).verdict == WORSE


def test_only_seeds_run_by_both_are_paired() -> None:
    v = accuracy_verdict({0: 0.80, 1: 0.81}, {1: 0.70, 2: 0.70}, CHANCE)
    assert v.n == 1 and v.reason == "one seed: no accuracy verdict"


def test_t_critical_is_conservative_between_table_entries() -> None:
    assert t_critical(1) == pytest.approx(12.706)
    assert t_critical(11) == t_critical(10)  # not tabulated: the next smaller df's (larger) value
    assert t_critical(1000) == pytest.approx(1.96)


def test_last_30_percent_of_rounds() -> None:
    rounds = pd.DataFrame({"round": range(1, 11), "eval_accuracy": [0.1] * 7 + [0.5, 0.6, 0.7]})
    assert last_share_accuracy(rounds) == pytest.approx(0.6)  # rounds 8-10
    five = pd.DataFrame({"round": range(1, 6), "eval_accuracy": [0.1, 0.2, 0.3, 0.4, 0.6]})
    assert last_share_accuracy(five) == pytest.approx(0.5)  # ceil(1.5) = 2 rounds
    sparse = pd.DataFrame({"round": range(1, 6), "eval_accuracy": [0.1, 0.2, 0.3, np.nan, np.nan]})
    assert last_share_accuracy(sparse) == pytest.approx(0.3)  # none evaluated in rounds 4-5: the last one


# -- time and energy on constructed client tables -----------------------------------------------------


def _clients(train_s: list[float], flags: list[str] | None = None) -> pd.DataFrame:
    n = len(train_s)
    return pd.DataFrame(
        {
            "round": [i // 2 + 1 for i in range(n)],
            "train_s": train_s,
            "download_s": [0.1] * n,
            "status": ["accepted"] * n,
            "window_flags": flags or [""] * n,
        }
    )


def _verdict(cand: pd.DataFrame, base: pd.DataFrame, column: str = "train_s", phase: str | None = "train"):
    return median_verdict("train time", "s", (cand, cand[column]), (base, base[column]), phase)


def test_clean_windows_with_a_clear_difference() -> None:
    v = _verdict(_clients([1.0, 1.1, 0.9, 1.0, 1.05, 0.95]), _clients([2.0, 2.1, 1.9, 2.0, 2.05, 1.95]))
    assert v.verdict == BETTER and v.ratio == pytest.approx(0.5) and v.p_value < 0.05
    assert v.candidate_windows.text() == "6 of 6 windows"


def test_overlapping_windows_are_no_clear_difference_and_close_medians_a_tie() -> None:
    # medians 1.35 s and 1.65 s (ratio 0.82, outside the tie band), but the windows overlap
    noisy = _verdict(_clients([1.0, 1.3, 2.9, 1.2, 3.1, 1.4]), _clients([1.6, 1.1, 3.0, 1.5, 2.8, 1.7]))
    assert noisy.ratio == pytest.approx(1.35 / 1.65)
    assert noisy.verdict == NO_CLEAR and noisy.p_value >= 0.05
    close = _verdict(_clients([1.0, 1.02, 0.98, 1.01]), _clients([1.03, 1.05, 1.01, 1.04]))
    assert close.verdict == TIE


def test_a_contaminated_run_gives_no_time_verdict_and_says_why() -> None:
    flags = ["contended"] * 5 + ["", "", "train:contended"]
    cand = _clients([9.0, 8.0, 7.0, 12.0, 10.0, 1.0, 1.1, 6.0], flags)
    base = _clients([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.0])
    v = _verdict(cand, base)
    assert v.verdict == CONTAMINATED and math.isnan(v.ratio)
    assert v.candidate_windows.clean == 2 and v.candidate_windows.excluded == {"contended": 6}
    assert v.text() == (
        "contaminated: no verdict (candidate 2 of 8 windows (6 excluded: 6 contended); baseline 8 of 8 windows)"
    )
    # the download phase was not flagged in the last window: 3 clean windows, still under half of 8
    down = _verdict(cand, base, "download_s", "download")
    assert down.candidate_windows.clean == 3 and down.verdict == CONTAMINATED


def test_flagged_windows_are_left_out_of_the_median() -> None:
    # two contended windows (slow) among eight: the verdict uses the six clean ones and says so
    flags = ["contended", "implausible;train:contended"] + [""] * 6
    cand = _clients([30.0, 40.0, 1.0, 1.0, 1.1, 0.9, 1.0, 1.05], flags)
    base = _clients([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.02])
    v = _verdict(cand, base)
    assert v.verdict == TIE and v.candidate == pytest.approx(1.0)
    assert v.candidate_windows.excluded == {"contended": 2, "implausible": 1}
    assert v.candidate_windows.text() == "6 of 8 windows (2 excluded: 2 contended, 1 implausible)"


def test_flag_scope() -> None:
    assert exclusion_flags("contended") == ["contended"]
    assert exclusion_flags("train:contended", "train") == ["contended"]
    assert exclusion_flags("train:contended", "download") == []
    assert exclusion_flags("train:contended") == ["contended"]  # the whole window contains the phase
    assert exclusion_flags("short-window;upload:implausible") == ["implausible"]
    assert exclusion_flags(float("nan")) == []


def test_mann_whitney() -> None:
    assert mann_whitney_p([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(0.030, abs=0.003)  # exact: 0.029
    assert mann_whitney_p([1, 2, 3], [4, 5, 6]) > 0.05  # three a side can never be significant
    assert mann_whitney_p([1, 1, 1], [1, 1, 1]) == 1.0


# -- cost to target ---------------------------------------------------------------------------------


def test_cost_to_target_counts_flagged_windows_at_the_clean_median(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "r", flags={("fedara", 1, 0): "contended"}))
    clients, rounds, ranks = run.rows("fedara")
    cost = to_target(per_round(clients, rounds, ranks), clients, 0.74)
    assert cost["rounds_to_target"] == 3 and cost["bytes_to_target"] == 2 * 2 * (800 + 600 + 400)
    # client windows 1.11 s and 1.51 s; the contended one (round 1, client 0: 1.11 s) counts as the clean
    # median, 1.51 s; link (estimated): 2 x bytes / 1e6 s per client
    compute = (1.51 + 1.51) / 2 + 2 * (1.11 + 1.51) / 2
    assert cost["compute_s_to_target"] == pytest.approx(compute)
    assert cost["link_s_to_target"] == pytest.approx(2 * (800 + 600 + 400) / 1e6)
    assert cost["time_to_target_s"] == pytest.approx(compute + 0.0036)
    # energy 7 J / 9 J: the contended 7 J window counts as the clean median, 9 J
    assert cost["energy_to_target_j"] == pytest.approx(9 + 9 + 2 * (7 + 9))
    assert cost["radio_energy_to_target_j"] == pytest.approx(2 * 0.0036 / 2)
    never = to_target(per_round(clients, rounds, ranks), clients, 0.9)
    assert math.isnan(never["rounds_to_target"]) and math.isnan(never["time_to_target_s"])


# -- whole reports ----------------------------------------------------------------------------------

QUICKSTART_LIKE = {
    "fedara": {**METHODS["fedara"], "params": {"r0": 12, "r_target": 4.0}},
    "lora-r12": {**METHODS["lora"], "params": {"r": 12}},
    "lora-r4": {
        **METHODS["lora"],
        "params": {"r": 4},
        "bytes": [400, 400, 400, 400],
        "train_s": [0.7, 1.1],
        "accuracy": [0.55, 0.66, 0.75, 0.76],
    },
}


def test_quickstart_like_report_names_each_baseline_by_role(tmp_path: Path) -> None:
    run = write_run(tmp_path / "qs", methods=("fedara", "lora-r12", "lora-r4"), spec=QUICKSTART_LIKE, clients=4)
    result = build_report([run], tmp_path / "report")
    md = result.markdown.read_text()
    headline = md.split("## Headline")[1].split("## Verdicts in detail")[0]
    assert "**fedara on edge-a, engine in-process, compared with each of 2 other methods separately:**" in headline
    start = "- fedara vs lora-r12 (same start, r = r0 = 12): "
    budget = "- fedara vs lora-r4 (same final budget, r = r_target = 4): "
    assert start in headline and budget in headline
    assert headline.index(start) < headline.index(budget)
    assert "vs lora-r12 (same start, r = r0 = 12) | vs lora-r4 (same final budget, r = r_target = 4) |" in headline
    # one seed: an accuracy number with no verdict, against each baseline separately
    assert headline.count("one seed: no accuracy verdict") == 2
    budget_line = next(line for line in headline.splitlines() if line.startswith(budget))
    assert "worse on bytes" in budget_line and "no verdict on accuracy (one seed)" in budget_line
    # the default target: 95 % of the best last-30 % accuracy (lora-r4, 75.5 %)
    assert "71.7 %, 95 % of the best last-30 % accuracy (lora-r4: 75.5 %)" in md
    analysis = analyse([load_run(run)], None, None)
    assert [c.baseline.label for c in analysis.comparisons] == ["lora-r12", "lora-r4"]


def test_report_on_a_contaminated_run(tmp_path: Path) -> None:
    flags = {("fedara", rnd, cid): "contended" for rnd in (1, 2, 3) for cid in (0, 1)}
    flags[("fedara", 4, 0)] = "implausible"
    run = write_run(tmp_path / "busy", flags=flags)
    result = build_report([run], tmp_path / "report")
    md = result.markdown.read_text()
    headline = md.split("## Headline")[1].split("## Verdicts in detail")[0]
    assert "| train time per client window (ratio of medians) | contaminated: no verdict |" in headline
    assert "| energy per client window (ratio of medians) | contaminated: no verdict |" in headline
    assert "no verdict on train time (contaminated)" in headline
    assert "fedara: 1 of 8 windows (7 excluded: 6 contended, 1 implausible)" in headline
    assert "better on bytes" in headline  # bytes are exact counts, never contaminated
    table = md.split("*Mean client time per round, by phase")[1]
    assert "6 contended, 1 implausible of 8" in table


def test_smoke_like_report_at_chance_gives_no_accuracy_verdict(tmp_path: Path) -> None:
    at_chance = {m: {**METHODS[m], "accuracy": [0.30, 0.31, 0.30, 0.31]} for m in ("lora", "fedara")}
    runs = [write_run(tmp_path / f"s{seed}", seed=seed, spec=at_chance, acc_shift=0.005 * seed) for seed in (0, 1)]
    result = build_report(runs, tmp_path / "report")
    md = result.markdown.read_text()
    assert "fedara and lora did not learn: no accuracy verdict" in md
    assert "Did not learn (within 2 points of the majority-class rate): fedara, lora." in md
    assert "no method learned" in md  # and so no default target


def test_cost_to_target_without_any_clean_window_is_not_a_number(tmp_path: Path) -> None:
    flags = {("fedara", rnd, cid): "contended" for rnd in (1, 2, 3, 4) for cid in (0, 1)}
    result = build_report([write_run(tmp_path / "busy", flags=flags)], tmp_path / "report", target_accuracy=0.7)
    rows = pd.read_csv(result.csv[0]).set_index("series")
    assert rows.loc["fedara", "rounds_to_target"] == 3 and math.isnan(rows.loc["fedara", "time_to_target_s"])
    assert rows.loc["lora", "time_to_target_s"] == pytest.approx(3 * (1.31 + 2.31) / 2 + 3 * 0.002)  # windows + link
    md = result.markdown.read_text()
    assert "fedara: device time and energy to target n/a: no client window without a contended" in md
