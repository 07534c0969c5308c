"""The client half shared by methods whose global state is simply their trainable tensors."""

from __future__ import annotations

import torch
from torch import nn

from edgebench.methods.base import MethodClient, Payload
from edgebench.methods.common.state import load_trainable_state, trainable_state


class TrainableStateClient(MethodClient):
    """Sends every trainable tensor as the round-0 state and loads a downlink's tensors as they are."""

    def initial_parameters(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return trainable_state(model)

    def apply(self, model: nn.Module, payload: Payload) -> None:
        load_trainable_state(model, payload.tensors)
