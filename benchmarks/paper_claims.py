"""Benchmark 1: FedARA's headline claims at small scale, against LoRA at r0 and other baselines.

Methods: fedara (r0 -> r_target), lora at r0, lora at FedARA's target average rank, ffa_lora at r0,
fedadalora at r0; the standard profile adds `fedara-cost`, FedARA with cost-aware allocation (an
ablation). Model: MiniLM-L6 (offline-model extra). Data: AG News / 20 Newsgroups from a path (the full
sets), else (quick, full) the bundled AG News sample. Dirichlet label skew, 20 clients, 5 per round.

Profiles:
  smoke           tiny-bert, bundled sample, 4 clients, 3 rounds (seconds; exercised by the tests)
  quick           one dataset, alpha 0.1, 8 rounds, 1 seed, lr 0.01 for every method (about an hour on 2 cores)
  full            AG News and 20 Newsgroups, alpha 0.1 and 1.0, 20 rounds, 3 seeds, one lr (a GPU or a day)
  standard        AG News and 20 Newsgroups, alpha 0.1 and 0.5, 25 rounds, 3 seeds, each method at the learning
                  rate tuned on validation data (benchmarks/lr_tuning.py), plus the cost-aware ablation
  standard-smoke  the standard machinery on tiny-bert and the bundled sample (exercised by the tests)

    python -m benchmarks.paper_claims --profile quick --ag-news DIR --out benchmarks/results/paper_quick
    python -m benchmarks.paper_claims --profile standard --datasets-dir DIR --out DIR --plan   # time it first
    python -m benchmarks.paper_claims --profile standard --datasets-dir DIR --out DIR --max-hours 2  # one part

The standard profile needs AG News and 20 Newsgroups (`--datasets-dir`, or $EDGEBENCH_DATASETS, a folder
holding `ag_news/` and `20newsgroups/`) and the learning-rate table (`--lr-table`, default
benchmarks/results/lr_tuning/lr_table.csv, or lr_tuning_stepsN/ for runs at `--local-steps N`, where
`lr_tuning --local-steps N` writes); it refuses to start without them, or with rates tuned at other local
steps than the runs take. `--plan` times one round of
every method on the real model and writes the compute estimate (plan.json, plan.md) without running the
profile. A run is one cell (dataset, alpha, seed) with every method; completed cells are skipped, an
interrupted one resumes, and `--max-hours` stops before a cell that would not fit in the time left.

Writes, under --out: one run directory per cell, the report of all of them, and `ratios.csv` /
`ratios.json`: per method and cell, ratios against `lora` at r0 of total bytes, bytes to the target
accuracy, mean local train time over the last 30 % of rounds, peak host memory, total energy (with its
provenance), and the accuracy difference in points (final round, and mean over the last 30 % of rounds);
`ratios_across_seeds.csv` gives mean, std, min and max of these over seeds. The standard profile also
writes `standard.md` and `standard_comparisons.csv` (per dataset and alpha: accuracy with spread and the
report's paired verdicts, bytes, train-time ratios over uncontended windows, energy, cost to the target
accuracy) and `allocations.csv` (FedARA's final ranks: pruned modules, layers that still backpropagate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from edgebench.config import ConfigError, ExperimentConfig, parse_config
from edgebench.fl.engine import run_experiment
from edgebench.fl.progress import Progress
from edgebench.fl.run_dir import signals_interrupt
from edgebench.methods.fedara.costs import layer_of
from edgebench.report.load import load_run
from edgebench.report.metrics import last_share_rounds
from edgebench.report.summary import Comparison, Group, Series, analyse, compare
from edgebench.report.verdicts import CONTAMINATED, NOT_MEASURED, MedianVerdict, median_verdict

BASELINE = "lora-r0"
ABLATION = "fedara-cost"  # FedARA with cost-aware allocation; trains at FedARA's tuned rate
DATASETS_ENV = "EDGEBENCH_DATASETS"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LR_TABLE_COLUMNS = ("dataset", "method", "lr", "val_accuracy_last30")
# Learning-rate tuning (benchmarks/lr_tuning.py): grid and validation share of train. It runs the profile's
# rounds: a 10-round tuning chose rates too low for the SVD-form adapters (docs/benchmarks.md, first pass).
LR_GRID = (5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2)
VALIDATION_FRACTION = 0.1
BUDGET_HOURS = 8.0  # the issue's compute budget for the standard profile on a 2-core machine
DATASET_FOLDERS = {"ag_news": "ag_news", "20newsgroups": "20newsgroups"}


class BenchmarkError(Exception):
    """Bad input or missing prerequisites: one line, exit code 2."""


@dataclass(frozen=True)
class Profile:
    model: str
    datasets: tuple[str, ...]
    alphas: tuple[float, ...]
    seeds: tuple[int, ...]
    rounds: int
    local_steps: int
    num_clients: int
    clients_per_round: int
    max_test_examples: int | None
    r0: int
    r_target: int
    real_data: bool = False  # AG News / 20 Newsgroups from a path, never the bundled sample
    tuned_lr: bool = False  # every method at its rate from the learning-rate table
    cost_aware_ablation: bool = False  # add fedara with allocation: cost_aware
    max_train_examples: int | None = None  # stratified subsample of train (smoke profiles only)


PROFILES = {
    "smoke": Profile("tiny-bert", ("ag_news_sample",), (0.5,), (0,), 3, 1, 4, 2, 40, 6, 2),
    "quick": Profile("minilm-l6", ("ag_news",), (0.1,), (0,), 8, 8, 20, 5, 1000, 12, 4),
    "full": Profile("minilm-l6", ("ag_news", "20newsgroups"), (0.1, 1.0), (0, 1, 2), 20, 10, 20, 5, 2000, 12, 4),
    "standard": Profile(
        model="minilm-l6",
        datasets=("ag_news", "20newsgroups"),
        alphas=(0.1, 0.5),
        seeds=(0, 1, 2),
        rounds=25,
        local_steps=8,
        num_clients=20,
        clients_per_round=5,
        max_test_examples=1000,
        r0=12,
        r_target=4,
        real_data=True,
        tuned_lr=True,
        cost_aware_ablation=True,
    ),
    "standard-smoke": Profile(
        model="tiny-bert",
        datasets=("ag_news_sample",),
        alphas=(0.5,),
        seeds=(0, 1),
        rounds=3,
        local_steps=1,
        num_clients=4,
        clients_per_round=2,
        max_test_examples=40,
        r0=6,
        r_target=2,
        tuned_lr=True,
        cost_aware_ablation=True,
        max_train_examples=400,
    ),
}


def methods(p: Profile, lrs: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """The compared methods; with `lrs` (method label -> rate) each trains at its own learning rate."""
    out: list[dict[str, Any]] = [
        {"method": "fedara", "name": "fedara", "r0": p.r0, "r_target": p.r_target},
        {"method": "lora", "name": BASELINE, "r": p.r0},
        {"method": "lora", "name": "lora-rT", "r": p.r_target},
        {"method": "ffa_lora", "name": "ffa_lora", "r": p.r0},
        {"method": "fedadalora", "name": "fedadalora", "r0": p.r0, "r_target": p.r_target},
    ]
    if p.cost_aware_ablation:
        out.append(
            {"method": "fedara", "name": ABLATION, "r0": p.r0, "r_target": p.r_target, "allocation": "cost_aware"}
        )
    if lrs is not None:
        out = [{**m, "lr": lrs[tuned_label(m["name"])]} for m in out]
    return out


def tuned_label(label: str) -> str:
    """The learning-rate table's method for a label (the cost-aware ablation trains at FedARA's rate)."""
    return "fedara" if label == ABLATION else label


def tuned_methods(p: Profile) -> list[str]:
    """Labels whose learning rate is tuned (the ablation borrows FedARA's)."""
    return [m["name"] for m in methods(replace(p, cost_aware_ablation=False))]


def data_section(dataset: str, paths: dict[str, str | None], p: Profile) -> dict[str, Any]:
    if dataset == "ag_news" and paths.get("ag_news"):
        # The official 120k train.csv is not in our copy: train on the 8,000-row training-side sample.
        train_file = "train.csv" if (Path(paths["ag_news"]) / "train.csv").exists() else "sat_mixtext_split/dev.csv"
        section = {"dataset": "ag_news", "path": paths["ag_news"], "train_file": train_file}
    elif dataset == "20newsgroups" and paths.get("20newsgroups"):
        section = {"dataset": "20newsgroups", "path": paths["20newsgroups"]}
    elif p.real_data:
        raise BenchmarkError(f"no path for dataset {dataset!r} (see --datasets-dir)")
    else:
        section = {"dataset": "ag_news_sample"}
    if p.max_train_examples:
        section["max_train_examples"] = p.max_train_examples
    if p.max_test_examples:
        section["max_test_examples"] = p.max_test_examples
    return section


def experiment(
    dataset: str,
    alpha: float,
    seed: int,
    paths: dict[str, str | None],
    p: Profile,
    lr: float = 0.01,
    lrs: dict[str, float] | None = None,
    validation_fraction: float | None = None,
) -> dict[str, Any]:
    """One cell's experiment file: `lr` for every method, or each its own from `lrs`; with
    `validation_fraction` the global model is evaluated on validation rows held out of train (tuning)."""
    data = data_section(dataset, paths, p)
    if validation_fraction is not None:
        data["validation_fraction"] = validation_fraction
    return {
        "model": {"name": p.model},
        "data": data,
        "partition": {"scheme": "dirichlet", "alpha": alpha, "min_samples": 4},
        "federation": {
            "num_clients": p.num_clients,
            "clients_per_round": p.clients_per_round,
            "rounds": p.rounds,
            "local_steps": p.local_steps,
            "batch_size": 16 if p.model != "tiny-bert" else 8,
            "lr": lr,
            "max_seq_len": 64 if dataset != "20newsgroups" else 128,
        },
        "methods": methods(p, lrs),
        "seed": seed,
    }


# -- cells and running them -----------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One run directory: a dataset, a Dirichlet alpha and a seed, with every method."""

    dataset: str
    alpha: float
    seed: int
    suffix: str = ""  # e.g. the learning rate of a tuning run

    @property
    def setting(self) -> str:
        return f"{self.dataset}-a{self.alpha}"

    @property
    def name(self) -> str:
        return f"{self.setting}-s{self.seed}{self.suffix}"


def cells_of(p: Profile) -> list[Cell]:
    return [Cell(d, a, s) for d in p.datasets for a in p.alphas for s in p.seeds]


def select_cells(cells: list[Cell], include: Sequence[str], exclude: Sequence[str]) -> list[Cell]:
    """Cells whose name starts with one of `include` (all when empty) and with none of `exclude`."""
    chosen = [c for c in cells if not include or any(c.name.startswith(x) for x in include)]
    unknown = [x for x in include if not any(c.name.startswith(x) for c in cells)]
    if unknown:
        raise BenchmarkError(f"--cells {unknown[0]!r} matches no cell; cells: {', '.join(c.name for c in cells)}")
    return [c for c in chosen if not any(c.name.startswith(x) for x in exclude)]


def write_config(out: Path, name: str, document: dict[str, Any]) -> ExperimentConfig:
    """Write `out/configs/<name>.yaml` and load it as the engine will."""
    path = out / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return config_of(document, path)


def config_of(document: dict[str, Any], path: Path) -> ExperimentConfig:
    """`document` validated as the engine would read it from `path` (through YAML), without touching the file."""
    try:
        return parse_config(yaml.safe_load(yaml.safe_dump(document, sort_keys=False)), path)
    except ConfigError as exc:
        raise BenchmarkError(str(exc)) from None


def run_status(run_dir: Path) -> str | None:
    """run.json `status` of a run directory (None: not started)."""
    path = run_dir / "run.json"
    return str(json.loads(path.read_text())["status"]) if path.exists() else None


def run_or_resume(config: ExperimentConfig, run_dir: Path) -> None:
    """Run the cell, or resume it when it started but did not complete; a complete one is left alone."""
    status = run_status(run_dir)
    if status == "complete":
        return
    if status is None:
        run_experiment(config, out=run_dir, progress=Progress())
    else:
        run_experiment(config, resume=run_dir, progress=Progress())


def _iso_s(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def measured_cell_s(run_dirs: Sequence[Path], dataset: str) -> float | None:
    """Mean wall time of the complete, never-resumed runs of `dataset` among `run_dirs` (None: none)."""
    spans = []
    for run_dir in run_dirs:
        path = run_dir / "run.json"
        if not path.exists():
            continue
        meta = json.loads(path.read_text())
        if meta.get("status") != "complete" or meta.get("resumed_at") or not meta.get("ended_at"):
            continue
        if (meta.get("config") or {}).get("data", {}).get("dataset") != dataset:
            continue
        spans.append(_iso_s(meta["ended_at"]) - _iso_s(meta["started_at"]))
    return sum(spans) / len(spans) if spans else None


# Where the data lies is not part of what a run measured: the same cell may be re-run from another folder.
_MACHINE_LOCAL_FIELDS = ("data.path",)


def _differing_field(recorded: Any, wanted: Any, prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted field where two config dicts differ (None: equal)."""
    if isinstance(recorded, dict) and isinstance(wanted, dict):
        for key in sorted(set(recorded) | set(wanted)):
            field = f"{prefix}{key}"
            if field in _MACHINE_LOCAL_FIELDS:
                continue
            found = _differing_field(recorded.get(key), wanted.get(key), f"{field}.")
            if found:
                return found
        return None
    return None if recorded == wanted else (prefix.rstrip("."), recorded, wanted)


def check_same_config(config: ExperimentConfig, run_dir: Path) -> None:
    """Refuse a run directory made from another config: a complete one would be skipped and an interrupted one
    resumed as if it belonged to this command, mixing two settings in one table."""
    path = run_dir / "run.json"
    if not path.exists():
        return
    recorded = json.loads(path.read_text()).get("config")
    wanted = json.loads(json.dumps(config.as_dict()))  # the JSON form run.json holds
    found = _differing_field(recorded, wanted)
    if found:
        field, old, new = found
        raise BenchmarkError(
            f"{path}: made with config {field} = {old!r}, this command asks for {new!r}; re-run with the flags "
            "that made it, or choose another --out"
        )


def run_cells(
    jobs: Sequence[tuple[Cell, ExperimentConfig, Path]],
    max_hours: float | None,
    estimate_s: Callable[[Cell], float | None],
    log: Callable[[str], None] = print,
) -> list[Cell]:
    """Run every job whose run directory is not complete, in order; with `max_hours`, stop before a cell
    whose estimate (`estimate_s`, else the mean of the cells run so far) would end past the limit, or, with
    no estimate at all, after the first cell. Every existing run directory must have been made from its
    job's config (checked before anything runs). Returns the cells left to run."""
    for _, config, run_dir in jobs:
        check_same_config(config, run_dir)
    started = time.monotonic()
    ran: list[float] = []
    for i, (cell, config, run_dir) in enumerate(jobs):
        if run_status(run_dir) == "complete":
            continue
        if max_hours is not None:
            left_s = max_hours * 3600 - (time.monotonic() - started)
            guess = estimate_s(cell) or (sum(ran) / len(ran) if ran else None)
            if (guess is None and ran) or (guess is not None and guess > left_s and ran) or left_s <= 0:
                pending = [c for c, _, d in jobs[i:] if run_status(d) != "complete"]
                log(
                    f"--max-hours {max_hours:g}: stopping before {cell.name} (estimate "
                    f"{'unknown' if guess is None else f'{guess / 60:.0f} min'}, {max(left_s, 0) / 60:.0f} min left); "
                    f"{len(pending)} cell(s) left, re-run the same command to continue"
                )
                return pending
        t0 = time.monotonic()
        log(f"cell {cell.name}: running")
        run_or_resume(config, run_dir)
        ran.append(time.monotonic() - t0)
    return []


# -- the learning-rate table --------------------------------------------------------------------------


def datasets_of(cells: Sequence[Cell]) -> list[str]:
    """The datasets the selected cells train on, in order: a part of the profile needs only their rates."""
    return list(dict.fromkeys(c.dataset for c in cells))


def default_lr_table(profile_steps: int, local_steps: int) -> Path:
    """Where `lr_tuning` writes its table by default for runs at `local_steps` (named apart from the profile's)."""
    folder = "lr_tuning" if local_steps == profile_steps else f"lr_tuning_steps{local_steps}"
    return RESULTS_DIR / folder / "lr_table.csv"


def read_lr_table(
    path: Path, datasets: Sequence[str], labels: Sequence[str], local_steps: int | None = None
) -> dict[str, dict[str, float]]:
    """dataset -> method label -> tuned learning rate, from the table benchmarks/lr_tuning.py writes. With
    `local_steps`, rates tuned at other local steps are refused (the table's `local_steps` column, where it
    has one): a rate tuned for longer local training is not the right rate for shorter."""
    if not path.is_file():
        raise BenchmarkError(
            f"{path}: learning-rate table not found. The standard profile trains every method at the rate tuned "
            "on validation data held out of train; run `python -m benchmarks.lr_tuning --datasets-dir DIR` first "
            "(or pass --lr-table PATH)"
        )
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"{path}: unreadable learning-rate table ({exc})") from None
    missing = [c for c in LR_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise BenchmarkError(f"{path}: column {missing[0]!r} missing; expected {', '.join(LR_TABLE_COLUMNS)}")
    rates: dict[str, dict[str, float]] = {}
    for row in table.itertuples(index=False):
        lr = float(row.lr)
        if not lr > 0:
            raise BenchmarkError(f"{path}: lr of {row.dataset} / {row.method} must be > 0 (got {row.lr!r})")
        rates.setdefault(str(row.dataset), {})[str(row.method)] = lr
        if local_steps is not None and str(row.dataset) in datasets and "local_steps" in table.columns:
            tuned_steps = int(row.local_steps)
            if tuned_steps != local_steps:
                raise BenchmarkError(
                    f"{path}: local_steps of {row.dataset} / {row.method} is {tuned_steps}, expected {local_steps} "
                    f"(the runs' local steps); tune at the runs' schedule with `python -m benchmarks.lr_tuning "
                    f"--local-steps {local_steps}` or pass the table that was"
                )
    for dataset in datasets:
        for label in labels:
            if label not in rates.get(dataset, {}):
                have = ", ".join(sorted(rates.get(dataset, {}))) or "none"
                raise BenchmarkError(
                    f"{path}: no tuned rate for dataset {dataset!r}, method {label!r} (have: {have}); finish "
                    "`python -m benchmarks.lr_tuning` for that dataset"
                )
    return rates


# -- ratios per run (every profile) -------------------------------------------------------------------


def ratios(run_dir: Path, target_accuracy: float | None) -> pd.DataFrame:
    """One row per method of a run: absolute figures and ratios against lora at r0."""
    clients = pd.read_csv(run_dir / "clients.csv")
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rows = []
    for label, r in rounds.groupby("method", sort=False):
        c = clients[clients["method"] == label]
        r = r.sort_values("round")
        total_bytes = int(r["bytes_down"].sum() + r["bytes_up"].sum())
        cumulative = (r["bytes_down"] + r["bytes_up"]).cumsum()
        reached = r[r["eval_accuracy"] >= target_accuracy] if target_accuracy is not None else r.iloc[0:0]
        last_rounds = r["round"].max() - math.ceil(0.3 * r["round"].max()) + 1
        energy = c["energy_j"]
        provenance = sorted(set(c["energy_provenance"].dropna().astype(str)))
        rows.append(
            {
                "method": label,
                "final_accuracy": float(r["eval_accuracy"].dropna().iloc[-1]),
                "best_accuracy": float(r["eval_accuracy"].max()),
                # Under strong label skew the global model swings with each round's sampled clients, so
                # one round's accuracy is a noisy summary; the mean over the last 30 % of rounds is steadier.
                "accuracy_last30": float(r[r["round"] >= last_rounds]["eval_accuracy"].dropna().mean()),
                "total_bytes": total_bytes,
                "bytes_to_target": int(cumulative[reached.index[0]]) if len(reached) else None,
                "rounds_to_target": int(reached["round"].iloc[0]) if len(reached) else None,
                "train_s_last30": float(c[c["round"] >= last_rounds]["train_s"].mean()),
                "peak_rss_bytes": int(c["peak_rss_bytes"].max()) if c["peak_rss_bytes"].notna().any() else None,
                "energy_j": float(energy.sum()) if energy.notna().all() and len(energy) else None,
                "energy_provenance": "; ".join(provenance),
                "final_active_rank": int(r["active_rank"].iloc[-1]),
                "final_active_modules": int(r["active_modules"].iloc[-1]),
            }
        )
    table = pd.DataFrame(rows).set_index("method")
    base = table.loc[BASELINE]
    for col in ("total_bytes", "bytes_to_target", "train_s_last30", "peak_rss_bytes", "energy_j"):
        table[f"{col}_vs_lora_r0"] = [
            (v / base[col])
            if v is not None and base[col] not in (None, 0) and not pd.isna(v) and not pd.isna(base[col])
            else None
            for v in table[col]
        ]
    table["accuracy_delta_pts"] = (table["final_accuracy"] - base["final_accuracy"]) * 100
    table["accuracy_last30_delta_pts"] = (table["accuracy_last30"] - base["accuracy_last30"]) * 100
    return table.reset_index()


SUMMARY_COLUMNS = (
    "final_accuracy",
    "accuracy_delta_pts",
    "accuracy_last30",
    "accuracy_last30_delta_pts",
    "total_bytes_vs_lora_r0",
    "train_s_last30_vs_lora_r0",
    "peak_rss_bytes_vs_lora_r0",
    "energy_j_vs_lora_r0",
)


def across_seeds(result: pd.DataFrame) -> pd.DataFrame:
    """Mean, sample standard deviation, min and max over seeds of the headline columns, per setting
    (dataset and alpha, the seed stripped) and method; std is empty with one seed."""
    frame = result.copy()
    frame["setting"] = frame["setting"].str.replace(r"-s\d+$", "", regex=True)
    rows = []
    for (setting, method), group in frame.groupby(["setting", "method"], sort=False):
        row: dict[str, Any] = {"setting": setting, "method": method, "seeds": len(group)}
        for col in SUMMARY_COLUMNS:
            values = pd.to_numeric(group[col], errors="coerce").dropna()
            row[f"{col}_mean"] = values.mean() if len(values) else None
            row[f"{col}_std"] = values.std(ddof=1) if len(values) > 1 else None
            row[f"{col}_min"] = values.min() if len(values) else None
            row[f"{col}_max"] = values.max() if len(values) else None
        rows.append(row)
    return pd.DataFrame(rows)


def ratio_tables(run_dirs: Sequence[Path], out: Path, target_accuracy: float | None) -> pd.DataFrame:
    """ratios.csv / .json and ratios_across_seeds.csv over the complete runs; returns the per-run table."""
    tables = []
    for run_dir in run_dirs:
        rounds = pd.read_csv(run_dir / "rounds.csv")
        base_best = rounds[rounds["method"] == BASELINE]["eval_accuracy"].max()
        target = target_accuracy if target_accuracy is not None else round(0.9 * base_best, 4)
        table = ratios(run_dir, target)
        table.insert(0, "setting", run_dir.name)
        table.insert(1, "target_accuracy", target)
        tables.append(table)
    result = pd.concat(tables, ignore_index=True)
    result.to_csv(out / "ratios.csv", index=False)
    (out / "ratios.json").write_text(result.to_json(orient="records", indent=2))
    across_seeds(result).to_csv(out / "ratios_across_seeds.csv", index=False)
    return result


# -- plan: time one round per method, estimate the compute ---------------------------------------------


class PlanStop(Exception):
    """Raised after a method's first round in plan mode (the run directory records it as failed)."""


class _FirstRoundOnly(Progress):
    def __init__(self) -> None:
        super().__init__(quiet=True)

    def round_done(self, rnd: int, *args: Any, **kwargs: Any) -> None:
        raise PlanStop("plan mode: stopped after timing round 1")


def time_first_rounds(config: ExperimentConfig, out: Path, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run round 1 of every method of `config`, each in its own run directory under `out` (replaced);
    one row per method: round and evaluation seconds, set-up seconds, clean and contended windows."""
    rows = []
    for entry in config.methods:
        run_dir = out / entry.label
        if run_dir.exists():
            shutil.rmtree(run_dir)
        log(f"plan: timing round 1 of {entry.label} ({config.data.dataset})")
        started = time.monotonic()
        try:
            run_experiment(config.select_methods([entry.label]), out=run_dir, progress=_FirstRoundOnly())
        except PlanStop:
            pass
        wall_s = time.monotonic() - started
        rounds = pd.read_csv(run_dir / "rounds.csv").iloc[0]
        clients = pd.read_csv(run_dir / "clients.csv")
        meta = json.loads((run_dir / "run.json").read_text())
        host = ((meta.get("measurement") or {}).get("host_load") or {}).get("start") or {}
        flags = clients["window_flags"].astype(object).fillna("").astype(str)
        round_s, eval_s = float(rounds["round_s"]), float(rounds["eval_s"])
        rows.append(
            {
                "dataset": config.data.dataset,
                "method": entry.label,
                "round_s": round_s,
                "eval_s": eval_s,
                "eval_examples": int(rounds["eval_examples"]),
                "train_s_mean": float(clients["train_s"].mean()),
                "setup_s": max(wall_s - round_s - eval_s, 0.0),
                "windows": len(clients),
                "contended_windows": int(flags.str.contains("contended").sum()),
                "other_cpu_cores_at_start": host.get("other_cpu_cores"),
            }
        )
    return rows


def estimate_hours(
    timings: pd.DataFrame,
    cells_per_dataset: dict[str, int],
    rounds: int,
    step_scale: float = 1.0,
    eval_scale: float = 1.0,
) -> float:
    """Hours for the cells: per method, rounds x (round time x step_scale + eval time x eval_scale) + set-up
    (counted per method: conservative, a cell loads its data once)."""
    total = 0.0
    for dataset, cells in cells_per_dataset.items():
        rows = timings[timings["dataset"] == dataset]
        per_cell = (rounds * (rows["round_s"] * step_scale + rows["eval_s"] * eval_scale) + rows["setup_s"]).sum()
        total += cells * per_cell
    return total / 3600


def plan_cuts(
    timings: pd.DataFrame, p: Profile, cells: list[Cell], budget_h: float
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Estimates as configured and after each cut in the issue's order (local steps down to half, then the
    evaluation size down to 500, then 20 Newsgroups at alpha 0.5); the first option within `budget_h`."""
    counts = {d: sum(1 for c in cells if c.dataset == d) for d in p.datasets}
    options = [{"change": "as configured", "flags": "", "hours": estimate_hours(timings, counts, p.rounds)}]
    floor_steps = max(1, math.ceil(p.local_steps / 2))
    for steps in range(p.local_steps - 1, floor_steps - 1, -1):
        hours = estimate_hours(timings, counts, p.rounds, steps / p.local_steps)
        options.append(
            {"change": f"local steps {p.local_steps} -> {steps}", "flags": f"--local-steps {steps}", "hours": hours}
        )
    steps_flag = f"--local-steps {floor_steps}"
    eval_n = p.max_test_examples or 0
    for n in (750, 500):
        if n < eval_n:
            hours = estimate_hours(timings, counts, p.rounds, floor_steps / p.local_steps, n / eval_n)
            options.append(
                {
                    "change": f"local steps -> {floor_steps}, evaluation {eval_n} -> {n} test rows",
                    "flags": f"{steps_flag} --max-test-examples {n}",
                    "hours": hours,
                }
            )
    dropped = {d: n for d, n in counts.items()}
    drop = [c for c in cells if c.dataset == "20newsgroups" and c.alpha == 0.5]
    if drop:
        dropped["20newsgroups"] -= len(drop)
        n = min(500, eval_n) if eval_n else 0
        hours = estimate_hours(timings, dropped, p.rounds, floor_steps / p.local_steps, (n / eval_n) if eval_n else 1.0)
        options.append(
            {
                "change": "as above, without 20 Newsgroups at alpha 0.5",
                "flags": f"{steps_flag} --max-test-examples {n} --exclude 20newsgroups-a0.5",
                "hours": hours,
            }
        )
    chosen = next((o for o in options if o["hours"] <= budget_h), None)
    return options, chosen


def write_plan(
    p: Profile,
    cells: list[Cell],
    timings: pd.DataFrame,
    out: Path,
    budget_h: float,
    validation_examples: dict[str, int],
) -> dict[str, Any]:
    """plan.json, plan.md and plan_timings.csv: the timed rounds and the compute estimate."""
    options, chosen = plan_cuts(timings, p, cells, budget_h)
    tuned = timings[timings["method"] != ABLATION]
    tune_eval = {
        d: validation_examples.get(d, 0) / max(int(tuned[tuned["dataset"] == d]["eval_examples"].iloc[0]), 1)
        for d in p.datasets
    }
    tune_h = sum(
        len(LR_GRID) * estimate_hours(tuned[tuned["dataset"] == d], {d: 1}, p.rounds, 1.0, tune_eval[d])
        for d in p.datasets
    )
    contended = int(timings["contended_windows"].sum())
    plan = {
        "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count(), "loadavg": list(os.getloadavg())},
        "settings": {
            "model": p.model,
            "rounds": p.rounds,
            "local_steps": p.local_steps,
            "max_test_examples": p.max_test_examples,
            "cells": [c.name for c in cells],
            "methods": sorted(set(timings["method"])),
        },
        "timings": timings.to_dict(orient="records"),
        "contended_windows": contended,
        "windows": int(timings["windows"].sum()),
        "estimate_hours": options[0]["hours"],
        "tuning_estimate_hours": tune_h,
        "budget_hours": budget_h,
        "options": options,
        "suggested": chosen,
        "cell_estimate_s": {d: 3600 * estimate_hours(timings, {d: 1}, p.rounds) for d in p.datasets},
    }
    timings.to_csv(out / "plan_timings.csv", index=False)
    (out / "plan.json").write_text(json.dumps(plan, indent=2))
    lines = [
        "# Standard profile: compute plan",
        "",
        f"Written {plan['written_at']} on a host with {plan['host']['cpus']} CPUs (load average "
        f"{', '.join(f'{x:.2f}' for x in plan['host']['loadavg'])} at the end). One round of each method "
        f"timed on {p.model} (round 1: FedARA at full rank, the slowest of its rounds).",
        "",
    ]
    if contended:
        lines += [
            f"**Warning:** {contended} of {plan['windows']} client windows were flagged contended: another process "
            "used the CPU, so these times overstate the cost. Re-run `--plan` on a quiet machine.",
            "",
        ]
    lines += [
        "| dataset | method | round s (train + server) | eval s | eval rows | set-up s | contended windows |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in timings.itertuples(index=False):
        lines.append(
            f"| {r.dataset} | {r.method} | {r.round_s:.1f} | {r.eval_s:.1f} | {r.eval_examples} | {r.setup_s:.1f} | "
            f"{r.contended_windows} of {r.windows} |"
        )
    lines += [
        "",
        f"{len(cells)} cells x {p.rounds} rounds x {len(set(timings['method']))} methods; the budget is "
        f"{budget_h:g} h. Learning-rate tuning ({len(LR_GRID)} rates x {len(tuned_methods(p))} methods x "
        f"{p.rounds} rounds per dataset, evaluated on the validation rows): about "
        f"**{tune_h:.1f} h** more.",
        "",
        "| option | estimate (h) | flags |",
        "| --- | ---: | --- |",
    ]
    for o in options:
        mark = " (suggested)" if chosen is o else ""
        lines.append(f"| {o['change']}{mark} | {o['hours']:.2f} | `{o['flags']}` |")
    if chosen is None:
        lines += ["", f"No option fits in {budget_h:g} h: cut further (fewer rounds or seeds) and say so."]
    (out / "plan.md").write_text("\n".join(lines) + "\n")
    return plan


def plan_estimate(out: Path) -> dict[str, float]:
    """Per dataset, the plan's estimated seconds for one cell (empty without plan.json)."""
    path = out / "plan.json"
    if not path.exists():
        return {}
    return {k: float(v) for k, v in json.loads(path.read_text()).get("cell_estimate_s", {}).items()}


# -- the standard profile's summary --------------------------------------------------------------------


def _fmt(value: float, spec: str = ".3f", none: str = "n/a") -> str:
    return none if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _spread(values: Sequence[float], spec: str = ".3f") -> str:
    """`mean ± std [min, max]` of the measured values (just the value when there is one)."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return "n/a"
    mean = sum(clean) / len(clean)
    if len(clean) == 1:
        return format(mean, spec)
    std = float(pd.Series(clean).std(ddof=1))
    return f"{mean:{spec}} ± {std:{spec}} [{min(clean):{spec}}, {max(clean):{spec}}]"


def _short_module(module: str) -> str:
    return f"L{layer_of(module)}.{module.rsplit('.', 1)[-1]}"


def final_allocations(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """FedARA's (and the ablation's) last-round ranks per run: pruned modules and the layers that still
    backpropagate (from the lowest layer holding an adapter up)."""
    rows = []
    for run_dir in run_dirs:
        meta = json.loads((run_dir / "run.json").read_text())
        ranks = pd.read_csv(run_dir / "ranks.csv")
        for label, info in (meta.get("methods") or {}).items():
            if info.get("method") != "fedara":
                continue
            mine = ranks[ranks["method"] == label]
            if mine.empty:
                continue
            last = mine[mine["round"] == mine["round"].max()]
            layers = sorted({layer_of(m) for m in last["module"]} - {None})
            kept = last[last["rank"] > 0]
            kept_layers = sorted({layer_of(m) for m in kept["module"]} - {None})
            lowest = kept_layers[0] if kept_layers else None
            per_layer = {
                layer: int(last[[layer_of(m) == layer for m in last["module"]]]["rank"].sum()) for layer in layers
            }
            rows.append(
                {
                    "run": run_dir.name,
                    "method": label,
                    "round": int(last["round"].iloc[0]),
                    "active_rank": int(last["rank"].sum()),
                    "modules": len(last),
                    "pruned_modules": int((last["rank"] == 0).sum()),
                    "pruned": " ".join(_short_module(m) for m in last[last["rank"] == 0]["module"]),
                    "rank_per_layer": " ".join(f"L{k}:{v}" for k, v in per_layer.items()),
                    "lowest_trained_layer": lowest,
                    "backprop_layers": (
                        "none (head only)"
                        if lowest is None
                        else f"{lowest}-{max(layers)} ({max(layers) - lowest + 1} of {len(layers)})"
                    ),
                    "calibration": json.dumps((info.get("calibration") or {}).get("params"))
                    if info.get("calibration")
                    else "",
                }
            )
    return pd.DataFrame(rows)


def standard_summary(run_dirs: Sequence[Path], out: Path, target_accuracy: float | None) -> Path:
    """standard.md, standard_comparisons.csv and allocations.csv over complete runs, with the report's rules:
    accuracy paired by seed, time and energy medians over uncontended windows, bytes exact. Methods are named by
    label: each section is one setting, so the report's cross-setting suffixes (`[cfg ...]`) would only add noise."""
    analysis = analyse([load_run(d) for d in run_dirs], BASELINE, target_accuracy)
    rows: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    lines = [
        "# Standard profile: FedARA against tuned baselines",
        "",
        "Generated by `benchmarks/paper_claims.py` from the complete runs under this folder; verdict rules as in "
        "docs/report.md (accuracy: last-30 % mean, paired by seed, t-test at 5 % and > 1 point; time and energy: "
        "medians over client windows not flagged contended or implausible, Mann-Whitney at 5 %, ties within 1.1x; "
        "bytes exact). Energy is whatever the runs measured; `estimated` energy is a CPU-time model, not a "
        "measurement. Spread: mean ± sample std [min, max] over seeds.",
        "",
    ]
    for group in analysis.groups:
        config = group.series[0].runs[0].run.config
        setting = f"{config['data']['dataset']}-a{config['partition']['alpha']}"
        by_label = {s.label: s for s in group.series}
        chance = f"{group.chance * 100:.1f} %" if group.chance is not None else "unknown"
        target = (
            f"{group.target * 100:.1f} % ({group.target_source})" if group.target is not None else group.target_source
        )
        lines += [
            f"## {setting}",
            "",
            f"Chance (majority class): {chance}. Target accuracy: {target}.",
            "",
            "| method | lr | seeds | last-30 % accuracy | final accuracy | bytes vs LoRA r0 | train time vs LoRA r0 "
            "(all rounds) | train time vs LoRA r0 (last 30 %) | energy vs LoRA r0 | rounds / MB / device s / J to "
            "target (reached) |",
            "| --- | ---: | ---: | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in group.series:
            row, line = _series_row(group, s, by_label.get(BASELINE), setting, config)
            rows.append(row)
            lines.append(line)
        lines += ["", "Paired verdicts (candidate vs each other method):", ""]
        lines += [_verdict_line(c) for c in analysis.comparisons if c.group is group]
        lines += ["", convergence_line(group.series)]
        if "fedara" in by_label:
            mine = [c for c in analysis.comparisons if c.group is group and c.candidate is by_label["fedara"]]
            claim_rows, claim_lines = paper_claims_section(group, mine, setting)
            claims += claim_rows
            lines += ["", *claim_lines]
        fedara, ablation = by_label.get("fedara"), by_label.get(ABLATION)
        if fedara is not None and ablation is not None:
            c = compare(group, ablation, fedara, "ablation")
            lines += ["", "Ablation, cost-aware allocation against plain FedARA:", "", _verdict_line(c)]
            lines.append(
                f"  - train time over the last 30 % of rounds: {_with_evidence(_last30_train(ablation, fedara))}"
            )
        lines.append("")
    allocations = final_allocations(run_dirs)
    if not allocations.empty:
        allocations.to_csv(out / "allocations.csv", index=False)
        lines += [
            "## FedARA's final allocation",
            "",
            "| run | method | active rank | pruned modules | rank per layer | layers still backpropagating |",
            "| --- | --- | ---: | --- | --- | --- |",
        ]
        for a in allocations.itertuples(index=False):
            lines.append(
                f"| {a.run} | {a.method} | {a.active_rank} | {a.pruned_modules} of {a.modules}: {a.pruned or '-'} | "
                f"{a.rank_per_layer} | {a.backprop_layers} |"
            )
    pd.DataFrame(rows).to_csv(out / "standard_comparisons.csv", index=False)
    pd.DataFrame(claims).to_csv(out / "claims.csv", index=False)
    path = out / "standard.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _series_row(
    group: Group, s: Series, base: Series | None, setting: str, config: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """One method of one setting: its row of standard_comparisons.csv and of standard.md's table."""
    lr = next((m.get("lr") for m in config["methods"] if m["name"] == s.label), None) or config["federation"]["lr"]
    acc = [r.metrics["last30_accuracy"] for r in s.runs]
    row: dict[str, Any] = {
        "setting": setting,
        "method": s.label,
        "seeds": len(s.runs),
        "lr": lr,
        "accuracy_last30_mean": _mean(acc),
        "accuracy_last30_std": _std(acc),
    }
    reached = [r for r in s.runs if not math.isnan(r.metrics["rounds_to_target"])]
    for key in ("rounds_to_target", "bytes_to_target", "time_to_target_s", "energy_to_target_j"):
        row[key] = _mean([r.metrics[key] for r in reached]) if reached else float("nan")
    row["reached_target"] = len(reached)
    to_target = "never"
    if reached:
        to_target = (
            f"{row['rounds_to_target']:.1f} / {row['bytes_to_target'] / 1e6:.1f} / "
            f"{_fmt(row['time_to_target_s'], '.0f')} / {_fmt(row['energy_to_target_j'], '.0f')} "
            f"({len(reached)}/{len(s.runs)})"
        )
    cells = ["-", "-", "-", "-"]
    if base is not None and s is not base:
        c = compare(group, s, base, "standard profile")
        train = c.measure("train time")
        last = _last30_train(s, base)
        energy_ratio, estimated = _energy_ratio(s, base)
        cells = [
            f"{c.bytes.value_text()} ({c.bytes.verdict})",
            _short(train),
            _short(last),
            f"{_fmt(energy_ratio, '.2f')}x{' (estimated)' if estimated else ''}",
        ]
        row |= {
            "bytes_ratio": c.bytes.ratio,
            "train_time_ratio": train.ratio if train else float("nan"),
            "train_time_verdict": train.text() if train else "n/a",
            "train_time_last30_ratio": last.ratio,
            "train_time_last30_verdict": last.text(),
            "energy_ratio": energy_ratio,
            "energy_estimated": estimated,
        }
    line = (
        f"| {s.label} | {lr:g} | {len(s.runs)} | {_spread(acc)} | "
        f"{_spread([r.metrics['final_accuracy'] for r in s.runs])} | {' | '.join(cells)} | {to_target} |"
    )
    return row, line


# FedARA paper (arXiv 2501.14406), abstract: accuracy over the baselines, communication, training time, energy.
PAPER_ACCURACY_PTS = (6.95, 8.49)
PAPER_COMMUNICATION_X = 2.40
PAPER_TIME_PCT = -48.90
PAPER_ENERGY_PCT = -46.95


def paper_claims_section(
    group: Group, fedara_comparisons: Sequence[Comparison], setting: str
) -> tuple[list[dict[str, Any]], list[str]]:
    """FedARA against every other baseline of a setting (the report's comparisons, FedARA the candidate), in the
    terms of the paper's four claims: accuracy gain (last-30 %, paired by seed), how many times fewer bytes,
    train-time and energy change in percent. Rows follow the setting's method order."""
    rows: list[dict[str, Any]] = []
    lines = [
        "The paper's four claims, FedARA against each baseline (accuracy: last-30 % mean difference paired by seed "
        "± sample std; time: median over clean client windows, all rounds / last 30 %; energy: total, with its "
        "provenance):",
        "",
        f"| baseline | accuracy gain, pts (paper +{PAPER_ACCURACY_PTS[0]:g} to +{PAPER_ACCURACY_PTS[1]:g}) | "
        f"communication, x fewer bytes (paper {PAPER_COMMUNICATION_X:.2f}x) | train time, all rounds / last 30 % "
        f"(paper {PAPER_TIME_PCT:+.2f} %) | energy (paper {PAPER_ENERGY_PCT:+.2f} %) |",
        "| --- | --- | ---: | --- | --- |",
    ]
    by_baseline = {c.baseline.label: c for c in fedara_comparisons}
    for c in (by_baseline[s.label] for s in group.series if s.label in by_baseline and s.label != ABLATION):
        base = c.baseline
        train, last = c.measure("train time"), _last30_train(c.candidate, base)
        energy_ratio, estimated = _energy_ratio(c.candidate, base)
        row = {
            "setting": setting,
            "baseline": base.label,
            "seeds": c.accuracy.n,
            "accuracy_gain_pts": c.accuracy.delta_pts,
            "accuracy_gain_std_pts": c.accuracy.std_pts,
            "accuracy_verdict": c.accuracy.verdict,
            "communication_x_fewer": 1 / c.bytes.ratio if c.bytes.ratio else float("nan"),
            "train_time_change_pct": _pct(train.ratio if train else float("nan")),
            "train_time_verdict": train.verdict if train else NOT_MEASURED,
            "train_time_last30_change_pct": _pct(last.ratio),
            "train_time_last30_verdict": last.verdict,
            "energy_change_pct": _pct(energy_ratio),
            "energy_provenance": "estimated" if estimated else "measured",
        }
        rows.append(row)
        lines.append(
            f"| {base.label} | {c.accuracy.value_text()} ({c.accuracy.verdict}) | "
            f"{_fmt(row['communication_x_fewer'], '.2f')}x | "
            f"{_fmt(row['train_time_change_pct'], '+.1f')} % ({row['train_time_verdict']}) / "
            f"{_fmt(row['train_time_last30_change_pct'], '+.1f')} % ({row['train_time_last30_verdict']}) | "
            f"{_fmt(row['energy_change_pct'], '+.1f')} % ({row['energy_provenance']}) |"
        )
    return rows, lines


def _energy_ratio(candidate: Series, baseline: Series) -> tuple[float, bool]:
    """Total energy of candidate / baseline (means over seeds), and whether either side is estimated."""
    ratio = candidate.mean("energy_total_j") / baseline.mean("energy_total_j")
    return ratio, candidate.energy_estimated or baseline.energy_estimated


def _pct(ratio: float) -> float:
    return (ratio - 1) * 100 if ratio is not None and not math.isnan(ratio) else float("nan")


RISING_PTS = 1.0  # a window-to-window gain above this, in every seed, counts as still rising


def window_accuracies(rounds: pd.DataFrame) -> tuple[float, float]:
    """Mean accuracy over the last 30 % of rounds and over the window of the same length just before it."""
    n = int(rounds["round"].max())
    k = last_share_rounds(n)
    acc = rounds.set_index("round")["eval_accuracy"]
    last = acc[acc.index > n - k].dropna()
    before = acc[(acc.index > n - 2 * k) & (acc.index <= n - k)].dropna()
    return (float(before.mean()) if len(before) else float("nan"), float(last.mean()) if len(last) else float("nan"))


def convergence_line(series: Sequence[Series]) -> str:
    """Whether the best method (highest mean last-30 % accuracy) was still improving when the runs stopped:
    its last-30 % window against the window before it, per seed."""
    windows = {s.label: [window_accuracies(r.rounds) for r in s.runs] for s in series}
    best = max(series, key=lambda s: _mean([last for _, last in windows[s.label]]))
    pairs = windows[best.label]
    gains = [(last - before) * 100 for before, last in pairs]
    n = int(best.runs[0].rounds["round"].max())
    k = last_share_rounds(n)
    rising = all(g > RISING_PTS for g in gains) and bool(gains)
    verdict = (
        f"**still rising** (every seed gained more than {RISING_PTS:g} point): more rounds would change the table"
        if rising
        else f"**not rising** (not every seed gained more than {RISING_PTS:g} point)"
    )
    return (
        f"Convergence: the best method by last-30 % accuracy is {best.label}; rounds {n - 2 * k + 1}-{n - k} "
        f"{_spread([b for b, _ in pairs])} -> rounds {n - k + 1}-{n} {_spread([a for _, a in pairs])}, change per seed "
        f"{', '.join(f'{g:+.1f}' for g in gains)} points: {verdict}."
    )


def _mean(values: Sequence[float]) -> float:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return sum(clean) / len(clean) if clean else float("nan")


def _std(values: Sequence[float]) -> float:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return float(pd.Series(clean).std(ddof=1)) if len(clean) > 1 else float("nan")


def _last30_train(candidate: Series, baseline: Series) -> MedianVerdict:
    """Train-time verdict over the last 30 % of rounds (after FedARA's budget has shrunk), clean windows only."""

    def tail(s: Series) -> pd.DataFrame:
        frames = []
        for r in s.runs:
            rounds = int(r.rounds["round"].max())
            frames.append(r.clients[r.clients["round"] > rounds - last_share_rounds(rounds)])
        return pd.concat(frames, ignore_index=True)

    cc, bc = tail(candidate), tail(baseline)
    return median_verdict("train time, last 30 % of rounds", "s", (cc, cc["train_s"]), (bc, bc["train_s"]), "train")


def _short(v: MedianVerdict | None) -> str:
    """A time or energy verdict in a table cell: `0.93x: tie`, or how few clean windows there were."""
    if v is None:
        return NOT_MEASURED
    if v.verdict == CONTAMINATED:
        cw, bw = v.candidate_windows, v.baseline_windows
        return f"contaminated: {cw.clean}/{cw.total - cw.missing} vs {bw.clean}/{bw.total - bw.missing} clean windows"
    return v.text()


def _with_evidence(v: MedianVerdict | None) -> str:
    if v is None:
        return NOT_MEASURED
    return v.text() if v.verdict in (CONTAMINATED, NOT_MEASURED) else f"{v.text()} ({v.evidence()})"


def _verdict_line(c: Comparison) -> str:
    return (
        f"- **{c.candidate.label} vs {c.baseline.label}** ({c.role}): accuracy {c.accuracy.text()}; bytes "
        f"{c.bytes.value_text()} ({c.bytes.verdict}); train time {_with_evidence(c.measure('train time'))}; "
        f"energy per client window {_with_evidence(c.measure('energy per client window'))}"
    )


# -- the command ---------------------------------------------------------------------------------------


def dataset_paths(args: argparse.Namespace, p: Profile) -> dict[str, str | None]:
    """Absolute dataset folders (data paths in a config resolve against its folder, which is under --out)."""
    root = args.datasets_dir or os.environ.get(DATASETS_ENV)
    paths: dict[str, str | None] = {"ag_news": args.ag_news, "20newsgroups": args.newsgroups}
    for name, folder in DATASET_FOLDERS.items():
        if paths[name] is None and root:
            paths[name] = str(Path(root) / folder)
    resolved = {k: str(Path(v).expanduser().resolve()) if v else None for k, v in paths.items()}
    if p.real_data:
        for dataset in p.datasets:
            where = resolved.get(dataset)
            if where is None or not Path(where).is_dir():
                found = f"{where} does not exist" if where else "no folder given"
                raise BenchmarkError(
                    f"the {args.profile} profile needs {dataset} ({found}): pass --datasets-dir DIR (a folder holding "
                    f"{', '.join(f'{f}/' for f in DATASET_FOLDERS.values())}), set ${DATASETS_ENV}, or pass "
                    "--ag-news / --newsgroups"
                )
    return resolved


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--datasets-dir", help=f"folder holding ag_news/ and 20newsgroups/ (default ${DATASETS_ENV})")
    parser.add_argument("--ag-news", help="AG News folder (official test.csv + train.csv or sat_mixtext_split/dev.csv)")
    parser.add_argument("--newsgroups", help="20 Newsgroups bydate folder (20news-bydate-train/-test)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--target-accuracy", type=float, default=None, help="default: 0.9 x LoRA r0's best accuracy")
    parser.add_argument(
        "--seeds",
        type=lambda text: tuple(int(x) for x in text.split(",")),
        default=None,
        help="comma-separated seeds instead of the profile's (e.g. 0,1,2)",
    )
    parser.add_argument(
        "--lr", type=float, default=0.01, help="AdamW learning rate of every method (profiles without tuned rates)"
    )
    parser.add_argument(
        "--lr-table",
        type=Path,
        help="tuned rates (standard profiles; default results/lr_tuning/, lr_tuning_stepsN/ with --local-steps N)",
    )
    parser.add_argument("--rounds", type=int, help="rounds instead of the profile's")
    parser.add_argument("--local-steps", type=int, help="local steps instead of the profile's")
    parser.add_argument("--max-test-examples", type=int, help="test rows evaluated instead of the profile's")
    parser.add_argument("--no-ablation", action="store_true", help="leave out the cost-aware FedARA ablation")
    parser.add_argument("--cells", default="", help="only cells whose name starts with one of these (comma-separated)")
    parser.add_argument("--exclude", default="", help="skip cells whose name starts with one of these")
    parser.add_argument("--max-hours", type=float, help="stop before a cell that would end past this many hours")
    parser.add_argument("--plan", action="store_true", help="time one round per method, write plan.md; run nothing")
    parser.add_argument("--budget-hours", type=float, default=BUDGET_HOURS, help="compute budget --plan fits into")
    parser.add_argument("--no-report", action="store_true")
    return parser.parse_args(argv)


def profile_from(args: argparse.Namespace) -> Profile:
    p = PROFILES[args.profile]
    overrides: dict[str, Any] = {}
    if args.seeds:
        overrides["seeds"] = args.seeds
    for field in ("rounds", "local_steps", "max_test_examples"):
        value = getattr(args, field)
        if value is not None:
            if value < 1:
                raise BenchmarkError(f"--{field.replace('_', '-')} must be >= 1 (got {value})")
            overrides[field] = value
    if args.no_ablation:
        overrides["cost_aware_ablation"] = False
    return replace(p, **overrides)


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def drive(name: str, work: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a benchmark driver's `work`: a BenchmarkError is one line and exit 2; SIGTERM or SIGINT end the
    run in progress as `interrupted` in its run.json (resumable) and exit 130."""
    try:
        with signals_interrupt():
            return work(args)
    except BenchmarkError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; re-run the same command to continue", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return drive("paper_claims", _main, parse_args(argv))


def _main(args: argparse.Namespace) -> int:
    p = profile_from(args)
    paths = dataset_paths(args, p)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    cells = select_cells(cells_of(p), _names(args.cells), _names(args.exclude))
    # The tables cover every complete cell of the profile under --out, not only this part's selection: a
    # part run with --cells must not drop the cells earlier parts completed.
    earlier = [c for c in cells_of(p) if c not in cells and run_status(out / "runs" / c.name) == "complete"]
    rates: dict[str, dict[str, float]] | None = None
    lr_table = args.lr_table or default_lr_table(PROFILES[args.profile].local_steps, p.local_steps)
    if p.tuned_lr and not (args.plan and not lr_table.is_file()):
        needed = list(p.datasets) if args.plan else datasets_of([*cells, *earlier])
        rates = read_lr_table(lr_table, needed, tuned_methods(p), p.local_steps)

    if args.plan:
        timings = []
        validation: dict[str, int] = {}
        for dataset in p.datasets:  # every dataset is timed, whatever --cells selects
            cell = Cell(dataset, p.alphas[0], p.seeds[0])
            lrs = rates[dataset] if rates else None
            doc = experiment(dataset, cell.alpha, cell.seed, paths, p, args.lr, lrs)
            config = write_config(out / "plan", cell.name, doc)
            timings += time_first_rounds(config, out / "plan" / "runs" / dataset)
            meta = json.loads((out / "plan" / "runs" / dataset / config.methods[0].label / "run.json").read_text())
            validation[dataset] = round(meta["data"]["train_examples"] * VALIDATION_FRACTION)
        plan = write_plan(p, cells, pd.DataFrame(timings), out, args.budget_hours, validation)
        print((out / "plan.md").read_text())
        print(f"estimate: {plan['estimate_hours']:.1f} h for the profile, {plan['tuning_estimate_hours']:.1f} h tuning")
        return 0

    def document(cell: Cell) -> dict[str, Any]:
        lrs = rates[cell.dataset] if rates else None
        return experiment(cell.dataset, cell.alpha, cell.seed, paths, p, args.lr, lrs)

    for cell in earlier:  # an earlier part made with other flags would mix two settings in one table
        check_same_config(config_of(document(cell), out / "configs" / f"{cell.name}.yaml"), out / "runs" / cell.name)
    jobs = [(cell, write_config(out, cell.name, document(cell)), out / "runs" / cell.name) for cell in cells]
    planned = plan_estimate(out)
    run_dirs = [d for _, _, d in jobs]

    def estimate(cell: Cell) -> float | None:
        return measured_cell_s(run_dirs, cell.dataset) or planned.get(cell.dataset)

    left = run_cells(jobs, args.max_hours, estimate)
    complete = [d for d in (out / "runs" / c.name for c in cells_of(p)) if run_status(d) == "complete"]
    if not complete:
        print("no complete cell yet: no tables")
        return 0
    result = ratio_tables(complete, out, args.target_accuracy)
    with pd.option_context("display.max_columns", None, "display.width", 250, "display.float_format", "{:.3f}".format):
        print(
            result[
                [
                    "setting",
                    "method",
                    "final_accuracy",
                    "accuracy_delta_pts",
                    "accuracy_last30",
                    "accuracy_last30_delta_pts",
                    "total_bytes_vs_lora_r0",
                    "bytes_to_target_vs_lora_r0",
                    "train_s_last30_vs_lora_r0",
                    "peak_rss_bytes_vs_lora_r0",
                    "energy_j_vs_lora_r0",
                    "final_active_rank",
                    "final_active_modules",
                ]
            ].to_string(index=False)
        )
    if p.tuned_lr:
        print(f"standard summary: {standard_summary(complete, out, args.target_accuracy)}")
    if not args.no_report:
        from edgebench.report.build import build_report

        report = build_report(complete, out / "report", baseline=BASELINE)
        print(f"report: {report.html}")
    print(f"ratios: {out / 'ratios.csv'}")
    if left:
        print(f"{len(left)} cell(s) not run yet: {', '.join(c.name for c in left)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
