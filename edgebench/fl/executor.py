"""Client executors: how a round's downlinks reach the sampled clients and come back as replies.

The engine (:mod:`edgebench.fl.engine`) owns the round loop, sampling, the method's server half,
evaluation and the results; an executor only runs the clients' side of one round. Two exist: the
in-process one (:mod:`edgebench.fl.inprocess`, every client in this process on one shared backbone)
and Flower's (:mod:`edgebench.fl.flower.executor`, clients on SuperNodes or Flower's simulation runtime).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from edgebench.config import ExperimentConfig
from edgebench.fl.prepared import PreparedData
from edgebench.methods.base import MethodClient, Payload
from edgebench.profiler.setup import Measurement
from edgebench.results import ClientMeasurement, RunMeta, Transport

#: Called as each client of a round finishes: (clients done so far, its train loss or NaN).
OnClientDone = Callable[[int, float], None]


@dataclass(frozen=True)
class RunContext:
    """What an executor may use for the whole run."""

    config: ExperimentConfig
    measurement: Measurement  # this process's profiler and link model
    log: Callable[[str], None]


@dataclass
class MethodSession:
    """One method of the run, as the engine set it up on the server."""

    label: str
    client: MethodClient  # the method's client half, built once (in-process clients train with it)
    model: nn.Module  # the global model (evaluated by the engine; in-process clients train on it)
    data: PreparedData
    client_states: dict[int, Payload]  # per-client method state the engine checkpoints


@dataclass(frozen=True)
class ClientTask:
    """One sampled client's part of a round: its encoded downlink."""

    client_id: int
    num_examples: int
    downlink: bytes


@dataclass(frozen=True)
class RoundTask:
    label: str
    round: int
    clients: list[ClientTask]


@dataclass
class ClientOutcome:
    """What came back from one sampled client.

    `payload` is the decoded uplink when the reply can be aggregated; otherwise `problem` is the row's
    status (``rejected: <reason>`` or ``dropout: <reason>``) and the measurement holds what is known.
    """

    client_id: int
    num_examples: int
    measurement: ClientMeasurement
    payload: Payload | None = None
    problem: str | None = None
    transport: Transport = field(default_factory=Transport)


class ClientExecutor(ABC):
    """Runs the clients' side of each round; one instance serves every method of a run."""

    #: Whether its rows carry Flower's transport columns (and the round rows their sums).
    transport_columns: bool = False

    @abstractmethod
    def open(self, run: RunContext, meta: RunMeta) -> None:
        """Called once before the first method (e.g. to wait for devices and describe them in `meta`)."""

    @abstractmethod
    def start_method(self, session: MethodSession) -> None:
        """Called before `session`'s first round."""

    def before_round(self, meta: RunMeta) -> bool:
        """Called at the start of every round; True when it changed `meta` (the engine then writes it)."""
        return False

    def min_replies(self, config: ExperimentConfig) -> int:
        """Fewest usable replies a round needs (0: the run goes on whatever comes back)."""
        return 0

    @abstractmethod
    def run_round(self, task: RoundTask, on_client_done: OnClientDone) -> list[ClientOutcome]:
        """Deliver each client's downlink, run its round and collect one outcome per task client (same order)."""


class TooFewReplies(RuntimeError):
    """A round ended with fewer usable replies than the executor needs (``runtime.min_replies``)."""
