"""Per run x method figures: one row of numbers per method of one run directory, and per-round series.

Conventions (repeated in docs/report.md):
* per-round client time = mean over the round's clients, then mean over rounds;
* a round's energy = sum over its clients, only when every client of the round was measured;
* total energy = sum over measured client windows (`energy_coverage` < 1 says some were not);
* cumulative bytes = bytes_down + bytes_up summed over rounds 1..t (rounds.csv).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PHASES = ("download_s", "train_s", "upload_s")
NET_ENERGY = "energy_net_j"


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


def method_metrics(
    clients: pd.DataFrame, rounds: pd.DataFrame, ranks: pd.DataFrame, target_accuracy: float | None
) -> dict[str, Any]:
    """The summary numbers of one method in one run (NaN where not measured)."""
    rows = per_round(clients, rounds, ranks)
    evals = rows.dropna(subset=["eval_accuracy"])
    m: dict[str, Any] = {"rounds_completed": int(rounds["round"].nunique())}
    m["final_accuracy"] = float(evals["eval_accuracy"].iloc[-1]) if len(evals) else np.nan
    m["best_accuracy"] = float(evals["eval_accuracy"].max()) if len(evals) else np.nan
    m["rounds_to_target"] = np.nan
    m["bytes_to_target"] = np.nan
    if target_accuracy is not None and len(evals):
        hit = evals[evals["eval_accuracy"] >= target_accuracy]
        if len(hit):
            m["rounds_to_target"] = float(hit["round"].iloc[0])
            m["bytes_to_target"] = float(hit["cum_bytes"].iloc[0])
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
    return m
