"""One client's round, the same in every runner: decode the downlink, train, encode the uplink.

Each phase runs inside a profiler window, nested in one client window, so the in-process engine
and the Flower ClientApp measure exactly the same spans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from torch import nn

from edgebench.fl.codec import WireDtype, decode, encode
from edgebench.methods.base import Batch, FitResult, MethodClient, Payload, TrainSettings
from edgebench.profiler import Profiler, WindowRecord
from edgebench.results import ClientMeasurement


class CommEstimator(Protocol):
    def comm_estimate(self, bytes_down: int, bytes_up: int) -> tuple[float, float | None]: ...


@dataclass
class ClientRoundResult:
    """The encoded uplink, the client's own training report and its measurement windows."""

    uplink: bytes
    fit: FitResult
    window: WindowRecord

    def measurement(self, bytes_down: int, link: CommEstimator) -> ClientMeasurement:
        """What the client measured, with the communication estimate of its own device's link model."""
        comm_s, comm_j = link.comm_estimate(bytes_down, len(self.uplink))
        return ClientMeasurement.from_window(
            self.window,
            num_steps=self.fit.num_steps,
            bytes_down=bytes_down,
            bytes_up=len(self.uplink),
            train_loss=self.fit.train_loss,
            comm_time_est_s=comm_s,
            comm_energy_est_j=comm_j,
        )


def run_client_round(
    client: MethodClient,
    model: nn.Module,
    downlink: bytes,
    batches: Iterable[Batch],
    settings: TrainSettings,
    client_state: Payload | None,
    profiler: Profiler,
    wire_dtype: WireDtype = "float32",
) -> ClientRoundResult:
    """Run download -> train -> upload for one client, each phase in its own window."""
    with profiler.window("client") as window:
        with profiler.window("download"):
            payload = decode(downlink)
        with profiler.window("train"):
            fit = client.fit(model, payload, batches, settings, client_state)
        with profiler.window("upload"):
            uplink = encode(fit.payload, wire_dtype)
    return ClientRoundResult(uplink=uplink, fit=fit, window=window)
