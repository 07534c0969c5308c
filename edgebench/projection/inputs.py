"""Measured run directories as the projection uses them: per device profile, method and round, the measured
clients' costs as arrays (a *pool*), and per method and round the measured global accuracy.

Runs are read only through :mod:`edgebench.results` (docs/results-contract.md). A client row belongs to the
device profile in its `client_device` cell (Flower deployments), else to run.json `device.profile`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgebench.projection.errors import ProjectionError
from edgebench.results import DROPOUT, RunMeta, read_run

#: Energy provenance kinds of a client row, in the order of the code stored in Pool.energy_kind.
KINDS = ("measured", "estimated", "unavailable")
MEASURED, ESTIMATED, UNAVAILABLE = 0, 1, 2
#: run.json idle_baseline sources that are measurements of the unit (docs/measurement.md).
MEASURED_IDLE_SOURCES = ("measured", "calibration-file")


@dataclass(frozen=True)
class Pool:
    """The clients measured for one method and round on one device profile, in clients.csv order."""

    client_id: np.ndarray
    total_s: np.ndarray
    energy_j: np.ndarray
    energy_kind: np.ndarray
    bytes_down: np.ndarray
    bytes_up: np.ndarray
    peak_rss_bytes: np.ndarray

    def __len__(self) -> int:
        return len(self.total_s)


@dataclass
class RunInfo:
    """What projection.json records about each run used."""

    path: str
    status: str
    profiles: list[str]
    config_hash: str | None
    num_clients: int | None
    methods: list[str]
    idle_baseline: dict[str, Any] | None
    #: client windows flagged `contended` (other processes were busy): their times and energy are used as
    #: they are, but are not comparable with a quiet machine's (docs/results-contract.md, `window_flags`)
    contended_windows: int = 0
    #: per method label, the settings that fix its bytes (see `_payload_settings`); not written out
    payload: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "payload"}


@dataclass
class MeasuredRuns:
    """Every run given, pooled: `pools[(profile, method)][round]`, `accuracy[method][round]` (mean over the
    runs that evaluated that round), `measured_rounds[method]` (the most rounds any run recorded)."""

    runs: list[RunInfo]
    pools: dict[tuple[str, str], dict[int, Pool]]
    accuracy: dict[str, dict[int, float]]
    measured_rounds: dict[str, int]
    methods: list[str]
    energy_scopes: dict[str, list[str]] = field(default_factory=dict)
    idle: dict[str, tuple[float, str]] = field(default_factory=dict)

    @property
    def profiles(self) -> list[str]:
        return sorted({p for p, _ in self.pools})

    def pool_rounds(self, profile: str, method: str) -> list[int]:
        return sorted(self.pools.get((profile, method), {}))

    def costs_round(self, profile: str, method: str, model_round: int) -> int:
        """The measured round whose costs stand for `model_round`: itself when measured, else the latest
        measured round before it, else the first measured round (either way flagged extrapolated)."""
        rounds = self.pool_rounds(profile, method)
        at = bisect.bisect_right(rounds, model_round)
        return rounds[at - 1] if at else rounds[0]

    def runs_measuring(self, profile: str, method: str) -> list[RunInfo]:
        return [r for r in self.runs if profile in r.profiles and method in r.methods]


def energy_kind(provenance: str, energy_j: float) -> int:
    """MEASURED, ESTIMATED or UNAVAILABLE for a client row's energy."""
    if not np.isfinite(energy_j):
        return UNAVAILABLE
    if provenance.startswith("measured"):
        return MEASURED
    if provenance.startswith("estimated"):
        return ESTIMATED
    return UNAVAILABLE


def load_runs(paths: list[Path]) -> MeasuredRuns:
    """Read and pool the run directories; ProjectionError naming the run for one that cannot be used."""
    if not paths:
        raise ProjectionError("--runs", [("", "give at least one run directory")])
    infos: list[RunInfo] = []
    frames: list[pd.DataFrame] = []
    accuracy_frames: list[pd.DataFrame] = []
    methods: list[str] = []
    scopes: dict[str, set[str]] = {}
    idle_by_profile: dict[str, list[tuple[float, str]]] = {}
    for path in paths:
        info, clients, rounds = _read_one(Path(path))
        _check_same_payload(info, infos)
        infos.append(info)
        frames.append(clients)
        accuracy_frames.append(rounds)
        methods += [m for m in info.methods if m not in methods]
        for profile, scope in clients[["profile", "energy_scope"]].drop_duplicates().itertuples(index=False):
            if scope:
                scopes.setdefault(profile, set()).add(scope)
        baseline = info.idle_baseline or {}
        if baseline.get("source") in MEASURED_IDLE_SOURCES and baseline.get("power_w") is not None:
            for profile in info.profiles:
                idle_by_profile.setdefault(profile, []).append((float(baseline["power_w"]), info.path))
    clients = pd.concat(frames, ignore_index=True)
    pools = _pools(clients)
    rounds = pd.concat(accuracy_frames, ignore_index=True)
    accuracy = {
        str(method): {int(r): float(a) for r, a in group.groupby("round")["eval_accuracy"].mean().dropna().items()}
        for method, group in rounds.groupby("method", sort=False)
    }
    measured_rounds = {str(m): int(g["round"].max()) for m, g in rounds.groupby("method", sort=False)}
    for (_, method), by_round in pools.items():
        measured_rounds[method] = max(measured_rounds.get(method, 0), max(by_round))
    idle = {}
    for profile, values in idle_by_profile.items():
        watts = [w for w, _ in values]
        where = ", ".join(p for _, p in values)
        idle[profile] = (float(np.mean(watts)), f"measured: run.json idle_baseline of {where}")
    return MeasuredRuns(
        runs=infos,
        pools=pools,
        accuracy=accuracy,
        measured_rounds=measured_rounds,
        methods=methods,
        energy_scopes={p: sorted(s) for p, s in scopes.items()},
        idle=idle,
    )


def _read_one(path: Path) -> tuple[RunInfo, pd.DataFrame, pd.DataFrame]:
    if not path.is_dir():
        raise ProjectionError(str(path), [("", "not a run directory (no such folder)")])
    run = read_run(path)
    if run.problems:
        raise ProjectionError(str(path), [("", p) for p in run.problems])
    try:
        meta = RunMeta.from_json(run.meta)
    except (AttributeError, KeyError, TypeError) as exc:
        raise ProjectionError(str(path), [("run.json", f"malformed ({exc})")]) from None
    if run.rounds.empty:
        raise ProjectionError(
            str(path), [("rounds.csv", "no round recorded (the run ended before its first round closed)")]
        )
    profile = str((meta.device or {}).get("profile") or "")
    clients = run.clients
    clients = clients[clients["total_s"].notna() & clients["bytes_down"].notna() & clients["bytes_up"].notna()]
    clients = clients[~clients["status"].str.startswith(DROPOUT)].copy()
    if clients.empty:
        raise ProjectionError(str(path), [("clients.csv", "no client with a measured window (total_s, bytes)")])
    _check_cells(path, clients)
    device = clients["client_device"].where(clients["client_device"] != "", profile)
    if (device == "").any():
        raise ProjectionError(
            str(path), [("run.json", "device.profile is missing: cannot tell which device the clients ran on")]
        )
    clients["profile"] = device
    measurement = meta.measurement or {}
    methods = list(dict.fromkeys([*meta.methods, *clients["method"].unique()]))
    federation = (meta.config or {}).get("federation") or {}
    info = RunInfo(
        path=str(path),
        status=meta.status,
        profiles=sorted(clients["profile"].unique()),
        config_hash=meta.config_hash,
        num_clients=federation.get("num_clients"),
        methods=[m for m in methods if m in set(clients["method"])],
        idle_baseline=measurement.get("idle_baseline"),
        contended_windows=int(clients["window_flags"].str.contains("contended", regex=False).sum()),
        payload={label: _payload_settings(meta, label) for label in methods},
    )
    return info, clients, run.rounds[["method", "round", "eval_accuracy"]]


def _check_cells(path: Path, clients: pd.DataFrame) -> None:
    """Times and bytes must be finite and >= 0; energy too, when given (a gross energy is never negative)."""
    for col in ("total_s", "bytes_down", "bytes_up", "energy_j"):
        values = clients[col].to_numpy(dtype=float)
        ok = np.isfinite(values) & (values >= 0)
        if col == "energy_j":
            ok |= np.isnan(values)  # empty: not measured
        if not ok.all():
            row = clients.iloc[int(np.argmin(ok))]
            where = f"method {row['method']}, round {row['round']}, client {row['client_id']:g}"
            raise ProjectionError(
                str(path),
                [(f"clients.csv {col}", f"expected a finite number >= 0 (got {float(row[col])!r} for {where})")],
            )


def _payload_settings(meta: RunMeta, label: str) -> dict[str, Any]:
    """What fixes the bytes a method moves: the model, the wire dtype and the method and its parameters."""
    config = meta.config or {}
    method = meta.methods.get(label)
    return {
        "config.model.name": (config.get("model") or {}).get("name"),
        "config.federation.wire_dtype": (config.get("federation") or {}).get("wire_dtype", "float32"),
        f"methods.{label}.method": method.method if method else None,
        **{f"methods.{label}.params.{k}": v for k, v in (method.params if method else {}).items()},
    }


def _check_same_payload(info: RunInfo, earlier: list[RunInfo]) -> None:
    """Runs pooled under one method label must move the same bytes: the same model, wire dtype and method
    parameters (keys one run leaves out or null are not compared)."""
    for other in earlier:
        for label in set(info.payload) & set(other.payload):
            mine, theirs = info.payload[label], other.payload[label]
            for key in mine.keys() & theirs.keys():
                if mine[key] is not None and theirs[key] is not None and mine[key] != theirs[key]:
                    raise ProjectionError(
                        info.path,
                        [
                            (
                                f"run.json {key}",
                                f"{mine[key]!r} here but {theirs[key]!r} in {other.path}: runs pooled under method "
                                f"{label!r} must have the same model, wire dtype and method parameters",
                            )
                        ],
                    )


def _pools(clients: pd.DataFrame) -> dict[tuple[str, str], dict[int, Pool]]:
    kinds = np.array(
        [energy_kind(p, e) for p, e in zip(clients["energy_provenance"], clients["energy_j"], strict=True)],
        dtype=np.int8,
    )
    # an energy cell without a usable provenance is not used: empty means not measured
    energy = np.where(kinds == UNAVAILABLE, np.nan, clients["energy_j"].to_numpy(dtype=float))
    clients = clients.assign(_kind=kinds, _energy=energy)
    pools: dict[tuple[str, str], dict[int, Pool]] = {}
    for (profile, method, rnd), g in clients.groupby(["profile", "method", "round"], sort=True):
        pools.setdefault((str(profile), str(method)), {})[int(rnd)] = Pool(
            client_id=g["client_id"].to_numpy(dtype=np.int64),
            total_s=g["total_s"].to_numpy(dtype=float),
            energy_j=g["_energy"].to_numpy(dtype=float),
            energy_kind=g["_kind"].to_numpy(dtype=np.int8),
            bytes_down=g["bytes_down"].to_numpy(dtype=float),
            bytes_up=g["bytes_up"].to_numpy(dtype=float),
            peak_rss_bytes=g["peak_rss_bytes"].to_numpy(dtype=float),
        )
    return pools
