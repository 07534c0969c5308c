"""Human-readable views of the summary table (strings, mean ± std, units in headers).

The CSV keeps raw numbers in contract units; these views are for the Markdown and HTML reports.
Every column has one number format (the same decimals in every cell, see `format_column`); a blank
cell reads `n/a` (not measured); an estimated energy figure is suffixed with `*`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from edgebench.report.style import MB, MIB
from edgebench.report.verdicts import CHANCE_MARGIN

NA = "n/a"
MAX_DECIMALS = 6


def _num(value: Any) -> float:
    if value is None or isinstance(value, str | bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def column_decimals(values: Sequence[float], kind: str = "num") -> int:
    """Decimals for a whole column: `count` 0 (1 when a mean is fractional), `pct` 1, `num` three significant
    digits on the column's largest magnitude (0 to 6 decimals)."""
    finite = [abs(v) for v in values if not math.isnan(v)]
    if kind == "pct":
        return 1
    if kind == "count":
        return 0 if all(abs(v - round(v)) < 1e-9 for v in finite) else 1
    if not finite or max(finite) == 0:
        return 0
    return min(MAX_DECIMALS, max(0, 2 - math.floor(math.log10(max(finite)))))


def format_number(value: float, decimals: int) -> str:
    """Fixed-point with thousands separators; NaN is `n/a`; a nonzero value that rounds to zero `< 0.001`."""
    if math.isnan(value):
        return NA
    text = f"{value:,.{decimals}f}"
    if value != 0 and float(text.replace(",", "")) == 0:
        return f"< {10**-decimals:.{decimals}f}" if value > 0 else f"> -{10**-decimals:.{decimals}f}"
    return "0" if text.lstrip("-").strip("0.") == "" and decimals == 0 else text


def format_column(values: Sequence[Any], stds: Sequence[Any] | None = None, kind: str = "num") -> list[str]:
    """One format for every cell of a column: `mean` or `mean ± std` with the column's decimals."""
    vals = [_num(v) for v in values]
    spreads = [_num(s) for s in stds] if stds is not None else [float("nan")] * len(vals)
    decimals = column_decimals(vals, kind)
    if kind == "count" and any(not math.isnan(s) and s > 1e-9 for s in spreads):
        decimals = max(decimals, 1)
    out = []
    for v, s in zip(vals, spreads, strict=True):
        text = format_number(v, decimals)
        if text != NA and not math.isnan(s):
            text += f" ± {format_number(abs(s), decimals)}"
        out.append(text)
    return out


def fmt(value: Any, std: Any = float("nan"), scale: float = 1.0, digits: int = 3) -> str:
    """One number on its own (not in a column): `digits` significant digits, `± std` when there is a spread."""
    v = _num(value) * scale
    if math.isnan(v):
        return NA
    decimals = 0 if v == 0 else min(MAX_DECIMALS, max(0, digits - 1 - math.floor(math.log10(abs(v)))))
    text = format_number(v, decimals)
    s = _num(std) * scale
    return text if math.isnan(s) else f"{text} ± {format_number(abs(s), decimals)}"


def _col(rows: list[dict[str, Any]], metric: str, scale: float = 1.0, kind: str = "num", std: bool = True) -> list[str]:
    values = [_num(r.get(metric)) * scale for r in rows]
    stds = [_num(r.get(f"{metric}_std")) * scale for r in rows] if std else None
    return format_column(values, stds, kind)


def _ident(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        "series": [str(r["series"]) for r in rows],
        "device": [str(r["device"]) for r in rows],
        "n": [str(r["n_runs"]) for r in rows],
        "data": [str(r["data"]) for r in rows],
    }


def _estimated_col(rows: list[dict[str, Any]], metric: str) -> list[str]:
    """An energy column: `*` after every measured cell of a series whose energy is estimated."""
    cells = _col(rows, metric)
    return [c + ("*" if c != NA and r["energy_estimated"] else "") for c, r in zip(cells, rows, strict=True)]


def accuracy_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = summary.to_dict("records")
    learned = ["did not learn" if r.get("did_not_learn") else "yes" for r in rows]
    return pd.DataFrame(
        {
            **_ident(rows),
            "rounds": _col(rows, "rounds_completed", kind="count"),
            "final acc (%)": _col(rows, "final_accuracy", 100, "pct"),
            "best acc (%)": _col(rows, "best_accuracy", 100, "pct"),
            "last 30 % acc (%)": _col(rows, "last30_accuracy", 100, "pct"),
            f"learned (> chance + {CHANCE_MARGIN * 100:g} pts)": learned,
            "down (MB)": _col(rows, "bytes_down_total", 1 / MB),
            "up (MB)": _col(rows, "bytes_up_total", 1 / MB),
            "dropouts (partial rounds)": [_dropouts(r) for r in rows],
        }
    )


def _dropouts(row: dict[str, Any]) -> str:
    """e.g. `0`, or `1 of 8 (round 2)`: sampled clients whose reply never came, over all runs of the series."""
    dropped, sampled = _num(row.get("clients_dropped")), _num(row.get("clients_sampled"))
    if math.isnan(dropped) or not dropped:
        return "0"
    rounds = str(row.get("partial_rounds") or "").split()
    where = f" (round{'s' if len(rounds) != 1 else ''} {', '.join(rounds)})" if rounds else ""
    return f"{dropped:.0f} of {sampled:.0f}{where}"


def target_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Cost to the target accuracy (rounds, MB, device time, energy) and accuracy within the byte budget."""
    rows = summary.to_dict("records")
    reached, rounds = [], _col(rows, "rounds_to_target", kind="count")
    for i, r in enumerate(rows):
        got, total = str(r["target_reached"]).split("/")
        if math.isnan(_num(r.get("target"))):
            reached.append("no target")
            rounds[i] = NA
        elif got == "0":
            reached.append("never reached")
            rounds[i] = "never"
        else:
            reached.append("yes" if got == total else f"{got}/{total} runs")
    budget = [_num(r.get("budget_bytes")) for r in rows]
    budget_mb = format_column([b / MB for b in budget])
    return pd.DataFrame(
        {
            "series": [str(r["series"]) for r in rows],
            "device": [str(r["device"]) for r in rows],
            "target acc (%)": _col(rows, "target", 100, "pct", std=False),
            "reached": reached,
            "rounds to target": rounds,
            "MB to target": _col(rows, "bytes_to_target", 1 / MB),
            "device time to target (s; compute + est. link)": _col(rows, "time_to_target_s"),
            "energy to target (J)": _estimated_col(rows, "energy_to_target_j"),
            "radio energy to target (J, estimated)": _col(rows, "radio_energy_to_target_j"),
            "byte budget (MB)": budget_mb,
            "acc within budget (%)": _col(rows, "accuracy_at_budget", 100, "pct"),
        }
    )


def _flag_counts(r: dict[str, Any]) -> str:
    windows = _num(r.get("windows"))
    total = 0 if math.isnan(windows) else int(windows)
    parts = [
        f"{int(r[k])} {name}"
        for k, name in (("windows_contended", "contended"), ("windows_implausible", "implausible"))
        if _num(r.get(k)) > 0
    ]
    return f"{', '.join(parts)} of {total}" if parts else f"none of {total}"


def _pair(first: list[str], second: list[str]) -> list[str]:
    return [NA if a == NA and b == NA else f"{a} / {b}" for a, b in zip(first, second, strict=True)]


def time_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = summary.to_dict("records")
    return pd.DataFrame(
        {
            **_ident(rows),
            "download (s)": _col(rows, "client_download_s_per_round"),
            "train (s)": _col(rows, "client_train_s_per_round"),
            "upload (s)": _col(rows, "client_upload_s_per_round"),
            "client total (s)": _col(rows, "client_total_s_per_round"),
            "client window, median of clean (s)": _col(rows, "window_s_median_clean", std=False),
            "round wall (s)": _col(rows, "round_s_mean"),
            "windows flagged": [_flag_counts(r) for r in rows],
            "other processes' CPU, median / max (cores)": _pair(
                _col(rows, "other_cpu_cores_median", std=False), _col(rows, "other_cpu_cores_max", std=False)
            ),
            "rejected replies": _col(rows, "clients_rejected", kind="count"),
        }
    )


def comm_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Estimated link time and radio energy (device profile's link model) and the end-to-end round time."""
    rows = summary.to_dict("records")
    share = []
    for r in rows:
        link, e2e = _num(r.get("link_s_median_est")), _num(r.get("end_to_end_s_median"))
        share.append(link / e2e * 100 if e2e > 0 else float("nan"))
    return pd.DataFrame(
        {
            "series": [str(r["series"]) for r in rows],
            "device": [str(r["device"]) for r in rows],
            "link time per client (s, estimated)": _col(rows, "comm_time_est_s_per_window"),
            "radio energy per round (J, estimated)": _col(rows, "comm_energy_est_j_per_round"),
            "radio energy total (J, estimated)": _col(rows, "comm_energy_est_total_j"),
            "client window, median (s, measured)": _col(rows, "window_s_median_clean", std=False),
            "end-to-end per round (s)": _col(rows, "end_to_end_s_median", std=False),
            "link share (%)": format_column(share, kind="pct"),
        }
    )


def energy_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = summary.to_dict("records")
    coverage = [_num(r["energy_coverage"]) * 100 for r in rows]
    return pd.DataFrame(
        {
            **_ident(rows),
            "total (J)": _estimated_col(rows, "energy_total_j"),
            "per round (J)": _estimated_col(rows, "energy_per_round_j"),
            "net total (J)": _estimated_col(rows, "energy_net_total_j"),
            "net per round (J)": _estimated_col(rows, "energy_net_per_round_j"),
            "windows measured (%)": format_column(coverage, kind="count"),
            "provenance": [str(r["energy_provenance"] or r["energy_missing_provenance"] or NA) for r in rows],
        }
    )


def memory_rank_table(summary: pd.DataFrame) -> pd.DataFrame:
    rows = summary.to_dict("records")
    return pd.DataFrame(
        {
            **_ident(rows),
            "peak RSS, client process (MiB)": _col(rows, "peak_rss_bytes", 1 / MIB),
            "peak accel, client process (MiB)": _col(rows, "peak_accel_bytes", 1 / MIB),
            "final active rank": _col(rows, "final_active_rank", kind="count"),
            "active modules": _col(rows, "final_active_modules", kind="count"),
            "pruned modules": _col(rows, "pruned_modules", kind="count"),
            "modules": _col(rows, "modules", kind="count"),
        }
    )


def text(value: Any) -> str:
    """Any config or metadata value as prose: no None, no raw dicts or lists."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={text(v)}" for k, v in _flatten(value).items() if v is not None) or "none"
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value) or "none"
    return str(value)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
