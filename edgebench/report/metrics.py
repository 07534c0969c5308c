"""Per run x method figures: one row of numbers per method of one run directory, and per-round series.

Conventions (repeated in docs/report.md):
* per-round client time = mean over the round's clients, then mean over rounds;
* a round's energy = sum over its clients, only when every client of the round was measured;
* total energy = sum over measured client windows (`energy_coverage` < 1 says some were not);
* cumulative bytes = bytes_down + bytes_up summed over rounds 1..t (rounds.csv);
* last-30 % accuracy = mean `eval_accuracy` over the evaluated rounds among the last ceil(0.3 x R) of the
  R completed rounds (the last evaluated round when none of them was evaluated).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

PHASES = ("download_s", "train_s", "upload_s")
NET_ENERGY = "energy_net_j"
LAST_SHARE = 0.3
# Window flags (clients.csv window_flags) that keep a window out of time and energy verdicts.
EXCLUDING_FLAGS = ("contended", "implausible")
# What :func:`to_target` measures (units in the names).
TO_TARGET = (
    "rounds_to_target",
    "bytes_to_target",
    "compute_s_to_target",
    "link_s_to_target",
    "time_to_target_s",
    "energy_to_target_j",
    "radio_energy_to_target_j",
)


def window_flags(text: object) -> tuple[set[str], dict[str, set[str]]]:
    """(flags of the whole client window, {phase: flags}) from a `window_flags` cell (`a;train:b`)."""
    whole: set[str] = set()
    phases: dict[str, set[str]] = {}
    if isinstance(text, str):
        for flag in (f.strip() for f in text.split(";")):
            if not flag:
                continue
            phase, sep, name = flag.partition(":")
            if sep:
                phases.setdefault(phase, set()).add(name)
            else:
                whole.add(flag)
    return whole, phases


def exclusion_flags(text: object, phase: str | None = None) -> list[str]:
    """The excluding flags (contended, implausible) that apply to one quantity of a client window.

    `phase` None: the whole window (its own flags and every phase's); else that phase (`train`, ...): the
    window's own flags and that phase's.
    """
    whole, phases = window_flags(text)
    found = set(whole)
    for name, flags in phases.items():
        if phase is None or name == phase:
            found |= flags
    return [f for f in EXCLUDING_FLAGS if f in found]


def window_exclusions(rows: pd.DataFrame, phase: str | None = None) -> pd.Series:
    """Per client row, the excluding flags that apply to `phase` (see :func:`exclusion_flags`)."""
    return rows["window_flags"].map(lambda text: exclusion_flags(text, phase))


def accepted(clients: pd.DataFrame) -> pd.DataFrame:
    """Client rows whose reply was used (status `accepted`, or no status recorded)."""
    status = clients["status"].fillna("").astype(str) if "status" in clients else pd.Series("", index=clients.index)
    return clients[(status == "") | (status == "accepted")]


def last_share_rounds(rounds_completed: int) -> int:
    """How many final rounds make up the last 30 % of `rounds_completed` (at least one)."""
    return max(1, math.ceil(round(LAST_SHARE * rounds_completed, 9)))


def last_share_accuracy(rounds: pd.DataFrame) -> float:
    """Mean eval_accuracy over the evaluated rounds among the last 30 % of rounds (NaN when never evaluated)."""
    evals = rounds.dropna(subset=["eval_accuracy"])
    if rounds.empty or evals.empty:
        return float("nan")
    last = int(rounds["round"].max())
    window = evals[evals["round"] > last - last_share_rounds(int(rounds["round"].nunique()))]
    if window.empty:
        window = evals.sort_values("round").tail(1)
    return float(window["eval_accuracy"].mean())


def provenance_kind(text: str) -> str:
    """`measured-counter`, `measured-sampled`, `estimated`, `unavailable` (text before the first colon)."""
    return text.split(":", 1)[0].strip() if text else ""


def is_estimated(text: str) -> bool:
    return provenance_kind(text) == "estimated"


def _unique(values: pd.Series) -> list[str]:
    return [v for v in dict.fromkeys(str(x) for x in values if isinstance(x, str) and x)]


def completed_only(
    clients: pd.DataFrame, rounds: pd.DataFrame, ranks: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Drop client and rank rows of rounds without a rounds.csv row (a round cut short by a failure)."""
    done = set(rounds["round"])
    return clients[clients["round"].isin(done)], rounds, ranks[ranks["round"].isin(done)]


def per_round(clients: pd.DataFrame, rounds: pd.DataFrame, ranks: pd.DataFrame) -> pd.DataFrame:
    """One row per round of one method: accuracy, cumulative bytes, phase means, energy, memory, ranks.

    Unmeasured quantities stay NaN. `energy_estimated` is true when any client of the round has an
    `estimated:` energy provenance.
    """
    out = rounds[["round", "eval_accuracy", "bytes_down", "bytes_up", "round_s", "active_rank", "budget"]].copy()
    out = out.drop_duplicates("round", keep="last").set_index("round").sort_index()
    out["bytes_total"] = out["bytes_down"] + out["bytes_up"]
    out["cum_bytes"] = out["bytes_total"].cumsum(skipna=False)
    if not clients.empty:
        grouped = clients.groupby("round")
        phases = grouped[[*PHASES, "total_s"]].mean()
        out = out.join(phases, how="outer")
        out["energy_j"] = grouped["energy_j"].apply(_full_sum)
        out["energy_net_j"] = grouped[NET_ENERGY].apply(_full_sum) if NET_ENERGY in clients else np.nan
        out["energy_estimated"] = grouped["energy_provenance"].apply(lambda s: any(is_estimated(x) for x in s))
        out["peak_rss_bytes"] = grouped["peak_rss_bytes"].max()
        out["peak_accel_bytes"] = grouped["peak_accel_bytes"].max()
    else:
        for col in (*PHASES, "total_s", "energy_j", "energy_net_j", "peak_rss_bytes", "peak_accel_bytes"):
            out[col] = np.nan
        out["energy_estimated"] = False
    if not ranks.empty:
        by_round = ranks.groupby("round")["rank"]
        out["pruned_modules"] = by_round.apply(lambda r: float((r == 0).sum()))
        out["modules"] = by_round.size().astype(float)
    else:
        out["pruned_modules"] = np.nan
        out["modules"] = np.nan
    out["energy_estimated"] = out["energy_estimated"].fillna(False).astype(bool)
    out.index.name = "round"
    return out.reset_index()


def _full_sum(values: pd.Series) -> float:
    """Sum when every value is present, else NaN (a partly measured round has no round energy)."""
    return float(values.sum()) if len(values) and values.notna().all() else float("nan")


def _measured_sum(values: pd.Series) -> float:
    return float(values.sum()) if values.notna().any() else float("nan")


def _max(values: pd.Series) -> float:
    return float(values.max()) if values.notna().any() else float("nan")


def method_metrics(clients: pd.DataFrame, rounds: pd.DataFrame, ranks: pd.DataFrame) -> dict[str, Any]:
    """The summary numbers of one method in one run (NaN where not measured); the cost to the target accuracy
    depends on the group (its target) and is added by :func:`to_target`."""
    rows = per_round(clients, rounds, ranks)
    evals = rows.dropna(subset=["eval_accuracy"])
    m: dict[str, Any] = {"rounds_completed": int(rounds["round"].nunique())}
    m["final_accuracy"] = float(evals["eval_accuracy"].iloc[-1]) if len(evals) else np.nan
    m["best_accuracy"] = float(evals["eval_accuracy"].max()) if len(evals) else np.nan
    m["last30_accuracy"] = last_share_accuracy(rounds)
    m["bytes_down_total"] = float(rounds["bytes_down"].sum(min_count=1))
    m["bytes_up_total"] = float(rounds["bytes_up"].sum(min_count=1))
    m["bytes_total"] = m["bytes_down_total"] + m["bytes_up_total"]
    for col in (*PHASES, "total_s"):
        m[f"client_{col}_per_round"] = float(rows[col].mean()) if rows[col].notna().any() else np.nan
    m["round_s_mean"] = float(rounds["round_s"].mean()) if rounds["round_s"].notna().any() else np.nan
    m["clients_rejected"] = float(rounds["clients_rejected"].sum(min_count=1))

    m["energy_windows_measured"] = int(clients["energy_j"].notna().sum())
    m["energy_windows"] = len(clients)
    m["energy_total_j"] = _measured_sum(clients["energy_j"])
    m["energy_per_round_j"] = float(rows["energy_j"].mean()) if rows["energy_j"].notna().any() else np.nan
    has_net = NET_ENERGY in clients and clients[NET_ENERGY].notna().any()
    m["energy_net_total_j"] = _measured_sum(clients[NET_ENERGY]) if has_net else np.nan
    m["energy_net_per_round_j"] = float(rows["energy_net_j"].mean()) if has_net else np.nan
    measured = clients[clients["energy_j"].notna()]
    m["energy_provenance"] = _unique(measured["energy_provenance"])
    m["energy_missing_provenance"] = _unique(clients[clients["energy_j"].isna()]["energy_provenance"])
    m["energy_estimated"] = any(is_estimated(p) for p in m["energy_provenance"])

    m["peak_rss_bytes"] = _max(clients["peak_rss_bytes"])
    m["peak_accel_bytes"] = _max(clients["peak_accel_bytes"])
    m["memory_provenance"] = _unique(clients["memory_provenance"])

    last = rounds.dropna(subset=["active_rank"])
    m["final_active_rank"] = float(last["active_rank"].iloc[-1]) if len(last) else np.nan
    m["final_active_modules"] = float(last["active_modules"].iloc[-1]) if len(last) else np.nan
    if len(ranks):
        final = ranks[ranks["round"] == ranks["round"].max()]
        m["modules"] = float(len(final))
        m["pruned_modules"] = float((final["rank"] == 0).sum())
        m["ranks_vary"] = bool(ranks["rank"].nunique() > 1)
    else:
        m["modules"] = m["pruned_modules"] = np.nan
        m["ranks_vary"] = False
    m["has_budget"] = bool(rounds["budget"].notna().any())
    m["comm_time_est_s_per_window"] = float(clients["comm_time_est_s"].mean())
    m["comm_energy_est_j_per_round"] = float(rounds["comm_energy_est_j"].mean())
    m["comm_energy_est_total_j"] = float(rounds["comm_energy_est_j"].sum(min_count=1))
    m["comm_time_est_total_s"] = float(rounds["comm_time_est_s"].sum(min_count=1))
    return m


def to_target(rounds_frame: pd.DataFrame, clients: pd.DataFrame, target: float | None) -> dict[str, Any]:
    """Rounds, bytes, device time and energy until `eval_accuracy` first reaches `target` (NaN: never).

    * bytes: cumulative down + up over every client up to that round (rounds.csv);
    * time: per round, the mean client window (`total_s`) plus the mean *estimated* link time
      (`comm_time_est_s`), summed over the rounds: the time a client device spends, with clients running in
      parallel. A window flagged contended or implausible counts as the median of the method's clean windows
      (no clean window: NaN);
    * energy: sum of the clients' `energy_j` (flagged windows counted as the clean median; NaN when a window
      was not measured); radio energy: sum of the *estimated* `comm_energy_est_j`.
    """
    out: dict[str, Any] = dict.fromkeys(TO_TARGET, float("nan"))
    out["target"] = float("nan") if target is None else float(target)
    evals = rounds_frame.dropna(subset=["eval_accuracy"])
    if target is None or evals.empty:
        return out
    hit = evals[evals["eval_accuracy"] >= target - 1e-12]
    if hit.empty:
        return out
    last = int(hit["round"].iloc[0])
    out["rounds_to_target"] = float(last)
    out["bytes_to_target"] = float(hit["cum_bytes"].iloc[0])
    rows = accepted(clients)
    rows = rows[rows["round"] <= last]
    if rows.empty:
        return out
    compute = _clean_substituted(rows, "total_s")
    link = rows["comm_time_est_s"]
    by_round = rows.assign(_c=compute, _l=link).groupby("round")
    out["compute_s_to_target"] = float(by_round["_c"].mean().sum(min_count=1))
    if link.notna().all():
        out["link_s_to_target"] = float(by_round["_l"].mean().sum())
    out["time_to_target_s"] = out["compute_s_to_target"] + (
        0.0 if math.isnan(out["link_s_to_target"]) else out["link_s_to_target"]
    )
    energy = _clean_substituted(rows, "energy_j")
    out["energy_to_target_j"] = float(energy.sum()) if energy.notna().all() else float("nan")
    radio = rows["comm_energy_est_j"]
    out["radio_energy_to_target_j"] = float(radio.sum()) if radio.notna().all() else float("nan")
    return out


def _clean_substituted(rows: pd.DataFrame, column: str) -> pd.Series:
    """`column` with flagged windows replaced by the median of the clean ones (all NaN without a clean one)."""
    clean = window_exclusions(rows).map(len) == 0
    values = rows[column].astype(float)
    good = values[clean].dropna()
    fill = float(good.median()) if len(good) else float("nan")
    return values.where(clean, fill)


def accuracy_within_bytes(rounds_frame: pd.DataFrame, budget: float | None) -> float:
    """Accuracy of the last evaluated round whose cumulative bytes fit in `budget` (NaN: none does)."""
    if budget is None or math.isnan(budget):
        return float("nan")
    evals = rounds_frame.dropna(subset=["eval_accuracy", "cum_bytes"])
    fits = evals[evals["cum_bytes"] <= budget * (1 + 1e-9)]
    return float(fits["eval_accuracy"].iloc[-1]) if len(fits) else float("nan")
