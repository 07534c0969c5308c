"""Learning-rate tuning: every method over the grid on validation rows (never the test set), best last-30 %
validation accuracy chosen, the table the standard profile reads written, completed runs skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import lr_tuning, paper_claims


def test_tuning_evaluates_on_validation_rows_and_writes_the_table_the_standard_profile_reads(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    args = ["--profile", "standard-smoke", "--grid", "0.01,0.001", "--rounds", "3", "--out", str(out)]
    assert lr_tuning.main(args) == 0
    for lr in ("0.001", "0.01"):
        run_dir = out / "runs" / f"ag_news_sample-a0.1-s0-lr{lr}"
        meta = json.loads((run_dir / "run.json").read_text())
        assert meta["data"]["eval_split"] == "validation"
        assert (meta["data"]["train_examples"], meta["data"]["validation_examples"]) == (360, 40)  # 10 % of 400
        assert all("lr" not in m for m in meta["config"]["methods"])  # every method at the run's rate
        assert meta["config"]["federation"]["lr"] == float(lr)

    grid = pd.read_csv(out / "grid.csv")
    assert len(grid) == 2 * 5 and set(grid["lr"]) == {0.001, 0.01}
    table = pd.read_csv(out / "lr_table.csv")
    assert list(table["method"]) == paper_claims.tuned_methods(paper_claims.PROFILES["standard-smoke"])
    for row in table.itertuples(index=False):
        mine = grid[grid["method"] == row.method]
        best = mine["val_accuracy_last30"].max()
        assert row.val_accuracy_last30 == best
        assert row.lr == mine[mine["val_accuracy_last30"] == best]["lr"].min()  # ties: the lower rate
        assert row.at_grid_edge  # with two rates every choice is at an edge
    assert "at the edge of the grid" in (out / "lr_table.md").read_text()
    rates = paper_claims.read_lr_table(out / "lr_table.csv", ["ag_news_sample"], list(table["method"]))
    assert set(rates["ag_news_sample"]) == set(table["method"])

    # Completed runs are skipped on re-run.
    started = json.loads((out / "runs" / "ag_news_sample-a0.1-s0-lr0.01" / "run.json").read_text())["started_at"]
    assert lr_tuning.main(args) == 0
    again = json.loads((out / "runs" / "ag_news_sample-a0.1-s0-lr0.01" / "run.json").read_text())["started_at"]
    assert again == started


def test_the_best_last30_validation_accuracy_wins_ties_go_to_the_lower_rate_and_edges_are_marked() -> None:
    grid = pd.DataFrame(
        [
            {"dataset": "d", "method": "m", "lr": 0.001, "val_accuracy_last30": 0.70},
            {"dataset": "d", "method": "m", "lr": 0.002, "val_accuracy_last30": 0.80},
            {"dataset": "d", "method": "m", "lr": 0.005, "val_accuracy_last30": 0.80},
            {"dataset": "d", "method": "n", "lr": 0.001, "val_accuracy_last30": 0.90},
            {"dataset": "d", "method": "n", "lr": 0.002, "val_accuracy_last30": 0.60},
            {"dataset": "d", "method": "n", "lr": 0.005, "val_accuracy_last30": 0.50},
        ]
    )
    table = lr_tuning.choose(grid, {"seed": 0}).set_index("method")
    assert table.loc["m", "lr"] == 0.002 and table.loc["m", "runner_up_lr"] == 0.005
    assert table.loc["m", "margin_pts"] == pytest.approx(0.0) and not table.loc["m", "at_grid_edge"]
    assert table.loc["n", "lr"] == 0.001 and table.loc["n", "at_grid_edge"]
    assert table.loc["n", "margin_pts"] == pytest.approx(30.0)


def test_widening_the_grid_for_one_method_runs_only_it_and_judges_each_method_on_its_own_rates(
    tmp_path: Path,
) -> None:
    out = tmp_path / "tune"
    args = ["--profile", "standard-smoke", "--rounds", "3", "--out", str(out)]
    assert lr_tuning.main([*args, "--grid", "0.001,0.01"]) == 0
    before = pd.read_csv(out / "grid.csv")
    assert lr_tuning.main([*args, "--grid", "0.001,0.01,0.02", "--methods", "fedara"]) == 0
    meta = json.loads((out / "runs" / "ag_news_sample-a0.1-s0-lr0.02" / "run.json").read_text())
    assert [m["name"] for m in meta["config"]["methods"]] == ["fedara"]
    grid = pd.read_csv(out / "grid.csv")
    assert list(grid[grid["lr"] == 0.02]["method"]) == ["fedara"]
    pd.testing.assert_frame_equal(grid[grid["lr"] < 0.02].reset_index(drop=True), before)  # the old runs, kept
    table = pd.read_csv(out / "lr_table.csv").set_index("method")
    assert table.loc["fedara", "grid"] == "0.001 0.01 0.02" and table.loc["lora-r0", "grid"] == "0.001 0.01"
    assert table.loc["fedara", "at_grid_edge"] == (table.loc["fedara", "lr"] in (0.001, 0.02))
    assert table["at_grid_edge"].drop("fedara").all()  # two rates each: every choice is at an edge
    assert "| ag_news_sample | lora-r0 | " in (out / "lr_table.md").read_text()
    assert " | - |" in (out / "lr_table.md").read_text()  # lora-r0 was not run at 0.02

    # A method alone in its run trains exactly as it does beside the others.
    solo = tmp_path / "solo"
    assert lr_tuning.main([*args[:-1], str(solo), "--grid", "0.01", "--methods", "fedara"]) == 0
    assert not (solo / "lr_table.csv").exists()  # the other methods were never tried: no table
    name = "ag_news_sample-a0.1-s0-lr0.01"
    together = pd.read_csv(out / "runs" / name / "rounds.csv")
    alone = pd.read_csv(solo / "runs" / name / "rounds.csv")
    accuracy = ["round", "eval_accuracy", "eval_loss"]
    pd.testing.assert_frame_equal(
        together[together["method"] == "fedara"][accuracy].reset_index(drop=True), alone[accuracy]
    )
    assert lr_tuning.main([*args, "--grid", "0.01", "--methods", "nonesuch"]) == 2


def test_tuning_one_dataset_keeps_the_other_datasets_rows(tmp_path: Path) -> None:
    path = tmp_path / "lr_table.csv"
    pd.DataFrame([{"dataset": "a", "method": "m", "lr": 0.1}, {"dataset": "b", "method": "m", "lr": 0.2}]).to_csv(
        path, index=False
    )
    new = pd.DataFrame([{"dataset": "b", "method": "m", "lr": 0.3}])
    merged = lr_tuning.merged(path, new, ["b"])
    assert merged.to_dict(orient="records") == [
        {"dataset": "a", "method": "m", "lr": 0.1},
        {"dataset": "b", "method": "m", "lr": 0.3},
    ]


def test_a_run_evaluated_on_the_test_split_is_never_used_for_tuning(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"data": {"eval_split": "test"}}))
    with pytest.raises(paper_claims.BenchmarkError, match="not on validation rows"):
        lr_tuning.grid_rows(tmp_path, "ag_news", 0.01)


@pytest.mark.parametrize("module", ["benchmarks.lr_tuning", "benchmarks.paper_claims"])
def test_sigterm_ends_a_benchmark_driver_as_an_interrupt(module: str, monkeypatch, capsys) -> None:
    """A driver stopped by SIGTERM goes through KeyboardInterrupt (so the engine records the run
    `interrupted`, resumable) and exits 130, instead of dying with run.json left `running`."""
    import importlib
    import os
    import signal
    import time

    driver = importlib.import_module(module)

    def work(args) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this wait at once
        return 0

    monkeypatch.setattr(driver, "_main", work)
    monkeypatch.setattr(driver, "parse_args", lambda argv: None)
    assert driver.main([]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_tuning_at_the_runs_local_steps_names_its_runs_apart_and_records_the_schedule(tmp_path: Path) -> None:
    out = tmp_path / "tune"
    args = ["--profile", "standard-smoke", "--grid", "0.01", "--rounds", "3", "--local-steps", "2", "--out", str(out)]
    assert lr_tuning.main(args) == 0
    run_dir = out / "runs" / "ag_news_sample-a0.1-s0-lr0.01-steps2"  # the profile's own schedule has 1 step
    assert json.loads((run_dir / "run.json").read_text())["config"]["federation"]["local_steps"] == 2
    assert set(pd.read_csv(out / "lr_table.csv")["local_steps"]) == {2}
    assert "Setting (ag_news_sample): alpha 0.1, seed 0, 3 rounds x 2 local steps" in (out / "lr_table.md").read_text()
    assert lr_tuning.main([*args[:-2], "--local-steps", "0", "--out", str(out)]) == 2


def test_a_re_run_with_another_schedule_is_refused_instead_of_reusing_the_runs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "tune"
    args = ["--profile", "standard-smoke", "--grid", "0.01", "--local-steps", "2", "--out", str(out)]
    assert lr_tuning.main([*args, "--rounds", "3"]) == 0
    table = (out / "lr_table.csv").read_bytes()
    capsys.readouterr()
    assert lr_tuning.main([*args, "--rounds", "4"]) == 2  # same run names, longer schedule
    err = capsys.readouterr().err
    assert "ag_news_sample-a0.1-s0-lr0.01-steps2/run.json" in err
    assert "federation.rounds = 3, this command asks for 4" in err
    assert (out / "lr_table.csv").read_bytes() == table  # nothing rewritten from the old runs
