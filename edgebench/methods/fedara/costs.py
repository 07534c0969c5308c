"""Cost-aware allocation: importance per unit of local step cost, preferring to free whole lower layers.

Backpropagation stops at the lowest layer that still holds an adapter, so the backward cost of a local
step depends on one thing the allocation decides: the lowest layer it keeps a triplet in. With per-layer
backward costs ``c_l`` and the cost ``base`` of a step that backpropagates through no layer (forward pass,
head, optimizer), keeping triplets down to layer ``k`` costs ``C(k) = base + sum_{l >= k} c_l`` per step
(the adapters' own compute is neglected: shrinking ranks saves almost nothing, docs/benchmarks.md).

For every layer ``k`` that holds candidates, lowest first, the allocation "top b triplets among layers
>= k" has value ``V`` (the sum of its smoothed scores) and cost ``C`` (at its lowest kept layer); the
server keeps the one with the highest ``V / C^w``. A cut that leaves fewer than b candidates is not
considered (the budget is always filled), ties keep the lower cut, and ``w = 0`` is plain global
allocation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: (smoothed score, module index, original rank id, module name), as the server sorts them.
Candidate = tuple[float, int, int, str]

_LAYER = re.compile(r"(?:^|\.)(\d+)(?=\.|$)")


def layer_of(module: str) -> int | None:
    """The layer number of a module name: its first all-digit dotted part (`bert.encoder.layer.3.attention.self.query`
    -> 3, GPT-2's `transformer.h.3.attn.c_attn` -> 3); None when it has none."""
    found = _LAYER.search(module)
    return int(found.group(1)) if found else None


def module_layers(modules: Iterable[str]) -> dict[str, int]:
    """Layer number of every module; ValueError naming the first module without one."""
    layers = {}
    for m in modules:
        layer = layer_of(m)
        if layer is None:
            raise ValueError(
                f"allocation: cost_aware needs a layer number in every adapted module's name; {m!r} has none"
            )
        layers[m] = layer
    return layers


@dataclass(frozen=True)
class StepCosts:
    """Per-layer backward costs (index = layer number) and the cost of a step that backpropagates through none."""

    layer_backward: tuple[float, ...]
    base: float

    def check_layers(self, layers: Iterable[int]) -> None:
        """ValueError when a module's layer has no cost."""
        top = max(layers, default=-1)
        if top >= len(self.layer_backward):
            raise ValueError(
                f"layer_backward_cost has {len(self.layer_backward)} entries but modules reach layer {top}; "
                f"give one cost per layer 0..{top}"
            )

    def of_cut(self, lowest: int | None) -> float:
        """Cost of one local step when the lowest layer holding an adapter is `lowest` (None: no adapter left)."""
        if lowest is None:
            return self.base
        return self.base + sum(self.layer_backward[lowest:])


def cost_aware_choice(
    candidates: Sequence[Candidate], layers: dict[str, int], budget: int, costs: StepCosts, weight: float
) -> list[Candidate]:
    """The triplets to keep: over the cuts k (layers holding candidates, lowest first), the top `budget` of the
    candidates in layers >= k with the highest V / C^weight. `candidates` are sorted best first (ties as the
    server breaks them), so each cut's selection is what plain global allocation would keep above it."""
    cuts = sorted({layers[c[3]] for c in candidates})
    best: tuple[float, list[Candidate]] | None = None
    for k in cuts:
        pool = [c for c in candidates if layers[c[3]] >= k]
        if best is not None and len(pool) < budget:
            break  # higher cuts leave even fewer candidates
        keep = pool[:budget]
        value = sum(c[0] for c in keep)
        cost = costs.of_cut(min((layers[c[3]] for c in keep), default=None))
        objective = value / cost**weight
        if best is None or objective > best[0]:
            best = (objective, keep)
    return best[1] if best is not None else []
