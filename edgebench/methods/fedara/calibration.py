"""Measuring the step costs that cost-aware allocation needs: how much each layer's backward pass costs.

Once per run, before round 1, the engine hands the client half its model and one batch. For every cut k
(each layer that holds adapters, and "no layer": the head alone) the adapters of the layers below k are
frozen, so backpropagation stops at layer k exactly as it does once those modules are pruned, and one
local step (forward, backward, optimizer step; no orthogonality term or importance EMAs) is timed. The
cuts are timed in turn, `steps` times after one warm-up pass, and each cut's fastest step is kept (other
processes can only add time; the medians are recorded too). The model's trainable tensors and flags are
restored afterwards, so training starts from the same state.

Per-layer costs are differences of neighbouring cuts, made non-negative by taking each cut's cost as at
least that of the cut above it (timing noise can invert close cuts); the layers between two adapted
layers are charged to the lower one.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from edgebench.methods.base import Batch, Placement, TrainSettings
from edgebench.methods.common.state import load_trainable_state, trainable_state
from edgebench.methods.common.training import local_train
from edgebench.methods.fedara.adapter import TRIPLET_PARTS, adapters_of
from edgebench.methods.fedara.costs import module_layers


@dataclass(frozen=True)
class Calibration:
    """Measured step costs, in seconds per local step (the fastest of `steps` timings per cut)."""

    layer_backward_s: list[float]  # index = layer number
    step_base_s: float
    cut_step_s: dict[int, float]  # lowest layer with trainable adapters -> fastest step; key = layers: head only
    cut_step_median_s: dict[int, float]
    steps: int
    batch_rows: int

    def params_update(self) -> dict[str, object]:
        """The FedARA parameters these measurements set."""
        return {"layer_backward_cost": list(self.layer_backward_s), "step_base_cost": self.step_base_s}

    def describe(self) -> dict[str, object]:
        """run.json `methods.<label>.calibration`."""
        return {
            "source": "measured",
            "unit": "s per local step",
            "what": "fastest wall time of one local step (forward, backward, optimizer) with the adapters below each "
            "cut frozen, on the server's copy of the model; key: the lowest layer that trains (the layer count: the "
            "head alone)",
            "steps_per_cut": self.steps,
            "batch_rows": self.batch_rows,
            "cut_step_s": {str(k): v for k, v in self.cut_step_s.items()},
            "cut_step_median_s": {str(k): v for k, v in self.cut_step_median_s.items()},
            "params": self.params_update(),
        }


def calibrate_step_costs(
    model: nn.Module, batch: Batch, settings: TrainSettings, placement: Placement, steps: int
) -> Calibration:
    """Time one local step at every cut (see the module docstring); the model is left as it was."""
    adapters = adapters_of(model)
    layers = module_layers(adapters)
    top = max(layers.values()) + 1  # the cut "no layer": only the head trains
    cuts = [*sorted(set(layers.values())), top]
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    saved = trainable_state(model)
    times: dict[int, list[float]] = {k: [] for k in cuts}
    try:
        for repeat in range(steps + 1):  # the first pass warms up allocators and kernels, untimed
            for k in cuts:
                for name, adapter in adapters.items():
                    for part in TRIPLET_PARTS:
                        getattr(adapter, part).requires_grad_(layers[name] >= k)
                started = time.perf_counter()
                local_train(model, [batch], settings, placement)
                if repeat:
                    times[k].append(time.perf_counter() - started)
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(flags[name])
        load_trainable_state(model, saved)
    fastest = {k: min(v) for k, v in times.items()}
    medians = {k: statistics.median(v) for k, v in times.items()}
    return _costs(fastest, cuts, top, steps, len(batch["labels"]), medians)


def _costs(
    fastest: dict[int, float],
    cuts: Sequence[int],
    top: int,
    steps: int,
    rows: int,
    medians: dict[int, float] | None = None,
) -> Calibration:
    monotone: dict[int, float] = {}
    above = 0.0
    for k in reversed(cuts):  # a cut never costs less than the cut above it
        above = max(fastest[k], above)
        monotone[k] = above
    layer_backward = [0.0] * top
    for lower, upper in itertools.pairwise(cuts):
        layer_backward[lower] = monotone[lower] - monotone[upper]
    return Calibration(layer_backward, monotone[top], fastest, medians or dict(fastest), steps, rows)
