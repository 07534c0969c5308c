"""Learning-rate tuning for the paper-claims benchmark: every method tuned the same way, never on the test set.

For each dataset, one run per learning rate of the grid (5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2), each holding
the five compared methods (fedara, lora-r0, lora-rT, ffa_lora, fedadalora) at that rate, one seed, Dirichlet
alpha 0.1, the standard profile's clients, local steps and rounds (`--rounds` shortens it; a 10-round
tuning chose rates far too low for the SVD-form adapters, whose zero-initialised singular values start
slowly: docs/benchmarks.md). Tune at the runs' local steps (`--local-steps N` for runs cut to N). The
global model is evaluated on a validation split held out of the training rows (`data.validation_fraction`
0.1, stratified, seeded; run.json `data.eval_split: validation`), so the test set is never looked at. Each
method's rate is the one with the highest mean validation accuracy over the last 30 % of rounds (ties: the
lower rate).

    python -m benchmarks.lr_tuning --datasets-dir DIR                  # writes benchmarks/results/lr_tuning/
    python -m benchmarks.lr_tuning --datasets-dir DIR --local-steps 4  # ... lr_tuning_steps4/, for runs at 4 steps
    python -m benchmarks.lr_tuning --datasets-dir DIR --max-hours 2    # in parts: re-run to continue
    python -m benchmarks.lr_tuning --datasets-dir DIR --grid 5e-4,...,2e-2,5e-2 --methods fedara,fedadalora

The last form widens the grid for the methods that chose its top rate: only they run at the new rate (a
method trains the same alone in a run as beside the others), and each method's choice is judged on the
rates it was tried at (`lr_table.csv` column `grid`).

Writes, under --out: one run directory per (dataset, rate), `grid.csv` (every method x rate: validation
accuracy over the last 30 % of rounds and at the last round), and, for each dataset whose grid is
complete, the chosen rates in `lr_table.csv` / `lr_table.md` (what `paper_claims --profile standard`
reads; a rate at the edge of the grid is marked, since a wider grid might do better). Completed runs are
skipped on re-run; an interrupted one resumes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.paper_claims import (
    LR_GRID,
    PROFILES,
    VALIDATION_FRACTION,
    BenchmarkError,
    Cell,
    dataset_paths,
    default_lr_table,
    drive,
    experiment,
    measured_cell_s,
    run_cells,
    run_status,
    tuned_methods,
    write_config,
)
from edgebench.report.metrics import last_share_accuracy

TUNE_ALPHA = 0.1


def _rate_text(lr: float) -> str:
    return f"{lr:g}"


def methods_of(run_dir: Path) -> list[str]:
    """The method labels of an existing tuning run ([]: not started)."""
    path = run_dir / "run.json"
    if not path.exists():
        return []
    return [m["name"] for m in json.loads(path.read_text())["config"]["methods"]]


def grid_rows(run_dir: Path, dataset: str, lr: float) -> list[dict[str, Any]]:
    """One row per method of a tuning run: its validation accuracy (last 30 % of rounds, last round)."""
    meta = json.loads((run_dir / "run.json").read_text())
    split = (meta.get("data") or {}).get("eval_split")
    if split != "validation":
        raise BenchmarkError(f"{run_dir}: evaluated on {split!r}, not on validation rows; tuning never uses test data")
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rows = []
    for label, r in rounds.groupby("method", sort=False):
        r = r.sort_values("round")
        rows.append(
            {
                "dataset": dataset,
                "method": label,
                "lr": lr,
                "val_accuracy_last30": last_share_accuracy(r),
                "val_accuracy_final": float(r["eval_accuracy"].dropna().iloc[-1]),
                "rounds": int(r["round"].max()),
                "validation_examples": int(meta["data"]["validation_examples"]),
                "run": run_dir.name,
            }
        )
    return rows


def choose(grid: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """Per dataset and method, the rate with the best last-30 % validation accuracy (ties: the lower rate),
    with the runner-up, the rates the method was tried at, and whether the choice sits at an edge of them."""
    rows = []
    for (dataset, method), g in grid.groupby(["dataset", "method"], sort=False):
        tried = sorted(float(x) for x in g["lr"])
        ranked = g.sort_values(["val_accuracy_last30", "lr"], ascending=[False, True])
        best, second = ranked.iloc[0], ranked.iloc[1] if len(ranked) > 1 else None
        rows.append(
            {
                "dataset": dataset,
                "method": method,
                "lr": float(best["lr"]),
                "val_accuracy_last30": float(best["val_accuracy_last30"]),
                "runner_up_lr": float(second["lr"]) if second is not None else None,
                "runner_up_val_accuracy_last30": float(second["val_accuracy_last30"]) if second is not None else None,
                "margin_pts": (
                    100 * (float(best["val_accuracy_last30"]) - float(second["val_accuracy_last30"]))
                    if second is not None
                    else None
                ),
                "at_grid_edge": float(best["lr"]) in (tried[0], tried[-1]),
                **settings,
                "grid": " ".join(_rate_text(x) for x in tried),
            }
        )
    return pd.DataFrame(rows)


def merged(path: Path, new: pd.DataFrame, datasets: Sequence[str]) -> pd.DataFrame:
    """`new` plus the rows of `path` (an earlier table) for datasets other than `datasets`, so that tuning one
    dataset at a time never drops another's results."""
    if not path.is_file():
        return new
    old = pd.read_csv(path)
    return pd.concat([old[~old["dataset"].isin(datasets)], new], ignore_index=True)


def table_markdown(table: pd.DataFrame, grid: pd.DataFrame) -> str:
    lines = [
        "# Learning rates tuned on validation data",
        "",
        "Written by `benchmarks/lr_tuning.py`; read by `benchmarks/paper_claims.py --profile standard`. Validation "
        "rows are held out of the training split (stratified, seeded); the test set is never evaluated. Choice: the "
        "highest mean validation accuracy over the last 30 % of rounds (ties: the lower rate).",
        "",
        "| dataset | method | chosen lr | val. acc. (last 30 %) | runner-up | margin (pts) | note |",
        "| --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for r in table.itertuples(index=False):
        runner = "-" if pd.isna(r.runner_up_lr) else f"{r.runner_up_lr:g} ({r.runner_up_val_accuracy_last30:.3f})"
        margin = "-" if pd.isna(r.margin_pts) else f"{r.margin_pts:.1f}"
        note = "at the edge of the grid" if r.at_grid_edge else ""
        lines.append(
            f"| {r.dataset} | {r.method} | {r.lr:g} | {r.val_accuracy_last30:.3f} | {runner} | {margin} | {note} |"
        )
    lines.append("")
    for dataset, rows in table.groupby("dataset", sort=False):
        first = rows.iloc[0]
        lines.append(
            f"Setting ({dataset}): alpha {first['tuned_alpha']:g}, seed {first['seed']}, {first['rounds']} rounds x "
            f"{first['local_steps']} local steps, validation fraction {first['validation_fraction']:g}."
        )
    lines += [
        "",
        "Validation accuracy (last 30 % of rounds) by rate:",
        "",
    ]
    pivot = grid.pivot_table(index=["dataset", "method"], columns="lr", values="val_accuracy_last30", sort=False)
    lines.append("| dataset | method | " + " | ".join(f"{c:g}" for c in pivot.columns) + " |")
    lines.append("| --- | --- | " + " | ".join("---:" for _ in pivot.columns) + " |")
    for (dataset, method), values in pivot.iterrows():
        cells = ("-" if pd.isna(v) else f"{v:.3f}" for v in values)  # "-": the method was not run at that rate
        lines.append(f"| {dataset} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=["standard", "standard-smoke"], default="standard")
    parser.add_argument(
        "--datasets-dir", help="folder holding ag_news/ and 20newsgroups/ (default $EDGEBENCH_DATASETS)"
    )
    parser.add_argument("--ag-news")
    parser.add_argument("--newsgroups")
    parser.add_argument(
        "--out", type=Path, help="default benchmarks/results/lr_tuning/, lr_tuning_stepsN/ with --local-steps N"
    )
    parser.add_argument("--grid", default=",".join(_rate_text(x) for x in LR_GRID), help="comma-separated rates")
    parser.add_argument("--rounds", type=int, help="rounds per tuning run (default the profile's)")
    parser.add_argument(
        "--local-steps", type=int, help="local steps per round (default the profile's; match the runs' --local-steps)"
    )
    parser.add_argument("--alpha", type=float, default=TUNE_ALPHA, help="Dirichlet alpha of the tuning runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation-fraction", type=float, default=VALIDATION_FRACTION)
    parser.add_argument("--datasets", default="", help="only these datasets (comma-separated; default the profile's)")
    parser.add_argument("--max-hours", type=float, help="stop before a run that would end past this many hours")
    parser.add_argument(
        "--methods",
        default="",
        help="only these methods in the runs this command starts (comma-separated; default all): to widen the grid "
        "for the methods that chose its edge; runs already made keep their methods",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return drive("lr_tuning", _main, parse_args(argv))


def _main(args: argparse.Namespace) -> int:
    base = PROFILES[args.profile]
    try:
        grid_rates = sorted({float(x) for x in args.grid.split(",") if x.strip()})
    except ValueError:
        raise BenchmarkError(f"--grid: expected comma-separated numbers (got {args.grid!r})") from None
    if not grid_rates or min(grid_rates) <= 0:
        raise BenchmarkError(f"--grid: expected positive rates (got {args.grid!r})")
    if not 0 < args.validation_fraction < 1:
        raise BenchmarkError(f"--validation-fraction must lie in (0, 1) (got {args.validation_fraction})")
    datasets = tuple(x for x in args.datasets.split(",") if x) or base.datasets
    unknown = [d for d in datasets if d not in base.datasets]
    if unknown:
        raise BenchmarkError(
            f"--datasets: {unknown[0]!r} is not in the {args.profile} profile ({', '.join(base.datasets)})"
        )
    rounds = args.rounds or base.rounds
    if args.local_steps is not None and args.local_steps < 1:
        raise BenchmarkError(f"--local-steps must be at least 1 (got {args.local_steps})")
    steps = args.local_steps or base.local_steps
    p = replace(
        base,
        datasets=datasets,
        rounds=rounds,
        local_steps=steps,
        seeds=(args.seed,),
        cost_aware_ablation=False,
        tuned_lr=False,
    )
    # runs at other than the profile's local steps are named apart, so a re-run never mixes the two schedules
    steps_suffix = "" if steps == base.local_steps else f"-steps{steps}"
    labels = tuned_methods(p)
    selected = [x.strip() for x in args.methods.split(",") if x.strip()] or labels
    if set(selected) - set(labels):
        wrong = sorted(set(selected) - set(labels))[0]
        raise BenchmarkError(f"--methods: {wrong!r} is not a tuned method (expected some of {', '.join(labels)})")
    paths = dataset_paths(args, p)
    out: Path = args.out or default_lr_table(base.local_steps, steps).parent
    out.mkdir(parents=True, exist_ok=True)

    jobs = []
    for dataset in datasets:
        for lr in grid_rates:
            cell = Cell(dataset, args.alpha, args.seed, suffix=f"-lr{_rate_text(lr)}{steps_suffix}")
            doc = experiment(dataset, args.alpha, args.seed, paths, p, lr, validation_fraction=args.validation_fraction)
            run_dir = out / "runs" / cell.name
            keep = methods_of(run_dir) or selected
            doc["methods"] = [m for m in doc["methods"] if m["name"] in keep]
            jobs.append((cell, write_config(out, cell.name, doc), run_dir))
    run_dirs = [d for _, _, d in jobs]
    left = run_cells(jobs, args.max_hours, lambda cell: measured_cell_s(run_dirs, cell.dataset))

    rows = []
    for cell, config, run_dir in jobs:
        if run_status(run_dir) == "complete":
            rows += grid_rows(run_dir, cell.dataset, config.federation.lr)
    if not rows:
        print("no complete tuning run yet")
        return 0
    grid = merged(out / "grid.csv", pd.DataFrame(rows), datasets)
    grid.to_csv(out / "grid.csv", index=False)

    def untried(d: str) -> list[str]:
        return sorted(set(labels) - set(grid[grid["dataset"] == d]["method"]))

    # A dataset's table needs a run at every rate of the grid and every method tried at one rate at least.
    complete = [
        d for d in datasets if len(grid[grid["dataset"] == d]["lr"].unique()) == len(grid_rates) and not untried(d)
    ]
    settings = {
        "tuned_alpha": args.alpha,
        "seed": args.seed,
        "rounds": rounds,
        "local_steps": p.local_steps,
        "validation_fraction": args.validation_fraction,
    }
    if complete:
        done = grid[grid["dataset"].isin(complete)]
        table = merged(out / "lr_table.csv", choose(done, settings), complete)
        table.to_csv(out / "lr_table.csv", index=False)
        (out / "lr_table.md").write_text(table_markdown(table, grid[grid["dataset"].isin(table["dataset"])]))
        print((out / "lr_table.md").read_text())
    for d in datasets:
        if d not in complete and untried(d) and not left:
            print(f"{d}: no run of {', '.join(untried(d))} yet; run them (leave out --methods) before the table")
    if left or len(complete) < len(datasets):
        pending = [d for d in datasets if d not in complete]
        print(f"not complete yet: {', '.join(pending)} ({len(left)} run(s) left); re-run the same command to continue")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
