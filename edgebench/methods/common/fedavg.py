"""Sample-weighted federated averaging of named tensors."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def weighted_average(
    tensor_sets: Sequence[dict[str, torch.Tensor]], weights: Sequence[float], keys: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """sum_k w_k * x_k / sum_k w_k for each key, accumulated in float64 and returned in the input dtype."""
    if not tensor_sets:
        raise ValueError("nothing to average")
    if len(tensor_sets) != len(weights):
        raise ValueError("one weight per tensor set is required")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("weights must sum to a positive number")
    names = list(keys) if keys is not None else list(tensor_sets[0])
    out: dict[str, torch.Tensor] = {}
    for name in names:
        acc = torch.zeros_like(tensor_sets[0][name], dtype=torch.float64)
        for tensors, w in zip(tensor_sets, weights, strict=True):
            acc += tensors[name].to(torch.float64) * (float(w) / total)
        out[name] = acc.to(tensor_sets[0][name].dtype)
    return out
