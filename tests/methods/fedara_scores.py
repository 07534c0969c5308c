"""A FedARA server whose smoothed importance scores are given, for the tests of its rank allocation."""

from __future__ import annotations

import torch

from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.fedara.server import FedARAServer


def server_with_scores(scores: dict[str, list[float]], **params) -> FedARAServer:
    """A server over `scores`' modules (r0 = scores per module) whose smoothed scores are `scores`."""
    r0 = len(next(iter(scores.values())))
    server = FedARAServer(FedARAParams(r0=r0, r_target=1, **params), total_rounds=10)
    initial = {}
    for m in scores:
        initial |= {f"{m}.P": torch.zeros(3, r0), f"{m}.lam": torch.zeros(r0), f"{m}.Q": torch.zeros(r0, 3)}
    server.initialize(initial | {"classifier.weight": torch.zeros(2, 3)})
    server.smoothed = {m: torch.tensor(s) for m, s in scores.items()}
    return server
