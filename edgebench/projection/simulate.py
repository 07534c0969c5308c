"""The round loop of the projection: selection, per-client costs, the round's close, and the tallies.

Rounds run one after another (the daily availability cycle follows the projected clock); within a round
every selected client is costed at once with numpy, so the work per round grows with the clients
selected, not with the fleet size. Randomness comes from numpy Generators seeded from the fleet file's
`seed`: one stream draws every client's link (shared by the methods), one stream per method draws
availability, selection and cost rows.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from edgebench.projection.columns import CLASS_COLUMNS, ROUND_COLUMNS, SUMMARY_COLUMNS
from edgebench.projection.costmodel import ClassModel, link_costs, resolve_classes
from edgebench.projection.fleet import FleetSpec
from edgebench.projection.inputs import ESTIMATED, KINDS, MEASURED, UNAVAILABLE, MeasuredRuns, Pool

OK = "ok"
_POPULATION_STREAM, _METHOD_STREAM = 0, 1


@dataclass
class Projection:
    """The projection's tables (columns as declared in edgebench.projection.columns) and its metadata."""

    rounds: pd.DataFrame
    classes: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


class _Pick(NamedTuple):
    """The clients of one class selected in a round: fleet ids within the class, and the pool rows
    (measured clients of `costs_round`) that cost them."""

    model: ClassModel
    ids: np.ndarray
    pool: Pool
    rows: np.ndarray
    extrapolated: bool


@dataclass
class _Selected:
    """The clients selected in one round, one entry per client (concatenated over classes)."""

    cls: np.ndarray
    compute_s: np.ndarray
    compute_j: np.ndarray
    kind: np.ndarray
    bytes_down: np.ndarray
    bytes_up: np.ndarray
    down_s: np.ndarray
    up_s: np.ndarray
    radio_j: np.ndarray
    idle_w: np.ndarray
    peak_rss: np.ndarray
    extrapolated: np.ndarray


def project(fleet: FleetSpec, runs: MeasuredRuns) -> Projection:
    """Project every method of the runs (or the fleet file's `methods`) onto the fleet."""
    methods = _methods(fleet, runs)
    classes = resolve_classes(fleet, runs, methods)
    if fleet.selection.scheme == "replay":
        _check_replay(fleet, runs, classes[0], methods)
    population = np.random.default_rng(np.random.SeedSequence([fleet.seed, _POPULATION_STREAM]))
    for model in classes:
        model.draw_population(population)
    per_method: list[pd.DataFrame] = []
    class_rows: list[dict[str, Any]] = []
    for method in methods:
        round_rows: list[dict[str, Any]] = []
        _Method(fleet, runs, classes, method).run(round_rows, class_rows)
        per_method.append(_frame(round_rows, ROUND_COLUMNS))
    rounds = pd.concat(per_method, ignore_index=True)
    summary = _frame([_summary(fleet, m, r) for m, r in zip(methods, per_method, strict=True)], SUMMARY_COLUMNS)
    meta = {
        "methods": {
            m: {
                "measured_rounds": runs.measured_rounds.get(m),
                "projected_rounds": _rounds_for(fleet, runs, m),
                "measured_accuracy": {str(r): a for r, a in sorted(runs.accuracy.get(m, {}).items())},
            }
            for m in methods
        },
        "classes": [c.to_json() | {"energy_scope": runs.energy_scopes.get(c.source_profile, [])} for c in classes],
    }
    return Projection(rounds=rounds, classes=_frame(class_rows, CLASS_COLUMNS), summary=summary, meta=meta)


def _methods(fleet: FleetSpec, runs: MeasuredRuns) -> list[str]:
    if fleet.methods is None:
        return list(runs.methods)
    unknown = [m for m in fleet.methods if m not in runs.methods]
    if unknown:
        raise fleet.error("methods", f"no run given has method {unknown[0]!r}; have {', '.join(runs.methods)}")
    return list(dict.fromkeys(fleet.methods))


def _rounds_for(fleet: FleetSpec, runs: MeasuredRuns, method: str) -> int:
    return fleet.rounds if fleet.rounds is not None else runs.measured_rounds[method]


def _check_replay(fleet: FleetSpec, runs: MeasuredRuns, model: ClassModel, methods: list[str]) -> None:
    for method in methods:
        measuring = runs.runs_measuring(model.source_profile, method)
        if len(measuring) != 1:
            where = ", ".join(r.path for r in measuring)
            raise fleet.error(
                "selection.scheme",
                f"replay needs exactly one run of method {method!r} on {model.source_profile!r} (got {where})",
            )
        run = measuring[0]
        ids = np.concatenate([p.client_id for p in runs.pools[(model.source_profile, method)].values()])
        size = run.num_clients if run.num_clients is not None else int(ids.max()) + 1
        if model.count != size or int(ids.max()) >= model.count:
            raise fleet.error(
                f"classes[{model.index}].count",
                f"replay needs the run's own {size} clients (run {run.path}; got {model.count})",
            )


class _Method:
    """The projection of one method: a loop over rounds, appending one row per round and per class."""

    def __init__(self, fleet: FleetSpec, runs: MeasuredRuns, classes: list[ClassModel], method: str) -> None:
        self.fleet, self.runs, self.classes, self.method = fleet, runs, classes, method
        seed = np.random.SeedSequence([fleet.seed, _METHOD_STREAM, zlib.crc32(method.encode())])
        self.rng = np.random.default_rng(seed)
        self.accuracy = runs.accuracy.get(method, {})
        self.counts = np.array([c.count for c in classes], dtype=np.int64)

    def run(self, round_rows: list[dict[str, Any]], class_rows: list[dict[str, Any]]) -> None:
        fleet = self.fleet
        sel = fleet.selection
        elapsed_s, aggregated = 0.0, 0
        for attempt in range(1, _rounds_for(fleet, self.runs, self.method) + 1):
            model_round = aggregated + 1
            hour = fleet.start_hour + elapsed_s / 3600.0
            if sel.scheme == "replay":
                online, picks = self._replay(model_round)
                target = sum(len(p.ids) for p in picks)
            else:
                assert sel.clients_per_round is not None
                target = sel.clients_per_round
                online, picks = self._random(model_round, hour)
            s = self._costs(picks)
            finish = s.down_s + s.compute_s + s.up_s
            kept, close_s = _close(finish, target, sel.deadline_s)
            n_kept = int(kept.sum())
            ok = n_kept >= sel.min_replies
            if ok:
                aggregated += 1
            round_s = close_s + fleet.server_s
            elapsed_s += round_s
            idle_j = np.where(kept, (close_s - finish) * s.idle_w, 0.0)
            accuracy = self.accuracy.get(aggregated, math.nan) if aggregated else math.nan
            costs_round = min(
                (self.runs.costs_round(c.source_profile, self.method, model_round) for c in self.classes),
                default=model_round,
            )
            status = OK if ok else f"failed: {n_kept} replies < min_replies {sel.min_replies}"
            row = self._round_row(s, kept, idle_j, finish)
            row |= {
                "round": attempt,
                "model_round": model_round,
                "costs_round": costs_round,
                "status": status,
                "clients_online": online,
                "close_s": close_s,
                "round_s": round_s,
                "elapsed_s": elapsed_s,
                "accuracy": accuracy,
            }
            round_rows.append(row)
            class_rows += self._class_rows(attempt, s, kept, idle_j)

    def _random(self, model_round: int, hour: float) -> tuple[int, list[_Pick]]:
        """Online counts per class, then a uniform draw of the selected clients among the online ones."""
        sel = self.fleet.selection
        assert sel.clients_per_round is not None
        p = np.array([c.availability.at_hour(hour) for c in self.classes])
        online = self.rng.binomial(self.counts, p)
        total_online = int(online.sum())
        wanted = math.ceil(sel.clients_per_round * sel.over_selection - 1e-9)
        n_select = min(wanted, total_online)
        per_class = self.rng.multivariate_hypergeometric(online, n_select) if n_select else np.zeros_like(online)
        picks = []
        for model, k in zip(self.classes, per_class, strict=True):
            # Being online is independent of who a client is, so a uniform subset of the online clients
            # is a uniform subset of the class: ids are drawn from the whole class.
            ids = self.rng.choice(model.count, size=int(k), replace=False) if k else np.empty(0, dtype=np.int64)
            costs_round = self.runs.costs_round(model.source_profile, self.method, model_round)
            pool = self.runs.pools[(model.source_profile, self.method)][costs_round]
            rows = self.rng.integers(0, len(pool), size=len(ids))
            picks.append(_Pick(model, ids, pool, rows, costs_round != model_round))
        return total_online, picks

    def _replay(self, model_round: int) -> tuple[int, list[_Pick]]:
        """The run's own clients of the measured round, each costed by its own measurement."""
        model = self.classes[0]
        costs_round = self.runs.costs_round(model.source_profile, self.method, model_round)
        pool = self.runs.pools[(model.source_profile, self.method)][costs_round]
        return model.count, [_Pick(model, pool.client_id, pool, np.arange(len(pool)), costs_round != model_round)]

    def _costs(self, picks: list[_Pick]) -> _Selected:
        parts: dict[str, list[np.ndarray]] = {k: [] for k in _Selected.__dataclass_fields__}
        for model, ids, pool, rows, extrapolated in picks:
            n = len(rows)
            bytes_down, bytes_up = pool.bytes_down[rows], pool.bytes_up[rows]
            up = model.up_mbit_s[ids] if isinstance(model.up_mbit_s, np.ndarray) else model.up_mbit_s
            down = model.down_mbit_s[ids] if isinstance(model.down_mbit_s, np.ndarray) else model.down_mbit_s
            lat = model.latency_s[ids] if isinstance(model.latency_s, np.ndarray) else model.latency_s
            down_s, up_s, radio_j = link_costs(model.link, up, down, lat, bytes_down, bytes_up)
            idle_w = math.nan if model.idle_power_w is None else model.idle_power_w
            parts["cls"].append(np.full(n, model.index, dtype=np.int64))
            parts["compute_s"].append(pool.total_s[rows] * model.time_factor)
            parts["compute_j"].append(pool.energy_j[rows] * model.energy_factor)
            parts["kind"].append(pool.energy_kind[rows])
            parts["bytes_down"].append(bytes_down)
            parts["bytes_up"].append(bytes_up)
            parts["down_s"].append(np.broadcast_to(down_s, (n,)))
            parts["up_s"].append(np.broadcast_to(up_s, (n,)))
            parts["radio_j"].append(np.broadcast_to(radio_j, (n,)))
            parts["idle_w"].append(np.full(n, idle_w))
            parts["peak_rss"].append(pool.peak_rss_bytes[rows] * model.memory_factor)
            parts["extrapolated"].append(np.full(n, bool(extrapolated)))
        return _Selected(**{k: np.concatenate(v) if v else np.empty(0) for k, v in parts.items()})

    def _round_row(self, s: _Selected, kept: np.ndarray, idle_j: np.ndarray, finish: np.ndarray) -> dict[str, Any]:
        dropped = ~kept
        client_j = s.compute_j + s.radio_j + idle_j
        known = client_j[np.isfinite(client_j)]
        quantiles = np.quantile(known, [0.1, 0.5, 0.9]) if known.size else [math.nan] * 3
        scaled = any(self.classes[i].scaled for i in np.unique(s.cls))
        extrapolated = bool(s.extrapolated.any())
        compute_j, radio_j, idle = float(np.sum(s.compute_j)), float(np.sum(s.radio_j)), float(np.sum(idle_j))
        return {
            "method": self.method,
            "clients_selected": len(finish),
            "clients_completed": int(kept.sum()),
            "clients_dropped": int(dropped.sum()),
            "client_s_max": float(finish[kept].max()) if kept.any() else math.nan,
            "bytes_down": float(s.bytes_down.sum()),
            "bytes_up": float(s.bytes_up.sum()),
            "bytes_provenance": "exact; extrapolated" if extrapolated else "exact",
            "compute_energy_j": compute_j,
            "compute_energy_provenance": _energy_provenance(np.bincount(s.kind, minlength=3), scaled, extrapolated),
            "radio_energy_j": radio_j,
            "radio_energy_provenance": _radio_provenance(self.classes, s, extrapolated),
            "idle_energy_j": idle,
            "idle_energy_provenance": _idle_provenance([self.classes[i] for i in np.unique(s.cls[kept])]),
            "energy_j": compute_j + radio_j + idle,
            "dropped_energy_j": float(np.sum(s.compute_j[dropped] + s.radio_j[dropped])),
            "time_provenance": _join(["measured", *(["scaled"] if scaled else []), *_extrap(extrapolated)]),
            "client_energy_p10_j": float(quantiles[0]),
            "client_energy_p50_j": float(quantiles[1]),
            "client_energy_p90_j": float(quantiles[2]),
            "client_energy_max_j": float(known.max()) if known.size else math.nan,
            "peak_rss_bytes": float(np.max(s.peak_rss)) if len(s.peak_rss) else math.nan,
        }

    def _class_rows(self, attempt: int, s: _Selected, kept: np.ndarray, idle_j: np.ndarray) -> list[dict[str, Any]]:
        rows = []
        for model in self.classes:
            mine = s.cls == model.index
            n = int(mine.sum())
            extrapolated = bool(s.extrapolated[mine].any())
            compute_j = float(np.sum(s.compute_j[mine]))
            radio_j = float(np.sum(s.radio_j[mine]))
            idle = float(np.sum(idle_j[mine]))
            rows.append(
                {
                    "method": self.method,
                    "round": attempt,
                    "class": model.name,
                    "clients_selected": n,
                    "clients_completed": int(kept[mine].sum()),
                    "clients_dropped": int((~kept[mine]).sum()),
                    "compute_s_mean": float(s.compute_s[mine].mean()) if n else math.nan,
                    "compute_s_max": float(s.compute_s[mine].max()) if n else math.nan,
                    "bytes_down": float(s.bytes_down[mine].sum()),
                    "bytes_up": float(s.bytes_up[mine].sum()),
                    "compute_energy_j": compute_j,
                    "compute_energy_provenance": _energy_provenance(
                        np.bincount(s.kind[mine], minlength=3), model.scaled, extrapolated
                    ),
                    "radio_energy_j": radio_j,
                    "idle_energy_j": idle,
                    "idle_energy_provenance": model.idle_provenance,
                    "energy_j": compute_j + radio_j + idle,
                    "peak_rss_bytes": float(s.peak_rss[mine].max()) if n else math.nan,
                }
            )
        return rows


def _close(finish: np.ndarray, target: int, deadline_s: float | None) -> tuple[np.ndarray, float]:
    """Which selected clients are kept, and when the round closes.

    The server keeps the first `target` replies; without enough of them it waits until the deadline, or,
    when every selected client has replied before it, until the last reply."""
    n = len(finish)
    kept = np.zeros(n, dtype=bool)
    if n == 0:
        return kept, float(deadline_s or 0.0)
    order = np.argsort(finish, kind="stable")
    in_time = n if deadline_s is None else int(np.searchsorted(finish[order], deadline_s, side="right"))
    n_kept = min(target, in_time)
    kept[order[:n_kept]] = True
    if n_kept == target or in_time == n:
        close_s = float(finish[order[n_kept - 1]]) if n_kept else 0.0
    else:
        assert deadline_s is not None
        close_s = float(deadline_s)
    return kept, close_s


def _extrap(extrapolated: bool) -> list[str]:
    return ["extrapolated"] if extrapolated else []


def _join(parts: list[str]) -> str:
    return "; ".join(dict.fromkeys(parts))


def _energy_provenance(kind_counts: np.ndarray, scaled: bool, extrapolated: bool) -> str:
    total = int(kind_counts.sum())
    if total == 0:
        return "no clients"
    base = [KINDS[k] for k in (MEASURED, ESTIMATED) if kind_counts[k]]
    tail = [*(["scaled"] if scaled else []), *_extrap(extrapolated)]
    if kind_counts[UNAVAILABLE]:
        return _join([f"unavailable: {int(kind_counts[UNAVAILABLE])} of {total} clients' energy not measured", *base])
    return _join(base + tail)


def _radio_provenance(classes: list[ClassModel], s: _Selected, extrapolated: bool) -> str:
    missing = [classes[i].name for i in np.unique(s.cls) if not classes[i].link.has_energy]
    if missing:
        return f"unavailable: no radio energy model for {', '.join(missing)}"
    return _join(["estimated: link model", *_extrap(extrapolated)])


def _idle_provenance(classes: list[ClassModel]) -> str:
    if not classes:
        return "no clients kept"
    kinds = [c.idle_provenance.split(":", 1)[0] for c in classes]
    missing = [c.name for c in classes if c.idle_power_w is None]
    if missing:
        return f"unavailable: no idle power for {', '.join(missing)}"
    return _join(sorted(kinds))


_KIND_ORDER = ("measured", "estimated", "scaled", "extrapolated", "unavailable")


def _kinds_of(cells: pd.DataFrame) -> str:
    """Every provenance kind found in `cells` (`estimated: link model; scaled` -> estimated, scaled)."""
    found = {part.split(":", 1)[0].strip() for cell in cells.to_numpy().ravel() for part in str(cell).split(";")}
    return "; ".join(k for k in _KIND_ORDER if k in found)


def _frame(rows: list[dict[str, Any]], columns: list[Any]) -> pd.DataFrame:
    names = [c.name for c in columns]
    frame = pd.DataFrame(rows, columns=names)
    return frame


def _summary(fleet: FleetSpec, method: str, rounds: pd.DataFrame) -> dict[str, Any]:
    target = fleet.target_accuracy
    row: dict[str, Any] = {
        "method": method,
        "rounds": len(rounds),
        "rounds_failed": int((rounds["status"] != OK).sum()),
        "rounds_extrapolated": int(rounds["bytes_provenance"].str.contains("extrapolated").sum()),
        "model_rounds": int((rounds["status"] == OK).sum()),
        "final_accuracy": float(rounds["accuracy"].iloc[-1]) if len(rounds) else math.nan,
        "target_accuracy": target if target is not None else math.nan,
        "time_s": float(rounds["round_s"].sum()),
        "clients_selected": int(rounds["clients_selected"].sum()),
        "clients_dropped": int(rounds["clients_dropped"].sum()),
        "energy_provenance": _kinds_of(
            rounds[["compute_energy_provenance", "radio_energy_provenance", "idle_energy_provenance"]]
        ),
    }
    for col in ("energy_j", "compute_energy_j", "radio_energy_j", "idle_energy_j", "bytes_down", "bytes_up"):
        row[col] = float(rounds[col].to_numpy().sum())
    if target is not None:
        reached = rounds[(rounds["status"] == OK) & (rounds["accuracy"] >= target)]
        if not reached.empty:
            at = reached.index[0]
            upto = rounds.loc[:at]
            row |= {
                "target_round": int(rounds.at[at, "round"]),
                "target_model_round": int(rounds.at[at, "model_round"]),
                "time_to_target_s": float(rounds.at[at, "elapsed_s"]),
                "bytes_down_to_target": float(upto["bytes_down"].sum()),
                "bytes_up_to_target": float(upto["bytes_up"].sum()),
            }
            for part in ("", "compute_", "radio_", "idle_"):
                row[f"{part}energy_to_target_j"] = float(upto[f"{part}energy_j"].to_numpy().sum())
    return row


__all__ = ["OK", "Projection", "project"]
