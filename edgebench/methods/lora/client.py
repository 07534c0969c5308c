"""Client half of LoRA / FFA-LoRA: load the global adapters, train locally, send trainable tensors."""

from __future__ import annotations

from torch import nn

from edgebench.methods.base import FitResult, LocalRound, Payload
from edgebench.methods.common.client import TrainableStateClient
from edgebench.methods.common.state import trainable_state
from edgebench.methods.common.training import local_train
from edgebench.methods.lora.adapter import attach_lora
from edgebench.methods.lora.config import LoraParams


class LoraClient(TrainableStateClient):
    """FedIT client: A, B and the head are trained and uploaded."""

    freeze_a = False
    params: LoraParams

    def build(self, base_model: nn.Module) -> nn.Module:
        return attach_lora(base_model, self.params, self.seed, freeze_a=self.freeze_a)

    def local_update(self, model: nn.Module, job: LocalRound) -> FitResult:
        loss, steps = local_train(model, job.batches, job.settings, self.placement)
        return FitResult(payload=Payload(tensors=trainable_state(model)), train_loss=loss, num_steps=steps)
