"""Group runs into series (settings x device x method), aggregate seeds, compare the candidate with every baseline.

A *series* is one method label on one device under one set of shared settings (the config without
seed, device, methods and output). Runs of a series that differ only by seed are aggregated to mean,
sample std and n. Rows of a method that did not finish (failed or killed run) are used only when
the series has no finished run, and the series is then marked `partial`.

A *group* is one device under one set of settings: its series are compared with each other. Each group
has a chance level (majority-class rate), a target accuracy (given, else 95 % of the best last-30 %
accuracy) and a byte budget (the smallest series' total bytes). Verdict rules: edgebench.report.verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from edgebench.methods import methods_with_role
from edgebench.report.load import Delivery, RunData
from edgebench.report.metrics import (
    TO_TARGET,
    accepted,
    accuracy_within_bytes,
    completed_only,
    is_estimated,
    method_metrics,
    per_round,
    to_target,
)
from edgebench.report.verdicts import (
    CHANCE_MARGIN,
    NOT_MEASURED,
    TARGET_SHARE,
    AccuracyVerdict,
    BytesVerdict,
    MedianVerdict,
    accuracy_verdict,
    bytes_verdict,
    clean_values,
    did_not_learn,
    median_verdict,
    refuse_across_engines,
)

# Summary metrics aggregated over seeds (mean, std); units in the names.
METRICS = (
    "rounds_completed",
    "final_accuracy",
    "best_accuracy",
    "last30_accuracy",
    *TO_TARGET,
    "accuracy_at_budget",
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
    "comm_time_est_s_per_window",
    "comm_energy_est_j_per_round",
    "comm_time_est_total_s",
    "comm_energy_est_total_j",
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
# (name in the phrase, metric, ratio column)
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
    """One method on one device under one set of settings and one engine, over one or more seeds."""

    settings: str
    device: str
    label: str
    params: str
    engine: str
    registry: str
    runs: list[MethodRun] = field(default_factory=list)
    excluded: list[MethodRun] = field(default_factory=list)
    display: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.settings, self.device, self.label, self.params, self.engine)

    def delivery(self) -> Delivery:
        """Dropouts, rejected replies and partial rounds over the series' runs."""
        parts = [r.run.delivery(r.label) for r in self.runs]
        return Delivery(
            sum(d.sampled for d in parts),
            sum(d.dropped for d in parts),
            sum(d.rejected for d in parts),
            tuple(sorted({rnd for d in parts for rnd in d.partial_rounds})),
        )

    @property
    def partial(self) -> bool:
        return any(r.partial for r in self.runs)

    @property
    def seeds(self) -> list[int | None]:
        return [r.run.seed for r in self.runs]

    @property
    def energy_estimated(self) -> bool:
        return any(r.metrics["energy_estimated"] for r in self.runs)

    @property
    def group(self) -> tuple[str, str]:
        return (self.settings, self.device)

    @property
    def params_dict(self) -> dict[str, Any]:
        mr = (self.runs or self.excluded)[0]
        return mr.run.params(self.label)

    def mean(self, metric: str) -> float:
        """Mean of one of `metrics` over the series' runs (unmeasured runs left out; NaN when none measured)."""
        return _mean_std([r.metrics[metric] for r in self.runs])[0]

    def provenance(self, key: str) -> list[str]:
        """The distinct texts of one provenance list of `metrics` (e.g. `energy_provenance`) over the runs."""
        return list(dict.fromkeys(p for r in self.runs for p in r.metrics[key]))

    def clients(self) -> pd.DataFrame:
        """Client rows of every run of the series (all seeds), freshly indexed."""
        frames = [r.clients for r in self.runs if not r.clients.empty]
        return pd.concat(frames, ignore_index=True) if frames else (self.runs[0].clients.iloc[0:0].copy())

    def accuracy_by_seed(self) -> dict[object, float]:
        """Last-30 % accuracy per seed (runs without a seed keyed by directory; a repeated seed averaged)."""
        values: dict[object, list[float]] = {}
        for r in self.runs:
            key = r.run.seed if r.run.seed is not None else str(r.run.path)
            values.setdefault(key, []).append(r.metrics["last30_accuracy"])
        return {k: _mean_std(v)[0] for k, v in values.items()}

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
class Group:
    """One device under one set of settings: chance level, target accuracy and byte budget of its series."""

    settings: str
    device: str
    series: list[Series]
    chance: float | None = None
    chance_source: str = ""
    target: float | None = None
    target_source: str = ""
    budget_bytes: float = float("nan")
    budget_series: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.settings, self.device)


@dataclass
class Comparison:
    """The candidate against one other method of its group, every measure with its verdict."""

    group: Group
    candidate: Series
    baseline: Series
    role: str
    chosen_by: str
    bytes: BytesVerdict
    time: list[MedianVerdict]
    energy: list[MedianVerdict]
    accuracy: AccuracyVerdict

    @property
    def partial(self) -> bool:
        return self.candidate.partial or self.baseline.partial

    def measure(self, quantity: str) -> MedianVerdict | None:
        return next((v for v in (*self.time, *self.energy) if v.quantity == quantity), None)

    def verdict(self, quantity: str) -> str:
        """The verdict on `bytes`, `accuracy` or one time or energy quantity (`n/a` when not compared)."""
        if quantity == "bytes":
            return self.bytes.verdict
        if quantity == "accuracy":
            return self.accuracy.verdict
        v = self.measure(quantity)
        return NOT_MEASURED if v is None else v.verdict


@dataclass
class Analysis:
    """Everything the renderers need: runs, series, groups, the summary table and the comparisons."""

    runs: list[RunData]
    series: list[Series]
    summary: pd.DataFrame
    comparisons: list[Comparison]
    notes: list[tuple[str, str]]
    baseline: str
    target_accuracy: float | None
    groups: list[Group] = field(default_factory=list)

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(s.device for s in self.series))

    @property
    def chance_levels(self) -> list[tuple[float, str]]:
        """Distinct (majority-class rate, source) over the groups."""
        levels = {}
        for g in self.groups:
            if g.chance is not None:
                levels.setdefault(round(g.chance, 9), (g.chance, g.chance_source))
        return list(levels.values())


def collect_series(runs: Sequence[RunData]) -> list[Series]:
    """Split every usable run into method runs and group them into series (first-seen order)."""
    series: dict[tuple[str, str, str, str, str], Series] = {}
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
                metrics=method_metrics(clients, rounds, ranks),
                rounds_frame=per_round(clients, rounds, ranks),
                partial=not run.method_complete(label),
            )
            key = (run.settings_key, run.device, label, run.params_key(label), run.engine)
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
    """Display names: the label, plus device / settings / engine / params only where they tell series apart."""
    devices = {s.device for s in series}
    settings = {s.settings for s in series}
    engines = {s.engine for s in series}
    for s in series:
        name = s.label
        if len(devices) > 1:
            name += f" @ {s.device}"
        if len(settings) > 1:
            name += f" [cfg {s.settings}]"
        if len(engines) > 1:
            name += f" [{s.engine}]"
        twins = [
            t for t in series if (t.settings, t.device, t.label, t.engine) == (s.settings, s.device, s.label, s.engine)
        ]
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
        "engine": s.engine,
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
    row["energy_provenance"] = " | ".join(s.provenance("energy_provenance"))
    row["energy_estimated"] = s.energy_estimated
    row["energy_missing_provenance"] = " | ".join(s.provenance("energy_missing_provenance"))
    row["memory_provenance"] = " | ".join(s.provenance("memory_provenance"))
    row["ranks_vary"] = any(r.metrics["ranks_vary"] for r in s.runs)
    row["has_budget"] = any(r.metrics["has_budget"] for r in s.runs)
    row.update(window_summary(s))
    delivery = s.delivery()
    row["clients_sampled"] = delivery.sampled
    row["clients_dropped"] = delivery.dropped
    row["partial_rounds"] = " ".join(str(r) for r in delivery.partial_rounds)
    return row


def window_summary(s: Series) -> dict[str, Any]:
    """Clean-window medians (client window, estimated link, end-to-end) and counts of flagged windows."""
    clients = s.clients()
    out: dict[str, Any] = {}
    compute, w = clean_values(clients, clients["total_s"], None)
    link, _ = clean_values(clients, clients["comm_time_est_s"], None)
    e2e, _ = clean_values(clients, _values(clients, "end_to_end"), None)
    out["windows"] = w.total
    out["windows_clean"] = w.clean
    out["windows_contended"] = w.excluded.get("contended", 0)
    out["windows_implausible"] = w.excluded.get("implausible", 0)
    out["windows_excluded"] = w.excluded_windows
    out["window_s_median_clean"] = float(compute.median())
    out["link_s_median_est"] = float(link.median())
    out["end_to_end_s_median"] = float(e2e.median())
    other = accepted(clients)["other_cpu_cores"]
    out["other_cpu_cores_median"] = float(other.median())
    out["other_cpu_cores_max"] = float(other.max())
    return out


def _baseline_method(series: Sequence[Series]) -> str:
    """The registry name of the first series whose method has the baseline role, else the first label.

    A registry name, as `--baseline NAME` would give: a method run under several labels (say at two ranks)
    then has no single baseline series, and its ratios stay blank rather than picking one of them.
    """
    baselines = methods_with_role("baseline")
    first = next((s.registry for s in series if s.registry in baselines), None)
    return first or (series[0].label if series else "")


def find_baseline(series: list[Series], candidate: Series, baseline: str) -> Series | None:
    """The baseline series next to `candidate`: same settings, device and engine, label (else registry) == baseline."""
    peers = [
        s
        for s in series
        if (s.settings, s.device, s.engine) == (candidate.settings, candidate.device, candidate.engine)
    ]
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


# -- groups: chance level, target, byte budget --------------------------------------------------------


def build_groups(series: list[Series], target_accuracy: float | None) -> list[Group]:
    """One Group per settings x device, with its chance level, target accuracy and byte budget; fills in
    every method run's cost-to-target and accuracy-within-budget metrics."""
    groups = []
    for key in dict.fromkeys(s.group for s in series):
        members = [s for s in series if s.group == key]
        g = Group(*key, series=members)
        first = members[0].runs[0].run
        g.chance, g.chance_source = first.majority_class()
        means = {s.display: s.mean("last30_accuracy") for s in members}
        if target_accuracy is not None:
            g.target, g.target_source = target_accuracy, "given (--target-accuracy)"
        else:
            learned = {k: v for k, v in means.items() if not math.isnan(v) and not did_not_learn(v, g.chance)}
            if learned:
                best = max(learned, key=lambda k: learned[k])
                g.target = TARGET_SHARE * learned[best]
                g.target_source = (
                    f"{TARGET_SHARE * 100:g} % of the best last-30 % accuracy ({best}: {learned[best] * 100:.1f} %)"
                )
            else:
                g.target_source = (
                    f"no method learned (all within {CHANCE_MARGIN * 100:g} pts of the majority-class rate): no target"
                )
        totals = {s.display: s.mean("bytes_total") for s in members}
        totals = {k: v for k, v in totals.items() if not math.isnan(v)}
        if totals:
            g.budget_series = min(totals, key=lambda k: totals[k])
            g.budget_bytes = totals[g.budget_series]
        for s in members:
            for mr in (*s.runs, *s.excluded):
                mr.metrics.update(to_target(mr.rounds_frame, mr.clients, g.target))
                mr.metrics["accuracy_at_budget"] = accuracy_within_bytes(mr.rounds_frame, g.budget_bytes)
        groups.append(g)
    return groups


# -- comparisons --------------------------------------------------------------------------------------

# (quantity, unit, phase, column of the client rows; `end_to_end`: see _values)
TIME_MEASURES = (
    ("download time", "s", "download", "download_s"),
    ("train time", "s", "train", "train_s"),
    ("upload time", "s", "upload", "upload_s"),
    ("client window time", "s", None, "total_s"),
    ("end-to-end round time (window + estimated link)", "s", None, "end_to_end"),
)
ENERGY_MEASURES = (
    ("energy per client window", "J", None, "energy_j"),
    ("download energy", "J", "download", "download_energy_j"),
    ("train energy", "J", "train", "train_energy_j"),
    ("upload energy", "J", "upload", "upload_energy_j"),
)


def _values(clients: pd.DataFrame, column: str) -> pd.Series:
    """A clients.csv column, or `end_to_end`: the measured client window plus the estimated link time."""
    if column == "end_to_end":
        return clients["total_s"] + clients["comm_time_est_s"]
    return clients[column]


def baseline_role(candidate: Series, other: Series) -> str:
    """How `other` relates to the candidate: at the candidate's r0 (same start), at its r_target (same final
    budget), another baseline, or another method; e.g. `same start, r = r0 = 12`."""
    cp, op = candidate.params_dict, other.params_dict
    r = op.get("r")
    if isinstance(r, int | float) and not isinstance(r, bool):
        r0, rt = cp.get("r0"), cp.get("r_target")
        same_start = isinstance(r0, int | float) and float(r0) == float(r)
        same_final = isinstance(rt, int | float) and float(rt) == float(r)
        if same_start and same_final:
            return f"same start and final budget, r = r0 = r_target = {r:g}"
        if same_start:
            return f"same start, r = r0 = {r:g}"
        if same_final:
            return f"same final budget, r = r_target = {r:g}"
    if other.registry in methods_with_role("baseline"):
        return "other baseline"
    return "other method"


_ROLE_ORDER = ("same start and final budget", "same start", "same final budget", "other baseline")


def _role_rank(role: str) -> int:
    return next((i for i, key in enumerate(_ROLE_ORDER) if role.startswith(key)), len(_ROLE_ORDER))


def compare(group: Group, candidate: Series, other: Series, chosen_by: str) -> Comparison:
    """Every verdict of `candidate` against `other` (see edgebench.report.verdicts for the rules); across
    engines, no time or energy verdict unless neither side has a contended window."""
    cc, oc = candidate.clients(), other.clients()
    time = [
        median_verdict(q, u, (cc, _values(cc, col)), (oc, _values(oc, col)), ph, estimated=col == "end_to_end")
        for q, u, ph, col in TIME_MEASURES
    ]
    energy = []
    estimated = any(is_estimated(p) for p in (*cc["energy_provenance"], *oc["energy_provenance"]))
    for q, u, ph, col in ENERGY_MEASURES:
        v = median_verdict(q, u, (cc, _values(cc, col)), (oc, _values(oc, col)), ph, estimated)
        if ph is None or v.verdict != "n/a":
            energy.append(v)
    if candidate.engine != other.engine:
        time = [refuse_across_engines(v) for v in time]
        energy = [refuse_across_engines(v) for v in energy]
    accuracy = accuracy_verdict(
        candidate.accuracy_by_seed(), other.accuracy_by_seed(), group.chance, (candidate.display, other.display)
    )
    role = baseline_role(candidate, other)
    bytes_ = bytes_verdict(candidate.mean("bytes_total"), other.mean("bytes_total"))
    return Comparison(group, candidate, other, role, chosen_by, bytes_, time, energy, accuracy)


def comparisons(groups: list[Group], baseline: str) -> list[Comparison]:
    """Per group: every candidate (registered role `candidate`; without one, the best non-baseline method by
    last-30 % accuracy) against every other method of the group, same-start and same-budget baselines first."""
    out = []
    candidate_methods = methods_with_role("candidate")
    for g in groups:
        candidates = [s for s in g.series if s.registry in candidate_methods]
        chosen_by = f"registered role candidate ({', '.join(sorted({s.registry for s in candidates}))})"
        if not candidates:
            named = [s for s in g.series if s.label == baseline or s.registry == baseline]
            others = [s for s in g.series if s not in named] or g.series[1:]
            if not others:
                continue
            best = max(others, key=lambda s: _nan_low(s.mean("last30_accuracy")))
            candidates = [best]
            chosen_by = (
                f"best last-30 % accuracy among methods other than the baseline '{baseline}' "
                f"(no {' or '.join(candidate_methods)} run)"
            )
        for cand in candidates:
            rest = [compare(g, cand, s, chosen_by) for s in g.series if s is not cand and s not in candidates]
            out += sorted(rest, key=lambda c: _role_rank(c.role))
    return out


def _nan_low(value: float) -> float:
    return -math.inf if value is None or math.isnan(value) else value


def analyse(runs: Sequence[RunData], baseline: str | None, target_accuracy: float | None) -> Analysis:
    """Series, groups, summary table with ratios, comparisons and data notes for a set of loaded runs.

    `baseline` None: see `_baseline_method`.
    """
    series = collect_series(runs)
    if baseline is None:
        baseline = _baseline_method(series)
    groups = build_groups(series, target_accuracy)
    notes: list[tuple[str, str]] = []
    table = pd.DataFrame([series_row(s) for s in series])
    if series:
        group_of = [next(g for g in groups if g.key == s.group) for s in series]
        table["chance"] = [_or_nan(g.chance) for g in group_of]
        table["target"] = [_or_nan(g.target) for g in group_of]
        table["budget_bytes"] = [_or_nan(g.budget_bytes) for g in group_of]
        table["did_not_learn"] = [
            did_not_learn(last30, g.chance) for last30, g in zip(table["last30_accuracy"], group_of, strict=True)
        ]
        table = add_ratios(table, series, baseline)
    if series and not any(s.label == baseline or s.registry == baseline for s in series):
        notes.append(("Baseline", f"no method labelled '{baseline}' in these runs; ratios are left blank"))
    multi = len(groups) > 1
    for g in groups:
        where = f" ({g.device}, settings {g.settings})" if multi else ""
        target = f"{g.target * 100:.1f} %, " if g.target is not None else ""
        notes.append(("Target accuracy" + where, target + g.target_source))
        chance = f"{g.chance * 100:.1f} % from " if g.chance is not None else ""
        notes.append(("Chance level" + where, chance + g.chance_source))
        if g.target is not None:
            for s in g.series:
                reached = [r for r in s.runs if not math.isnan(r.metrics["rounds_to_target"])]
                if not reached:
                    notes.append(
                        ("Target accuracy", f"{s.display} never reached {g.target * 100:.1f} %: shown as 'never'")
                    )
                elif all(math.isnan(r.metrics["compute_s_to_target"]) for r in reached):
                    notes.append(
                        (
                            "Target accuracy",
                            f"{s.display}: device time and energy to target n/a: no client window without a "
                            "contended or implausible flag to stand in for the flagged ones",
                        )
                    )
    for run in runs:
        if not run.usable:
            notes.append(("Runs", f"{run.name}: skipped ({'; '.join(run.problems)})"))
        elif run.problems:
            notes.append(("Runs", f"{run.name}: used with warnings ({'; '.join(run.problems)})"))
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
    comps = comparisons(groups, baseline) if series else []
    return Analysis(list(runs), series, table, comps, notes, baseline, target_accuracy, groups)


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
