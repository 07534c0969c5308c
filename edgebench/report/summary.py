"""Group runs into series (settings x device x method), aggregate seeds, compare with the baseline.

A *series* is one method label on one device under one set of shared settings (the config without
seed, device, methods and output). Runs of a series that differ only by seed are aggregated to mean,
sample std and n. Rows of a method that did not finish (failed or killed run) are used only when
the series has no finished run, and the series is then marked `partial`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from edgebench.methods import methods_with_role
from edgebench.report.load import RunData
from edgebench.report.metrics import completed_only, method_metrics, per_round

# Summary metrics aggregated over seeds (mean, std); units in the names.
METRICS = (
    "rounds_completed",
    "final_accuracy",
    "best_accuracy",
    "rounds_to_target",
    "bytes_to_target",
    "bytes_down_total",
    "bytes_up_total",
    "bytes_total",
    "client_download_s_per_round",
    "client_train_s_per_round",
    "client_upload_s_per_round",
    "client_total_s_per_round",
    "round_s_mean",
    "clients_rejected",
    "energy_total_j",
    "energy_per_round_j",
    "energy_net_total_j",
    "energy_net_per_round_j",
    "peak_rss_bytes",
    "peak_accel_bytes",
    "final_active_rank",
    "final_active_modules",
    "modules",
    "pruned_modules",
)
PER_ROUND_VALUES = (
    "eval_accuracy",
    "cum_bytes",
    "download_s",
    "train_s",
    "upload_s",
    "total_s",
    "energy_j",
    "energy_net_j",
    "peak_rss_bytes",
    "peak_accel_bytes",
    "active_rank",
    "budget",
    "pruned_modules",
)
# (name in the phrase, metric, lower is better)
RATIOS = (
    ("bytes", "bytes_total", "bytes_ratio"),
    ("train time", "client_train_s_per_round", "train_time_ratio"),
    ("energy", "energy_total_j", "energy_ratio"),
    ("net energy", "energy_net_total_j", "energy_net_ratio"),
)


@dataclass
class MethodRun:
    """One method's rows in one run directory, with its summary numbers."""

    run: RunData
    label: str
    clients: pd.DataFrame
    rounds: pd.DataFrame
    ranks: pd.DataFrame
    metrics: dict[str, Any]
    rounds_frame: pd.DataFrame
    partial: bool


@dataclass
class Series:
    """One method on one device under one set of settings, over one or more seeds."""

    settings: str
    device: str
    label: str
    params: str
    registry: str
    runs: list[MethodRun] = field(default_factory=list)
    excluded: list[MethodRun] = field(default_factory=list)
    display: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.settings, self.device, self.label, self.params)

    @property
    def partial(self) -> bool:
        return any(r.partial for r in self.runs)

    @property
    def seeds(self) -> list[int | None]:
        return [r.run.seed for r in self.runs]

    @property
    def energy_estimated(self) -> bool:
        return any(r.metrics["energy_estimated"] for r in self.runs)

    def per_round(self) -> pd.DataFrame:
        """Per-round values averaged over seeds: `<value>` (mean), `<value>_std`, `n` and `energy_estimated`."""
        frames = [r.rounds_frame.assign(_run=i) for i, r in enumerate(self.runs)]
        if not frames:
            return pd.DataFrame(columns=["round", "n", "energy_estimated"])
        rows = pd.concat(frames, ignore_index=True)
        grouped = rows.groupby("round")
        out = grouped[list(PER_ROUND_VALUES)].mean()
        std = grouped[list(PER_ROUND_VALUES)].std(ddof=1).add_suffix("_std")
        out = out.join(std)
        out["n"] = grouped.size()
        out["energy_estimated"] = grouped["energy_estimated"].any()
        return out.reset_index()


@dataclass
class Analysis:
    """Everything the renderers need: runs, series, the summary table and the headline."""

    runs: list[RunData]
    series: list[Series]
    summary: pd.DataFrame
    headline: list[dict[str, Any]]
    notes: list[tuple[str, str]]
    baseline: str
    target_accuracy: float | None

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(s.device for s in self.series))


def collect_series(runs: Sequence[RunData], target_accuracy: float | None) -> list[Series]:
    """Split every usable run into method runs and group them into series (first-seen order)."""
    series: dict[tuple[str, str, str, str], Series] = {}
    for run in runs:
        if not run.usable:
            continue
        for label in run.labels:
            clients, rounds, ranks = completed_only(*run.rows(label))
            if rounds.empty:
                continue
            mr = MethodRun(
                run=run,
                label=label,
                clients=clients,
                rounds=rounds,
                ranks=ranks,
                metrics=method_metrics(clients, rounds, ranks, target_accuracy),
                rounds_frame=per_round(clients, rounds, ranks),
                partial=not run.method_complete(label),
            )
            key = (run.settings_key, run.device, label, run.params_key(label))
            s = series.setdefault(key, Series(*key, registry=run.registry_name(label)))
            s.runs.append(mr)
    for s in series.values():
        if any(not r.partial for r in s.runs):
            s.excluded = [r for r in s.runs if r.partial]
            s.runs = [r for r in s.runs if not r.partial]
    out = list(series.values())
    _name_series(out)
    return out


def _name_series(series: list[Series]) -> None:
    """Display names: the label, plus device / settings / params only where they tell series apart."""
    devices = {s.device for s in series}
    settings = {s.settings for s in series}
    for s in series:
        name = s.label
        if len(devices) > 1:
            name += f" @ {s.device}"
        if len(settings) > 1:
            name += f" [cfg {s.settings}]"
        twins = [t for t in series if (t.settings, t.device, t.label) == (s.settings, s.device, s.label)]
        if len(twins) > 1:
            name += f" (params {s.params})"
        if s.partial:
            name += " (partial)"
        s.display = name


def _mean_std(values: list[float]) -> tuple[float, float, int]:
    arr = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan"), 0
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else float("nan"), int(arr.size)


def series_row(s: Series) -> dict[str, Any]:
    """The summary row of one series (mean and std over its runs)."""
    row: dict[str, Any] = {
        "series": s.display,
        "method": s.label,
        "registry_method": s.registry,
        "device": s.device,
        "settings": s.settings,
        "n_runs": len(s.runs),
        "seeds": " ".join(str(x) for x in s.seeds),
        "runs": " ".join(r.run.name for r in s.runs),
        "data": "partial" if s.partial else "complete",
    }
    for metric in METRICS:
        mean, std, _ = _mean_std([r.metrics[metric] for r in s.runs])
        row[metric] = mean
        row[f"{metric}_std"] = std
    reached = sum(1 for r in s.runs if not math.isnan(r.metrics["rounds_to_target"]))
    row["target_reached"] = f"{reached}/{len(s.runs)}"
    measured = sum(r.metrics["energy_windows_measured"] for r in s.runs)
    windows = sum(r.metrics["energy_windows"] for r in s.runs)
    row["energy_coverage"] = measured / windows if windows else float("nan")
    row["energy_provenance"] = " | ".join(dict.fromkeys(p for r in s.runs for p in r.metrics["energy_provenance"]))
    row["energy_estimated"] = s.energy_estimated
    row["energy_missing_provenance"] = " | ".join(
        dict.fromkeys(p for r in s.runs for p in r.metrics["energy_missing_provenance"])
    )
    row["memory_provenance"] = " | ".join(dict.fromkeys(p for r in s.runs for p in r.metrics["memory_provenance"]))
    row["ranks_vary"] = any(r.metrics["ranks_vary"] for r in s.runs)
    row["has_budget"] = any(r.metrics["has_budget"] for r in s.runs)
    return row


def _baseline_method(series: Sequence[Series]) -> str:
    """The registry name of the first series whose method has the baseline role, else the first label.

    A registry name, as `--baseline NAME` would give: a method run under several labels (say at two ranks)
    then has no single baseline series, and its ratios stay blank rather than picking one of them.
    """
    baselines = methods_with_role("baseline")
    first = next((s.registry for s in series if s.registry in baselines), None)
    return first or (series[0].label if series else "")


def find_baseline(series: list[Series], candidate: Series, baseline: str) -> Series | None:
    """The baseline series next to `candidate`: same settings and device, label (else registry) == baseline."""
    peers = [s for s in series if (s.settings, s.device) == (candidate.settings, candidate.device)]
    for s in peers:
        if s.label == baseline:
            return s
    by_registry = [s for s in peers if s.registry == baseline]
    return by_registry[0] if len(by_registry) == 1 else None


def ratio_phrase(row: dict[str, Any]) -> str:
    """e.g. "bytes 0.41x, train time 0.62x, energy 0.66x (estimated), accuracy +2.3 pts"."""
    parts = []
    for name, _, col in RATIOS:
        value = row.get(col, float("nan"))
        if name == "net energy" and math.isnan(value):
            continue
        text = f"{name} {value:.2f}x" if not math.isnan(value) else f"{name} n/a"
        if name.endswith("energy") and not math.isnan(value) and row.get("ratio_energy_estimated"):
            text += " (estimated)"
        parts.append(text)
    delta = row.get("accuracy_delta_pts", float("nan"))
    parts.append(f"accuracy {delta:+.1f} pts" if not math.isnan(delta) else "accuracy n/a")
    return ", ".join(parts)


def add_ratios(table: pd.DataFrame, series: list[Series], baseline: str) -> pd.DataFrame:
    """Ratio columns (series / baseline) and the `vs_baseline` phrase; blank for the baseline itself."""
    rows = table.to_dict("records")
    index = {s.display: i for i, s in enumerate(series)}
    for row, s in zip(rows, series, strict=True):
        base = find_baseline(series, s, baseline)
        row["baseline_series"] = base.display if base else ""
        if base is None or base is s:
            for _, _, col in RATIOS:
                row[col] = float("nan")
            row["accuracy_delta_pts"] = float("nan")
            row["ratio_energy_estimated"] = False
            row["vs_baseline"] = "baseline" if base is s else f"no baseline '{baseline}' on this device/settings"
            continue
        brow = rows[index[base.display]]
        for _, metric, col in RATIOS:
            num, den = row[metric], brow[metric]
            row[col] = num / den if not (math.isnan(num) or math.isnan(den)) and den != 0 else float("nan")
        fa, fb = row["final_accuracy"], brow["final_accuracy"]
        row["accuracy_delta_pts"] = (fa - fb) * 100 if not (math.isnan(fa) or math.isnan(fb)) else float("nan")
        row["ratio_energy_estimated"] = bool(row["energy_estimated"] or brow["energy_estimated"])
        row["vs_baseline"] = ratio_phrase(row)
    return pd.DataFrame(rows)


def _verdict(value: float, lower_is_better: bool, tolerance: float = 1e-9) -> str:
    if math.isnan(value):
        return "n/a"
    if lower_is_better:
        value = 1.0 - value
    if abs(value) <= tolerance:
        return "tie"
    return "better" if value > 0 else "worse"


def headline(table: pd.DataFrame, series: list[Series], baseline: str) -> list[dict[str, Any]]:
    """Per settings x device: did each candidate method (else the best non-baseline method) beat the baseline?"""
    out = []
    rows = {r["series"]: r for r in table.to_dict("records")}
    groups = list(dict.fromkeys((s.settings, s.device) for s in series))
    candidate_methods = methods_with_role("candidate")
    for settings, device in groups:
        peers = [s for s in series if (s.settings, s.device) == (settings, device)]
        base = next((s for s in peers if s.label == baseline), None) or (
            find_baseline(series, peers[0], baseline) if peers else None
        )
        others = [s for s in peers if s is not base]
        candidates = [s for s in others if s.registry in candidate_methods]
        if not candidates and others:
            candidates = [max(others, key=lambda s: _nan_low(rows[s.display]["final_accuracy"]))]
        for cand in candidates:
            r = rows[cand.display]
            if cand.registry in candidate_methods:
                chosen_by = f"registry method {cand.registry}"
            else:
                chosen_by = f"best final accuracy among non-baseline methods (no {' or '.join(candidate_methods)} run)"
            entry = {
                "settings": settings,
                "device": device,
                "candidate": cand.display,
                "baseline": base.display if base else "",
                "candidate_label": cand.label,
                "baseline_label": base.label if base else "",
                "chosen_by": chosen_by,
                "partial": cand.partial or bool(base and base.partial),
                "bytes": (r["bytes_ratio"], _verdict(r["bytes_ratio"], True)),
                "train time": (r["train_time_ratio"], _verdict(r["train_time_ratio"], True)),
                "energy": (r["energy_ratio"], _verdict(r["energy_ratio"], True)),
                "accuracy": (r["accuracy_delta_pts"], _verdict(r["accuracy_delta_pts"], False)),
                "energy_estimated": bool(r["ratio_energy_estimated"]),
                "estimated_series": [s.display for s in (cand, base) if s is not None and s.energy_estimated],
                "phrase": r["vs_baseline"],
            }
            out.append(entry)
    return out


def _nan_low(value: float) -> float:
    return -math.inf if value is None or math.isnan(value) else value


def analyse(runs: Sequence[RunData], baseline: str | None, target_accuracy: float | None) -> Analysis:
    """Series, summary table with ratios, headline and data notes for a set of loaded runs.

    `baseline` None: see `_baseline_method`.
    """
    series = collect_series(runs, target_accuracy)
    if baseline is None:
        baseline = _baseline_method(series)
    notes: list[tuple[str, str]] = []
    table = pd.DataFrame([series_row(s) for s in series])
    if series:
        table = add_ratios(table, series, baseline)
    if series and not any(s.label == baseline or s.registry == baseline for s in series):
        notes.append(("Baseline", f"no method labelled '{baseline}' in these runs; ratios are left blank"))
    if target_accuracy is None:
        notes.append(("Target accuracy", "no target accuracy given (--target-accuracy), rounds/bytes to target blank"))
    else:
        for s, row in zip(series, table.to_dict("records"), strict=True):
            if row["target_reached"].startswith("0/"):
                notes.append(
                    ("Target accuracy", f"{s.display} never reached {target_accuracy:g}; its columns are blank")
                )
    for run in runs:
        if not run.usable:
            notes.append(("Runs", f"{run.name}: skipped ({'; '.join(run.problems)})"))
    for s in series:
        for r in s.excluded:
            notes.append(
                (
                    "Runs",
                    f"{r.run.name}: {s.label} did not finish ({r.run.status}); its {r.metrics['rounds_completed']} "
                    f"completed rounds are not used because finished runs of {s.display} exist",
                )
            )
        if s.partial:
            done = ", ".join(f"{r.run.name}: {r.metrics['rounds_completed']} rounds" for r in s.runs)
            notes.append(("Runs", f"{s.display}: only unfinished runs ({done}); its figures are marked partial"))
    heads = headline(table, series, baseline) if series else []
    return Analysis(list(runs), series, table, heads, notes, baseline, target_accuracy)
