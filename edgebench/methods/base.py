"""What every federated method provides: a server half and a client half with small hooks.

The engine (``edgebench.fl``) owns the round loop, sampling, timing, byte accounting, evaluation
and results; a method only says what to send, how to train locally and how to aggregate. Nothing
here does I/O or knows about the profiler or Flower, so the same two halves run in-process, in a
Flower ServerApp/ClientApp, or in Flower's simulation runtime.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

JsonDict = dict[str, Any]
Batch = Mapping[str, torch.Tensor]
# What a method is in a comparison: the method under study, or one it is measured against.
Role = Literal["candidate", "baseline"]


@dataclass
class Payload:
    """What travels between server and client: named tensors plus a JSON-serialisable header.

    Floating tensors travel in the run's wire dtype, except those named in `exact`, which keep their own
    (FedARA's importance scores, about 1e-11, would be zero in float16).
    """

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: JsonDict = field(default_factory=dict)
    exact: frozenset[str] = frozenset()

    def tensor_bytes(self) -> int:
        """Bytes of raw tensor data (no header), as they would be serialised."""
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def cpu(self) -> Payload:
        """The same payload with every tensor in host memory (what is kept between rounds and sent)."""
        return Payload({k: t.detach().cpu() for k, t in self.tensors.items()}, self.meta, self.exact)


class MethodParams(BaseModel):
    """Base class for a method's validated parameters (unknown keys rejected)."""

    model_config = ConfigDict(extra="forbid")

    def problems_for_run(self, rounds: int, local_steps: int | None) -> list[tuple[str, str]]:
        """(field, message) pairs for settings that cannot work with this run's rounds and local steps."""
        return []


class TrainSettings(BaseModel):
    """Local-training settings shared by every method (the `federation:` section's training part)."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(5e-4, gt=0)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    weight_decay: float = Field(0.0, ge=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    max_grad_norm: float | None = Field(1.0, gt=0)


@dataclass
class FitResult:
    """A client's local update: the uplink payload and what it measured about its own training."""

    payload: Payload
    train_loss: float
    num_steps: int
    client_state: Payload | None = None


@dataclass
class ClientReply:
    """A decoded uplink, as the server sees it."""

    client_id: int
    num_examples: int
    payload: Payload


@dataclass
class RoundOutcome:
    """What aggregation produced, for the round's results rows.

    ``active_rank`` is the total adapter rank summed over adapted modules (the same unit as FedARA's
    budget); ``module_ranks`` maps every adapted module to its rank after aggregation (0 = pruned).
    """

    accepted: list[int]
    rejected: dict[int, str]
    module_ranks: dict[str, int]
    budget: int | None = None

    @property
    def active_rank(self) -> int:
        return sum(self.module_ranks.values())

    @property
    def active_modules(self) -> int:
        return sum(1 for r in self.module_ranks.values() if r > 0)


Precision = Literal["float32", "bfloat16", "float16"]


@dataclass(frozen=True)
class Placement:
    """Where a client's model computes and at which precision.

    `autocast` runs forward passes under mixed precision (bfloat16 or float16; float32 = off), with a
    gradient scaler for float16; adapter weights and optimizer state stay float32 whatever it is.
    `backbone_dtype` stores the frozen backbone in half precision (it must then equal `autocast`).
    """

    device: str = "cpu"
    autocast: Precision = "float32"
    backbone_dtype: Precision = "float32"

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    def autocast_context(self) -> AbstractContextManager[Any]:
        """The forward pass's mixed-precision context (a no-op at float32)."""
        if self.autocast == "float32":
            return nullcontext()
        return torch.autocast(device_type=self.torch_device.type, dtype=getattr(torch, self.autocast))

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """A loss scaler for float16 training (float16 gradients underflow without one); None otherwise."""
        return torch.amp.GradScaler(self.torch_device.type) if self.autocast == "float16" else None

    def place(self, model: nn.Module) -> nn.Module:
        """Move `model` to the device; store its frozen floating parameters at `backbone_dtype`."""
        model.to(self.torch_device)
        if self.backbone_dtype != "float32":
            dtype = getattr(torch, self.backbone_dtype)
            for param in model.parameters():
                if not param.requires_grad and param.is_floating_point():
                    param.data = param.data.to(dtype)
        return model

    def batch(self, batch: Batch) -> Batch:
        """`batch` on the device (a no-op on the CPU)."""
        if self.device == "cpu":
            return batch
        return {k: v.to(self.torch_device, non_blocking=True) for k, v in batch.items()}


@dataclass
class LocalRound:
    """What a client's local update works from, besides the model.

    `payload` is the downlink, already applied to the model; `client_state` is what the client kept from
    the last round it was sampled (None the first time).
    """

    payload: Payload
    batches: Iterable[Batch]
    settings: TrainSettings
    client_state: Payload | None


class MethodClient(ABC):
    """Client half: attaches the adapter to a frozen backbone and runs a local update.

    `placement` says where the model computes; the runner moves the built model there
    (:meth:`Placement.place`), and the local update trains and evaluates there.
    """

    def __init__(
        self,
        params: MethodParams,
        seed: int,
        rounds: int = 1,
        local_steps: int | None = None,
        placement: Placement | None = None,
    ) -> None:
        self.params = params
        self.seed = seed
        self.rounds = rounds
        self.local_steps = local_steps
        self.placement = placement or Placement()

    @abstractmethod
    def build(self, base_model: nn.Module) -> nn.Module:
        """Wrap `base_model` with this method's adapter; called once per process.

        Must be deterministic for `self.seed`, so that every process builds identical frozen parts.
        """

    @abstractmethod
    def initial_parameters(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The global trainable state at round 0 (what the server starts from)."""

    @abstractmethod
    def apply(self, model: nn.Module, payload: Payload) -> None:
        """Load a downlink (global state for training or evaluation) into `model`."""

    def fit(
        self,
        model: nn.Module,
        payload: Payload,
        batches: Iterable[Batch],
        settings: TrainSettings,
        client_state: Payload | None,
    ) -> FitResult:
        """Apply `payload`, then run the method's local update (one optimizer step per batch); returns the uplink."""
        self.apply(model, payload)
        return self.local_update(model, LocalRound(payload, batches, settings, client_state))

    @abstractmethod
    def local_update(self, model: nn.Module, job: LocalRound) -> FitResult:
        """Train `model`, which already holds `job.payload`, on `job.batches` at `self.placement`; return the uplink."""


class MethodServer(ABC):
    """Server half: holds the global state, configures rounds and aggregates replies."""

    def __init__(self, params: MethodParams, total_rounds: int) -> None:
        self.params = params
        self.total_rounds = total_rounds

    @abstractmethod
    def initialize(self, initial: dict[str, torch.Tensor]) -> None:
        """Take the round-0 global state produced by the client half's `initial_parameters`."""

    @abstractmethod
    def configure_round(self, rnd: int, client_ids: list[int]) -> dict[int, Payload]:
        """The downlink for each sampled client of round `rnd` (1-based)."""

    @abstractmethod
    def aggregate(self, rnd: int, replies: list[ClientReply]) -> RoundOutcome:
        """Fold valid replies into the global state; reject (never average) malformed ones."""

    @abstractmethod
    def global_payload(self) -> Payload:
        """The current global state, as broadcast for evaluation."""

    @abstractmethod
    def module_ranks(self) -> dict[str, int]:
        """Current rank of every adapted module (0 = pruned)."""

    @abstractmethod
    def state_dict(self) -> Payload:
        """Everything needed to resume the server exactly (tensors + JSON)."""

    @abstractmethod
    def load_state_dict(self, state: Payload) -> None:
        """Restore what `state_dict` produced."""


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its name, parameter model, the two halves and its role in comparisons."""

    name: str
    params_model: type[MethodParams]
    client_cls: type[MethodClient]
    server_cls: type[MethodServer]
    summary: str
    role: Role
