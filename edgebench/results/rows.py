"""The typed rows of the results contract: clients.csv, rounds.csv and ranks.csv.

Field order is file order. An empty cell (None) means *not measured*; it never means zero. Every energy
or memory value has a provenance column beside it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgebench.profiler.windows import WindowRecord
from edgebench.results.schema import (
    BYTES,
    CORES,
    COUNT,
    FRACTION,
    HERTZ,
    JOULES,
    SECONDS,
    TEXT,
    WATTS,
    Column,
    column,
    column_names,
    columns_of,
)

PHASES = ("download", "train", "upload")


@dataclass(kw_only=True)
class ClientMeasurement:
    """What a client measured about its own round, where it ran (its profiler, its device's link model).

    The server adds the identity, rank and status cells (:class:`ClientRow`); on Flower these travel in
    the reply's metric and config records.
    """

    num_steps: int | None = column(COUNT, "optimizer steps taken locally")
    download_s: float | None = column(SECONDS, "wall time (monotonic clock) of decoding the downlink")
    train_s: float | None = column(SECONDS, "wall time of local training (batching included)")
    upload_s: float | None = column(SECONDS, "wall time of encoding the uplink")
    total_s: float | None = column(SECONDS, "the client's whole window, enclosing the three phases")
    bytes_down: int | None = column(
        BYTES, "exact serialized size of the payload received (safetensors, header included)"
    )
    bytes_up: int | None = column(BYTES, "exact serialized size of the payload sent (safetensors, header included)")
    train_loss: float | None = column("nats", "mean cross-entropy over the local steps (regularisers excluded)")
    energy_j: float | None = column(
        JOULES, "energy over the client window (same span as `total_s`); empty when no meter"
    )
    energy_provenance: str | None = column(
        TEXT,
        "`measured-counter: ...`, `measured-sampled: ...`, `estimated: ...` or `unavailable: <reason>`, with scope",
    )
    power_avg_w: float | None = column(WATTS, "mean power over the client window")
    peak_rss_bytes: int | None = column(BYTES, "host RSS high-water mark within the client window")
    peak_accel_bytes: int | None = column(BYTES, "CUDA allocator peak within the window; empty without CUDA")
    memory_provenance: str | None = column(
        TEXT, "how the memory peaks were measured (e.g. VmHWM reset per window, or process-lifetime ru_maxrss)"
    )
    energy_net_j: float | None = column(
        JOULES,
        "energy net of idle power (`energy_j - idle_power_w x total_s`, may be negative); empty without an idle "
        "baseline (run.json `measurement.idle_baseline` says where it came from)",
    )
    idle_power_w: float | None = column(WATTS, "the idle power subtracted for `energy_net_j`")
    energy_scope: str | None = column(
        TEXT, "what the energy covers (rails, domains, devices), e.g. `module input power VDD_IN (excludes ...)`"
    )
    sample_rate_hz: float | None = column(
        HERTZ, "sampled meters: achieved samples per second inside the client window; empty for counters and estimates"
    )
    max_gap_s: float | None = column(
        SECONDS, "sampled meters: the window's longest stretch without a sample (edges included)"
    )
    window_flags: str | None = column(
        TEXT,
        "`;`-separated flags of the client window and its phases (`<phase>:<flag>`): `short-window` (shorter than "
        "10x the sensor update interval or sample period), `few-samples`, `meter-failed`, `log-does-not-cover-window`, "
        "`contended` (other processes used more than `profiler.contention_threshold_cores` cores on average, beyond "
        "the measurement's resolution: times and energy are written but not comparable with a quiet machine's), "
        "`implausible` (an impossible meter reading: energy empty, the provenance says why), `missed-wrap-possible` "
        "(a wrapping counter such as RAPL went unread longer than one wrap period: energy may be too low), "
        "`negative-net-energy` (the window drew less than the idle baseline: `energy_net_j` < 0, kept as measured)",
    )
    download_energy_j: float | None = column(JOULES, "energy of the download window (same provenance as `energy_j`)")
    train_energy_j: float | None = column(JOULES, "energy of the train window (same provenance as `energy_j`)")
    upload_energy_j: float | None = column(JOULES, "energy of the upload window (same provenance as `energy_j`)")
    energy_rails_j: str | None = column(
        TEXT,
        "per-rail energy of sampled rail meters as `RAIL=joules;...` (Jetson INA3221/tegrastats, Pi 5 PMIC, "
        "NVML per GPU); `not-in-total:<meter>` entries are sources reported beside `energy_j` and not added to it "
        "(a laptop's estimated CPU share next to its measured GPU; `energy_scope` names them)",
    )
    peak_accel_reserved_bytes: int | None = column(
        BYTES, "CUDA caching-allocator reserved peak within the window; empty without CUDA"
    )
    mem_available_min_bytes: int | None = column(
        BYTES, "system MemAvailable minimum within the window (unified-memory boards: Jetson profiles)"
    )
    nvmap_peak_bytes: int | None = column(BYTES, "NvMapMemUsed peak within the window (Jetson); empty where absent")
    comm_time_est_s: float | None = column(
        SECONDS,
        "*estimated* time to move `bytes_down` and `bytes_up` over the device profile's link model (never "
        "measured; basis in run.json `measurement.link_model`)",
    )
    comm_energy_est_j: float | None = column(
        JOULES, "*estimated* radio energy to move `bytes_down` and `bytes_up` over the device profile's link model"
    )
    other_cpu_cores: float | None = column(
        CORES,
        "CPU other processes used during the client window, in core-seconds per second (busy time of this process's "
        "CPUs from /proc/stat minus this process tree's CPU time); each CPU's counter is truncated to 10 ms, so short "
        "windows carry large error (the `contended` flag allows for it); empty where /proc/stat is unreadable",
    )
    power_samples_dropped: int | None = column(
        COUNT,
        "sampled meters: power samples inside the client window dropped as implausible (below 0 W or above the "
        "device profile's `max_power_w`); empty for counters and estimates",
    )

    @classmethod
    def from_window(
        cls,
        window: WindowRecord,
        *,
        num_steps: int,
        bytes_down: int,
        bytes_up: int,
        train_loss: float,
        comm_time_est_s: float | None,
        comm_energy_est_j: float | None,
    ) -> ClientMeasurement:
        """A client window (with its download/train/upload children) as measurement cells."""
        cells = window_cells(window)
        for phase in PHASES:
            child = window.child(phase)
            cells[f"{phase}_s"], cells[f"{phase}_energy_j"] = child.duration_s, child.energy_j
        return cls(
            **cells,
            num_steps=num_steps,
            bytes_down=bytes_down,
            bytes_up=bytes_up,
            train_loss=train_loss,
            comm_time_est_s=comm_time_est_s,
            comm_energy_est_j=comm_energy_est_j,
        )

    def cells(self) -> dict[str, Any]:
        """Column name -> value (None = not measured)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_cells(cls, cells: Mapping[str, Any]) -> ClientMeasurement:
        """The measurement from cells named by column (absent = None; unknown names ignored)."""
        return cls(**{name: cells[name] for name in MEASUREMENT_COLUMNS if name in cells})


MEASUREMENT_COLUMNS = column_names(columns_of(ClientMeasurement))
# Cells a profiler window holds under the same name.
_WINDOW_CELLS = (
    "energy_j",
    "energy_provenance",
    "power_avg_w",
    "peak_rss_bytes",
    "peak_accel_bytes",
    "memory_provenance",
    "energy_net_j",
    "idle_power_w",
    "energy_scope",
    "sample_rate_hz",
    "max_gap_s",
    "peak_accel_reserved_bytes",
    "mem_available_min_bytes",
    "nvmap_peak_bytes",
    "other_cpu_cores",
)


def window_cells(window: WindowRecord) -> dict[str, Any]:
    """The measurement cells a window holds itself: time, energy, power, memory, flags and rails (the phase
    cells and the caller's cells such as `num_steps` are not included)."""
    flags = window.all_flags()
    return {
        **{name: getattr(window, name) for name in _WINDOW_CELLS},
        "total_s": window.duration_s,
        "window_flags": ";".join(flags) if flags else None,
        "energy_rails_j": format_rails(window.rails_j),
        "power_samples_dropped": window.samples_dropped,
    }


def format_rails(rails_j: Mapping[str, float]) -> str | None:
    """``RAIL=joules;RAIL=joules`` (None when the source has no per-rail values)."""
    return ";".join(f"{name}={float(value)!r}" for name, value in rails_j.items()) or None


@dataclass(kw_only=True)
class Transport:
    """What a Flower runner adds to a client's row (empty in-process)."""

    flower_bytes_down: int | None = column(
        BYTES,
        "Flower runners only: Flower's own size of the train message, the sum of `count_bytes()` over its records "
        "(gRPC/HTTP framing and TLS not included)",
    )
    flower_bytes_up: int | None = column(
        BYTES, "Flower runners only: Flower's own size of the reply, counted the same way"
    )
    flower_reply_s: float | None = column(
        SECONDS,
        "Flower runners only: from pushing the train message to pulling its reply, on the server's clock (network, "
        "SuperNode polling, ClientApp start-up and imports, the client window)",
    )
    client_device: str | None = column(
        TEXT, "Flower runners only: the device profile of the SuperNode that ran the client"
    )


@dataclass(kw_only=True)
class ClientRow:
    """clients.csv: one row per method x round x sampled client.

    A dropout's row keeps what the server knows (`num_examples` of the partition, `bytes_down` and
    `flower_bytes_down` when the message went out, `client_device`) and leaves the client's measurement empty.
    """

    method: str = column(TEXT, "the method's label (`name` in the config, else its registry name)", required=True)
    round: int = column(COUNT, "1-based round", required=True)
    client_id: int = column(COUNT, "0-based client id (row of `partition.csv`)", required=True)
    num_examples: int = column(COUNT, "the client's training examples (its FedAvg weight)", required=True)
    active_rank: int = column(
        COUNT, "total adapter rank summed over modules, as broadcast to this client", required=True
    )
    active_modules: int = column(COUNT, "unpruned adapted modules, as broadcast to this client", required=True)
    status: str = column(
        TEXT,
        "`accepted`, `rejected: <reason>` (undecodable, wrong tensors or shapes, NaN, a reply for another "
        "method/round/client) or, on Flower, `dropout: <reason>` (no SuperNode for the client, no reply within "
        "`runtime.round_timeout_s`, the node went offline, or Flower's error such as "
        "`CLIENT_APP_RAISED_EXCEPTION: ...`); rejected replies and dropouts are never averaged",
        required=True,
    )
    measurement: ClientMeasurement = dataclasses.field(default_factory=ClientMeasurement)
    transport: Transport = dataclasses.field(default_factory=Transport)

    def cells(self) -> dict[str, Any]:
        """Column name -> value, in file order."""
        own = {c.name: getattr(self, c.name) for c in columns_of(ClientRow)}
        cells = {**own, **self.measurement.cells(), **dataclasses.asdict(self.transport)}
        return {name: cells[name] for name in CLIENT_COLUMNS}


def _client_columns() -> list[Column]:
    # The row's own rank and status columns sit after memory_provenance, where the first contract had them.
    own = columns_of(ClientRow)
    measured = columns_of(ClientMeasurement)
    split = [c.name for c in measured].index("memory_provenance") + 1
    return [*own[:4], *measured[:split], *own[4:], *measured[split:], *columns_of(Transport)]


CLIENT_TABLE: list[Column] = _client_columns()
CLIENT_COLUMNS = column_names(CLIENT_TABLE)


@dataclass(kw_only=True)
class RoundRow:
    """rounds.csv: one row per method x round."""

    method: str = column(TEXT, "the method's label", required=True)
    round: int = column(COUNT, "1-based round", required=True)
    clients: int = column(COUNT, "sampled clients (dropouts included)", required=True)
    clients_rejected: int = column(COUNT, "sampled clients whose replies were rejected", required=True)
    bytes_down: int = column(BYTES, "sum of the clients' `bytes_down` (what was actually sent)", required=True)
    bytes_up: int = column(BYTES, "sum of the clients' `bytes_up` (what was actually received)", required=True)
    round_s: float = column(
        SECONDS, "wall time from configuring the round to the end of aggregation (evaluation excluded)", required=True
    )
    eval_s: float | None = column(SECONDS, "wall time of global evaluation; empty on rounds without evaluation")
    eval_accuracy: float | None = column(
        FRACTION,
        "global model on the evaluation split (run.json `data.eval_split`: the held-out test split, or the validation "
        "split carved from train), every `eval_every` rounds and always at the last round",
    )
    eval_loss: float | None = column("nats", "mean cross-entropy of the global model on the evaluation split")
    eval_examples: int | None = column(COUNT, "evaluation-split examples evaluated")
    energy_j: float | None = column(
        JOULES, "sum of the clients' energy when every client was measured; empty otherwise"
    )
    energy_provenance: str | None = column(TEXT, "provenance of the clients' energy")
    active_rank: int = column(
        COUNT, "total adapter rank after aggregation (what the next round broadcasts)", required=True
    )
    active_modules: int = column(COUNT, "unpruned adapted modules after aggregation", required=True)
    budget: int | None = column(
        COUNT, "FedARA's rank budget b(t) in total triplets; empty for methods without a server budget"
    )
    energy_net_j: float | None = column(JOULES, "sum of the clients' net energy when every client has one")
    eval_energy_j: float | None = column(JOULES, "energy of the global-evaluation window (same span as `eval_s`)")
    eval_energy_provenance: str | None = column(TEXT, "how `eval_energy_j` was obtained")
    comm_time_est_s: float | None = column(SECONDS, "sum of the clients' *estimated* communication times")
    comm_energy_est_j: float | None = column(JOULES, "sum of the clients' *estimated* communication energies")
    clients_dropped: int | None = column(COUNT, "Flower runners only: sampled clients recorded as `dropout: ...`")
    flower_bytes_down: int | None = column(BYTES, "Flower runners only: sum of the clients' Flower message sizes")
    flower_bytes_up: int | None = column(BYTES, "Flower runners only: sum of the clients' Flower reply sizes")

    @classmethod
    def from_clients(
        cls,
        method: str,
        rnd: int,
        clients: Sequence[ClientRow],
        *,
        round_s: float,
        active_rank: int,
        active_modules: int,
        budget: int | None,
        evaluation: Evaluation | None,
        with_flower: bool,
    ) -> RoundRow:
        """The round's totals from its client rows (a dropout's empty cells count as unknown, not zero)."""
        measured = [c.measurement for c in clients]
        flower = {}
        if with_flower:
            flower = {
                "clients_dropped": sum(1 for c in clients if c.status.startswith(DROPOUT)),
                "flower_bytes_down": sum(c.transport.flower_bytes_down or 0 for c in clients),
                "flower_bytes_up": sum(c.transport.flower_bytes_up or 0 for c in clients),
            }
        return cls(
            method=method,
            round=rnd,
            clients=len(clients),
            clients_rejected=sum(1 for c in clients if c.status.startswith(REJECTED)),
            bytes_down=sum(m.bytes_down or 0 for m in measured),
            bytes_up=sum(m.bytes_up or 0 for m in measured),
            round_s=round_s,
            eval_s=evaluation.duration_s if evaluation else None,
            eval_accuracy=evaluation.accuracy if evaluation else None,
            eval_loss=evaluation.loss if evaluation else None,
            eval_examples=evaluation.num_examples if evaluation else None,
            energy_j=sum_or_none([m.energy_j for m in measured]),
            energy_provenance=next((m.energy_provenance for m in measured if m.energy_provenance), None),
            active_rank=active_rank,
            active_modules=active_modules,
            budget=budget,
            energy_net_j=sum_or_none([m.energy_net_j for m in measured]),
            eval_energy_j=evaluation.energy_j if evaluation else None,
            eval_energy_provenance=evaluation.energy_provenance if evaluation else None,
            comm_time_est_s=sum_or_none([m.comm_time_est_s for m in measured]),
            comm_energy_est_j=sum_or_none([m.comm_energy_est_j for m in measured]),
            **flower,
        )

    def cells(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ROUND_TABLE: list[Column] = columns_of(RoundRow)
ROUND_COLUMNS = column_names(ROUND_TABLE)


@dataclass(frozen=True)
class Evaluation:
    """The global model's evaluation in a round, and its window's measurements."""

    accuracy: float
    loss: float
    num_examples: int
    duration_s: float
    energy_j: float | None
    energy_provenance: str | None


@dataclass(kw_only=True)
class RankRow:
    """ranks.csv: a module's rank after the round's aggregation; every adapted module, every round."""

    method: str = column(TEXT, "the method's label", required=True)
    round: int = column(COUNT, "1-based round", required=True)
    module: str = column(TEXT, "the adapted module's name", required=True)
    rank: int = column(COUNT, "its rank after aggregation (a pruned module keeps appearing with rank 0)", required=True)

    def cells(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


RANK_TABLE: list[Column] = columns_of(RankRow)
RANK_COLUMNS = column_names(RANK_TABLE)

ACCEPTED = "accepted"
REJECTED = "rejected"
DROPOUT = "dropout"


def sum_or_none(values: Sequence[float | None]) -> float | None:
    """The sum when every value is known, else None (an empty cell never means zero)."""
    return sum(v for v in values if v is not None) if values and all(v is not None for v in values) else None
