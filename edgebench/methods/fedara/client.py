"""Client half of FedARA: follow the broadcast mask, train with the orthogonality term, upload scores."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from edgebench.methods.base import Batch, FitResult, LocalRound, Payload, TrainSettings
from edgebench.methods.common.client import TrainableStateClient
from edgebench.methods.common.state import load_trainable_state, trainable_state
from edgebench.methods.common.training import local_train
from edgebench.methods.fedara.adapter import adapters_of, attach_svd_adapters, make_head_trainable, unwrap
from edgebench.methods.fedara.calibration import calibrate_step_costs
from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.fedara.importance import ImportanceTracker

SCORES_SUFFIX = ".scores"


class FedARAClient(TrainableStateClient):
    """Holds SVD adapters; shrinks and unwraps them as the server's rank lists dictate."""

    params: FedARAParams

    def build(self, base_model: nn.Module) -> nn.Module:
        attach_svd_adapters(base_model, self.params, self.seed)
        make_head_trainable(base_model)
        return base_model

    def calibrate(self, model: nn.Module, batch: Batch, settings: TrainSettings) -> dict[str, Any] | None:
        """The step costs cost-aware allocation needs, measured on `model` with `batch` (run.json
        `methods.<label>.calibration`, whose `params` the server's parameters take); None when not needed."""
        if not self.params.needs_calibration:
            return None
        costs = calibrate_step_costs(model, batch, settings, self.placement, self.params.calibration_steps)
        return costs.describe()

    def apply(self, model: nn.Module, payload: Payload) -> None:
        """Restructure the adapters to the broadcast ranks (physically), then load the tensors."""
        ranks: dict[str, list[int]] = payload.meta["ranks"]
        masks: dict[str, list[int]] | None = payload.meta.get("mask")
        for name, adapter in adapters_of(model).items():
            ids = ranks.get(name, [])
            if not ids:
                unwrap(model, name)
                continue
            adapter.keep(ids)
            adapter.set_mask(masks[name] if masks is not None else ids)
        load_trainable_state(model, {k: v for k, v in payload.tensors.items() if not k.endswith(SCORES_SUFFIX)})
        for adapter in adapters_of(model).values():
            adapter.apply_mask()

    def local_update(self, model: nn.Module, job: LocalRound) -> FitResult:
        adapters = adapters_of(model)
        p = self.params
        if p.client_ema_persist and job.client_state is not None:
            tracker = ImportanceTracker.from_payload(job.client_state, p.beta1, p.beta2, adapters)
        else:
            tracker = ImportanceTracker(p.beta1, p.beta2)

        def orthogonality(_: nn.Module) -> torch.Tensor:
            return p.orth_reg_weight * torch.stack([a.orthogonality() for a in adapters.values()]).mean()

        def after_step(_: nn.Module) -> None:
            tracker.update(adapters)
            for adapter in adapters.values():
                adapter.apply_mask()

        use_reg = p.orth_reg_weight > 0 and bool(adapters)
        loss, steps = local_train(
            model,
            job.batches,
            job.settings,
            self.placement,
            extra_loss=orthogonality if use_reg else None,
            after_step=after_step,
        )
        tensors = trainable_state(model)
        for name, scores in tracker.triplet_scores(adapters).items():
            tensors[name + SCORES_SUFFIX] = scores
        scores = frozenset(name for name in tensors if name.endswith(SCORES_SUFFIX))
        uplink = Payload(tensors=tensors, meta={"mask_digest": job.payload.meta["mask_digest"]}, exact=scores)
        return FitResult(
            payload=uplink,
            train_loss=loss,
            num_steps=steps,
            client_state=tracker.to_payload() if p.client_ema_persist else None,
        )
