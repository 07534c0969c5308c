"""Client half of LoRA / FFA-LoRA: load the global adapters, train locally, send trainable tensors."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from edgebench.methods.base import Batch, FitResult, MethodClient, Payload, TrainSettings
from edgebench.methods.common.state import load_trainable_state, trainable_state
from edgebench.methods.common.training import local_train
from edgebench.methods.lora.adapter import attach_lora
from edgebench.methods.lora.config import LoraParams


class LoraClient(MethodClient):
    """FedIT client: A, B and the head are trained and uploaded."""

    freeze_a = False
    params: LoraParams

    def build(self, base_model: nn.Module) -> nn.Module:
        return attach_lora(base_model, self.params, self.seed, freeze_a=self.freeze_a)

    def initial_parameters(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return trainable_state(model)

    def apply(self, model: nn.Module, payload: Payload) -> None:
        load_trainable_state(model, payload.tensors)

    def fit(
        self,
        model: nn.Module,
        payload: Payload,
        batches: Iterable[Batch],
        settings: TrainSettings,
        client_state: Payload | None,
    ) -> FitResult:
        self.apply(model, payload)
        loss, steps = local_train(model, batches, settings)
        return FitResult(payload=Payload(tensors=trainable_state(model)), train_loss=loss, num_steps=steps)
