"""Human-readable views of the summary table (strings, mean ± std, units in headers).

The CSV keeps raw numbers in contract units; these views are for the Markdown and HTML reports.
An estimated energy figure is suffixed with `*`; a blank cell reads `n/a` (not measured).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from edgebench.report.style import MB, MIB

NA = "n/a"


def fmt(value: Any, std: Any = float("nan"), scale: float = 1.0, digits: int = 3) -> str:
    """`value` (times `scale`) to `digits` significant digits, with `± std` when there is a spread.

    Whole numbers print as integers; a std below 1e-9 of the value (float noise) prints as 0.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    x = float(value) * scale
    spread = None if std is None or (isinstance(std, float) and math.isnan(std)) else abs(float(std) * scale)
    if spread is not None and spread <= 1e-9 * max(1.0, abs(x)):
        spread = 0.0
    whole = abs(x - round(x)) <= 1e-9 * max(1.0, abs(x)) and abs(x) < 1e15 and not spread
    text = f"{round(x):,}" if whole else _sig(x, digits)
    if spread is not None:
        text += f" ± {_sig(spread, 2)}"
    return text


def _sig(x: float, digits: int) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 10 ** (digits + 2) or abs(x) < 1e-3:
        return f"{x:.{digits - 1}e}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def _col(row: dict[str, Any], metric: str, scale: float = 1.0, digits: int = 3) -> str:
    return fmt(row.get(metric), row.get(f"{metric}_std"), scale, digits)


def _ident(row: dict[str, Any]) -> dict[str, str]:
    return {"series": row["series"], "device": row["device"], "n": str(row["n_runs"]), "data": row["data"]}


def accuracy_table(summary: pd.DataFrame, target: float | None) -> pd.DataFrame:
    tgt = f"{target * 100:g} %" if target is not None else "no target"
    rows = []
    for r in summary.to_dict("records"):
        rows.append(
            {
                **_ident(r),
                "rounds": _col(r, "rounds_completed"),
                "final acc (%)": _col(r, "final_accuracy", 100),
                "best acc (%)": _col(r, "best_accuracy", 100),
                f"rounds to {tgt}": _col(r, "rounds_to_target") + _reached(r, target),
                f"MB to {tgt}": _col(r, "bytes_to_target", 1 / MB),
                "down (MB)": _col(r, "bytes_down_total", 1 / MB),
                "up (MB)": _col(r, "bytes_up_total", 1 / MB),
            }
        )
    return pd.DataFrame(rows)


def _reached(row: dict[str, Any], target: float | None) -> str:
    if target is None:
        return ""
    reached, total = row["target_reached"].split("/")
    if reached == "0":
        return " (never)"
    return f" ({reached}/{total} runs)" if reached != total else ""


def time_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in summary.to_dict("records"):
        rows.append(
            {
                **_ident(r),
                "download (s)": _col(r, "client_download_s_per_round"),
                "train (s)": _col(r, "client_train_s_per_round"),
                "upload (s)": _col(r, "client_upload_s_per_round"),
                "client total (s)": _col(r, "client_total_s_per_round"),
                "round wall (s)": _col(r, "round_s_mean"),
                "rejected replies": _col(r, "clients_rejected"),
            }
        )
    return pd.DataFrame(rows)


def energy_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in summary.to_dict("records"):
        star = "*" if r["energy_estimated"] else ""

        def e(metric: str, r: dict[str, Any] = r, star: str = star) -> str:
            text = _col(r, metric)
            return text + star if text != NA else text

        coverage = r["energy_coverage"]
        rows.append(
            {
                **_ident(r),
                "total (J)": e("energy_total_j"),
                "per round (J)": e("energy_per_round_j"),
                "net total (J)": e("energy_net_total_j"),
                "net per round (J)": e("energy_net_per_round_j"),
                "windows measured": NA if math.isnan(coverage) else f"{coverage * 100:.0f} %",
                "provenance": r["energy_provenance"] or r["energy_missing_provenance"] or NA,
            }
        )
    return pd.DataFrame(rows)


def memory_rank_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in summary.to_dict("records"):
        rows.append(
            {
                **_ident(r),
                "peak host RSS (MiB)": _col(r, "peak_rss_bytes", 1 / MIB),
                "peak accel (MiB)": _col(r, "peak_accel_bytes", 1 / MIB),
                "final active rank": _col(r, "final_active_rank"),
                "active modules": _col(r, "final_active_modules"),
                "pruned modules": _col(r, "pruned_modules"),
                "modules": _col(r, "modules"),
            }
        )
    return pd.DataFrame(rows)


def baseline_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in summary.to_dict("records"):
        rows.append(
            {
                "series": r["series"],
                "device": r["device"],
                "baseline": r["baseline_series"] or NA,
                "vs baseline": r["vs_baseline"],
            }
        )
    return pd.DataFrame(rows)
