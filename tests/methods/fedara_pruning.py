"""Driving FedARA's server to prune a module, for the tests of what the client then holds and sends."""

from __future__ import annotations

import torch
from torch import nn

from edgebench.methods.base import MethodClient, TrainSettings
from edgebench.methods.fedara.server import FedARAServer


def prune_first_module(
    client: MethodClient, server: FedARAServer, model: nn.Module, batch: dict[str, torch.Tensor], budget: int
) -> tuple[str, nn.Module]:
    """Prune the server's first module (its scores zeroed, the others raised, `budget` allocated) and apply
    that on the client; checks the next uplink leaves the module out. Returns the module's name and the
    layer the client holds there."""
    victim = server.modules[0]
    server.smoothed[victim].zero_()
    for m in server.modules[1:]:
        server.smoothed[m] += 1.0
    server._allocate(budget)
    assert victim in server.pruned_modules()
    client.apply(model, server.global_payload())
    layer = model.get_submodule(victim)
    fit = client.fit(model, server.global_payload(), [batch], TrainSettings(), None)
    assert not any(k.startswith(victim + ".") for k in fit.payload.tensors)
    return victim, layer
