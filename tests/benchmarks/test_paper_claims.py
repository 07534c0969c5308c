"""The paper-claims benchmark runs end to end in smoke mode and its ratios are computed as documented."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

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


# -- the standard profile -----------------------------------------------------------------------------

RATES = {"fedara": 0.01, "lora-r0": 0.002, "lora-rT": 0.005, "ffa_lora": 0.001, "fedadalora": 0.0005}


def _lr_table(path: Path, rates: dict[str, float] = RATES, dataset: str = "ag_news_sample") -> Path:
    rows = [{"dataset": dataset, "method": m, "lr": lr, "val_accuracy_last30": 0.5} for m, lr in rates.items()]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_the_standard_profile_refuses_to_start_without_its_datasets(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv(paper_claims.DATASETS_ENV, raising=False)
    out = tmp_path / "out"
    code = paper_claims.main(["--profile", "standard", "--datasets-dir", str(tmp_path / "nowhere"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "needs ag_news" in err and "--datasets-dir" in err and paper_claims.DATASETS_ENV in err
    assert not (out / "runs").exists()


def test_the_standard_profile_refuses_to_start_without_a_complete_lr_table(tmp_path: Path, capsys) -> None:
    args = ["--profile", "standard-smoke", "--out", str(tmp_path / "out")]
    assert paper_claims.main([*args, "--lr-table", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err
    assert "learning-rate table not found" in err and "python -m benchmarks.lr_tuning" in err
    partial = _lr_table(tmp_path / "partial.csv", {k: v for k, v in RATES.items() if k != "fedadalora"})
    assert paper_claims.main([*args, "--lr-table", str(partial)]) == 2
    assert "no tuned rate for dataset 'ag_news_sample', method 'fedadalora'" in capsys.readouterr().err
    assert not (tmp_path / "out" / "runs").exists()


def test_standard_smoke_runs_every_method_at_its_tuned_rate_and_summarises_with_the_report_rules(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    args = ["--profile", "standard-smoke", "--seeds", "0", "--out", str(out), "--no-report"]
    assert paper_claims.main([*args, "--lr-table", str(_lr_table(tmp_path / "lr.csv"))]) == 0
    run_dir = out / "runs" / "ag_news_sample-a0.5-s0"
    meta = json.loads((run_dir / "run.json").read_text())
    rates = {m["name"]: m["lr"] for m in meta["config"]["methods"]}
    assert rates == {**RATES, paper_claims.ABLATION: RATES["fedara"]}  # the ablation borrows FedARA's rate
    ablation = meta["methods"][paper_claims.ABLATION]
    assert ablation["params"]["allocation"] == "cost_aware" and "calibration" in ablation

    summary = (out / "standard.md").read_text()
    assert "## ag_news_sample-a0.5" in summary and "Ablation, cost-aware allocation against plain FedARA" in summary
    assert "one seed: no accuracy verdict" in summary or "did not learn" in summary  # the report's rules, one seed
    assert "Convergence: the best method by last-30 % accuracy is" in summary and "rounds 2-2" in summary
    comparisons = pd.read_csv(out / "standard_comparisons.csv")
    totals = pd.read_csv(out / "ratios.csv").set_index("method")["total_bytes"]
    fedara = comparisons[comparisons["method"] == "fedara"].iloc[0]
    assert fedara["bytes_ratio"] == pytest.approx(totals["fedara"] / totals["lora-r0"])
    assert fedara["lr"] == RATES["fedara"]
    claims = pd.read_csv(out / "claims.csv").set_index("baseline")
    assert list(claims.index) == ["lora-r0", "lora-rT", "ffa_lora", "fedadalora"]  # not FedARA, not the ablation
    assert claims.loc["lora-r0", "communication_x_fewer"] == pytest.approx(totals["lora-r0"] / totals["fedara"])
    last30 = comparisons.set_index("method")["accuracy_last30_mean"]
    gain = (last30["fedara"] - last30["lora-rT"]) * 100  # one seed: the paired mean is the difference
    assert claims.loc["lora-rT", "accuracy_gain_pts"] == pytest.approx(gain)
    expected = "estimated" if fedara["energy_estimated"] else "measured"  # auto device: RAPL where readable
    assert claims.loc["lora-r0", "energy_provenance"] == expected
    assert "The paper's four claims" in summary and "(paper 2.40x)" in summary
    allocations = pd.read_csv(out / "allocations.csv")
    assert list(allocations["method"]) == ["fedara", paper_claims.ABLATION]
    ranks = pd.read_csv(run_dir / "ranks.csv")
    last = ranks[(ranks["method"] == "fedara") & (ranks["round"] == 3)]
    row = allocations.iloc[0]
    assert row["active_rank"] == last["rank"].sum() == 2 * 4 and row["pruned_modules"] == (last["rank"] == 0).sum()
    lowest = min(int(m.split(".layer.")[1].split(".")[0]) for m in last[last["rank"] > 0]["module"])
    assert row["lowest_trained_layer"] == lowest

    # Completed cells are skipped on re-run: only the tables are recomputed.
    started = meta["started_at"]
    assert paper_claims.main([*args, "--lr-table", str(tmp_path / "lr.csv")]) == 0
    assert json.loads((run_dir / "run.json").read_text())["started_at"] == started


def test_a_part_run_with_cells_keeps_the_cells_of_earlier_parts_in_its_tables(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["--profile", "standard-smoke", "--out", str(out), "--no-report"]
    args += ["--lr-table", str(_lr_table(tmp_path / "lr.csv"))]
    first, second = "ag_news_sample-a0.5-s0", "ag_news_sample-a0.5-s1"
    assert paper_claims.main([*args, "--cells", first]) == 0

    # A part with other flags is refused before it writes or runs anything: its tables would mix two settings.
    capsys.readouterr()
    assert paper_claims.main([*args, "--cells", second, "--local-steps", "2"]) == 2
    refusal = f"{first}/run.json: made with config federation.local_steps = 1, this command asks for 2"
    assert refusal in capsys.readouterr().err
    assert not (out / "runs" / second).exists() and not (out / "configs" / f"{second}.yaml").exists()

    assert paper_claims.main([*args, "--cells", second]) == 0
    assert sorted(pd.read_csv(out / "ratios.csv")["setting"].unique()) == [first, second]
    assert set(pd.read_csv(out / "standard_comparisons.csv")["seeds"]) == {2}


def test_run_cells_skips_complete_cells_and_stops_before_one_that_would_not_fit(monkeypatch) -> None:
    clock = [0.0]
    done = {"c0"}
    ran: list[str] = []

    def fake_run(config, run_dir: Path) -> None:
        ran.append(run_dir.name)
        done.add(run_dir.name)
        clock[0] += 3600.0

    monkeypatch.setattr(paper_claims.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(paper_claims, "run_or_resume", fake_run)
    monkeypatch.setattr(paper_claims, "run_status", lambda d: "complete" if d.name in done else None)
    cells = [paper_claims.Cell("ag_news", 0.1, s) for s in range(5)]
    jobs = [(c, None, Path(f"c{i}")) for i, c in enumerate(cells)]
    left = paper_claims.run_cells(jobs, 2.5, lambda cell: 3600.0, log=lambda _: None)
    assert ran == ["c1", "c2"]  # c0 was complete; c3 would end at 3 h > 2.5 h
    assert [c.seed for c in left] == [3, 4]
    # No estimate at all: the first cell runs, then the mean of those run so far stands in.
    clock[0], ran[:] = 0.0, []
    assert [c.seed for c in paper_claims.run_cells(jobs, 1.5, lambda cell: None, log=lambda _: None)] == [4]
    assert ran == ["c3"]


def test_plan_cuts_local_steps_then_evaluation_then_a_setting_in_that_order() -> None:
    p = paper_claims.PROFILES["standard"]
    cells = paper_claims.cells_of(p)
    timings = pd.DataFrame(
        [
            {"dataset": d, "method": m, "round_s": 30.0, "eval_s": 10.0, "setup_s": 60.0}
            for d in p.datasets
            for m in ("fedara", "lora-r0")
        ]
    )
    options, chosen = paper_claims.plan_cuts(timings, p, cells, budget_h=100.0)
    # as configured: 12 cells x 2 methods x (25 rounds x 40 s + 60 s) = 25,440 s
    assert options[0]["hours"] == pytest.approx(12 * 2 * (25 * 40 + 60) / 3600) and chosen is options[0]
    changes = [o["change"] for o in options]
    assert changes[1] == "local steps 8 -> 7" and changes[4] == "local steps 8 -> 4"
    assert changes[5].endswith("evaluation 1000 -> 750 test rows") and changes[6].endswith("1000 -> 500 test rows")
    assert changes[7] == "as above, without 20 Newsgroups at alpha 0.5"
    hours = [o["hours"] for o in options]
    assert hours == sorted(hours, reverse=True)  # every cut saves time
    _, chosen = paper_claims.plan_cuts(timings, p, cells, budget_h=hours[5] + 1e-9)
    assert chosen is not None and chosen["flags"] == "--local-steps 4 --max-test-examples 750"
    assert paper_claims.plan_cuts(timings, p, cells, budget_h=0.01)[1] is None


def test_plan_times_one_round_per_method_and_writes_the_estimate_without_running_the_profile(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # No lr table needed to plan: the rate does not change a round's cost.
    args = ["--profile", "standard-smoke", "--out", str(out), "--plan", "--lr-table", str(tmp_path / "none.csv")]
    assert paper_claims.main(args) == 0
    plan = json.loads((out / "plan.json").read_text())
    assert {t["method"] for t in plan["timings"]} == {*RATES, paper_claims.ABLATION}
    assert all(t["round_s"] > 0 and t["eval_examples"] == 40 for t in plan["timings"])
    per_cell = sum(3 * (t["round_s"] + t["eval_s"]) + t["setup_s"] for t in plan["timings"])
    assert plan["estimate_hours"] == pytest.approx(2 * per_cell / 3600)  # 2 cells (seeds 0, 1)
    assert plan["cell_estimate_s"]["ag_news_sample"] == pytest.approx(per_cell)
    assert "| option | estimate (h) | flags |" in (out / "plan.md").read_text()
    assert not (out / "runs").exists()


def test_a_run_directory_made_from_another_config_is_refused_before_anything_runs(tmp_path: Path, monkeypatch) -> None:
    smoke = paper_claims.PROFILES["smoke"]
    cells = [paper_claims.Cell("ag_news_sample", 0.5, seed) for seed in (0, 1)]

    def config(cell: paper_claims.Cell, rounds: int):
        doc = paper_claims.experiment(cell.dataset, cell.alpha, cell.seed, {}, replace(smoke, rounds=rounds))
        return paper_claims.write_config(tmp_path, f"{cell.name}-r{rounds}", doc)

    done = tmp_path / "runs" / cells[1].name
    done.mkdir(parents=True)
    recorded = config(cells[1], 3).as_dict()
    recorded["data"]["path"] = "/another/machine/datasets"  # where the data lay is not part of the setting
    (done / "run.json").write_text(json.dumps({"status": "complete", "config": recorded}))
    ran: list[str] = []
    monkeypatch.setattr(paper_claims, "run_or_resume", lambda config, run_dir: ran.append(run_dir.name))

    jobs = [(cells[0], config(cells[0], 5), tmp_path / "runs" / cells[0].name), (cells[1], config(cells[1], 5), done)]
    with pytest.raises(paper_claims.BenchmarkError, match=r"federation.rounds = 3, this command asks for 5"):
        paper_claims.run_cells(jobs, None, lambda cell: None, log=lambda _: None)
    assert ran == []  # checked before the first cell ran
    assert paper_claims.run_cells([(cells[1], config(cells[1], 3), done)], None, lambda c: None, log=print) == []
    assert ran == []  # the same setting from another data folder: complete, skipped


def test_rates_tuned_at_other_local_steps_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "lr.csv"
    row = {"lr": 0.01, "val_accuracy_last30": 0.5}
    rows = [{**row, "dataset": "ag_news", "method": m, "local_steps": 8} for m in RATES]
    rows.append({**row, "dataset": "20newsgroups", "method": "fedara", "local_steps": 4})  # not needed: not checked
    pd.DataFrame(rows).to_csv(path, index=False)
    assert paper_claims.read_lr_table(path, ["ag_news"], list(RATES), local_steps=8)["ag_news"]["fedara"] == 0.01
    with pytest.raises(paper_claims.BenchmarkError, match=r"lr.csv: local_steps of ag_news / fedara is 8, expected 4"):
        paper_claims.read_lr_table(path, ["ag_news"], list(RATES), local_steps=4)
    # The default table follows the runs' local steps, as lr_tuning names its output.
    assert paper_claims.default_lr_table(8, 8).parent.name == "lr_tuning"
    assert paper_claims.default_lr_table(8, 4).parent.name == "lr_tuning_steps4"


def test_a_part_of_the_profile_needs_tuned_rates_only_for_the_datasets_it_runs(tmp_path: Path) -> None:
    standard = paper_claims.PROFILES["standard"]
    cells = paper_claims.cells_of(standard)
    ag_news_only = paper_claims.select_cells(cells, ["ag_news"], [])
    assert paper_claims.datasets_of(ag_news_only) == ["ag_news"]
    assert paper_claims.datasets_of(cells) == ["ag_news", "20newsgroups"]
    methods = paper_claims.tuned_methods(standard)
    table = _lr_table(tmp_path / "lr.csv", dict.fromkeys(methods, 0.001), dataset="ag_news")
    rates = paper_claims.read_lr_table(table, paper_claims.datasets_of(ag_news_only), methods)
    assert rates["ag_news"]["fedara"] == 0.001
    with pytest.raises(paper_claims.BenchmarkError, match="no tuned rate for dataset '20newsgroups'"):
        paper_claims.read_lr_table(table, paper_claims.datasets_of(cells), methods)


def test_convergence_compares_the_last_30_percent_with_the_window_before_it() -> None:
    rounds = pd.DataFrame({"round": range(1, 26), "eval_accuracy": [r / 100 for r in range(1, 26)]})
    before, last = paper_claims.window_accuracies(rounds)  # 25 rounds: last 30 % = rounds 18-25, before = 10-17
    assert before == pytest.approx(sum(range(10, 18)) / 8 / 100) and last == pytest.approx(sum(range(18, 26)) / 8 / 100)
    flat = rounds.assign(eval_accuracy=0.5)
    assert paper_claims.window_accuracies(flat) == (0.5, 0.5)


def _series(label: str, curves: list[list[float]]) -> SimpleNamespace:
    runs = [SimpleNamespace(rounds=pd.DataFrame({"round": range(1, len(c) + 1), "eval_accuracy": c})) for c in curves]
    return SimpleNamespace(label=label, display=label, runs=runs)


def test_convergence_names_the_best_method_and_says_rising_only_when_every_seed_gains() -> None:
    climbing = [[0.3 + 0.02 * r for r in range(10)], [0.25 + 0.02 * r for r in range(10)]]
    flat = [[0.6] * 10, [0.6] * 9 + [0.7]]  # one seed gains, the other does not
    worse = [[0.2] * 10, [0.2] * 10]
    line = paper_claims.convergence_line([_series("low", worse), _series("up", climbing)])
    assert "best method by last-30 % accuracy is up" in line and "rounds 5-7" in line and "still rising" in line
    line = paper_claims.convergence_line([_series("flat", flat), _series("low", worse)])
    assert "is flat" in line and "not rising" in line and "+0.0, +3.3 points" in line
