"""The local training loop and global evaluation shared by methods."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from edgebench.methods.base import Batch, Placement, TrainSettings

ExtraLoss = Callable[[nn.Module], torch.Tensor]
StepHook = Callable[[nn.Module], None]
CPU = Placement()


def make_optimizer(params: list[nn.Parameter], settings: TrainSettings) -> torch.optim.Optimizer:
    """A fresh optimizer over `params` (rebuilt whenever parameter shapes change)."""
    if settings.optimizer == "sgd":
        return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)
    return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)


def classification_logits(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Logits of a sequence-classification model for a tokenized batch (labels excluded)."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    return model(**inputs).logits


def local_train(
    model: nn.Module,
    batches: Iterable[Batch],
    settings: TrainSettings,
    placement: Placement = CPU,
    extra_loss: ExtraLoss | None = None,
    after_backward: StepHook | None = None,
    after_step: StepHook | None = None,
) -> tuple[float, int]:
    """One optimizer step per batch over the model's trainable parameters, on `placement`'s device.

    The forward pass runs under `placement`'s autocast; `extra_loss` (a regulariser computed by the
    method, e.g. FedARA's orthogonality term) is computed outside it, in the adapters' float32.
    `after_backward` sees gradients before clipping and the step; `after_step` runs after the optimizer
    step with gradients still in place (AdaLoRA's order for importance and masking). With float16's
    loss scaler, gradients are unscaled before either hook, and a step whose gradients overflowed is
    skipped by the scaler and hidden from both hooks. Returns the mean cross-entropy over steps
    (regulariser excluded) and the number of steps taken.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, settings)
    scaler = placement.grad_scaler()
    hooked = after_backward is not None or after_step is not None  # only hooks need to know of an overflow
    model.train()
    total_loss, steps = 0.0, 0
    for batch in batches:
        batch = placement.batch(batch)
        with placement.autocast_context():
            logits = classification_logits(model, batch)
        loss = F.cross_entropy(logits.float(), batch["labels"])
        objective = loss + extra_loss(model) if extra_loss is not None else loss
        optimizer.zero_grad(set_to_none=True)
        finite = True
        if scaler is None:
            objective.backward()
        else:
            scaler.scale(objective).backward()
            scaler.unscale_(optimizer)
            finite = _all_finite(params) if hooked else True
        if finite and after_backward is not None:
            after_backward(model)
        if settings.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
        if scaler is None:
            optimizer.step()
        else:
            scaler.step(optimizer)
            scaler.update()
        if finite and after_step is not None:
            after_step(model)
        total_loss += float(loss.detach())
        steps += 1
    return (total_loss / steps if steps else float("nan")), steps


def _all_finite(params: list[nn.Parameter]) -> bool:
    grads = [p.grad.detach().isfinite().all() for p in params if p.grad is not None]
    return bool(torch.stack(grads).all()) if grads else True


@dataclass(frozen=True)
class EvalResult:
    """Accuracy and mean cross-entropy over `num_examples` held-out examples."""

    accuracy: float
    loss: float
    num_examples: int


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Batch], placement: Placement = CPU) -> EvalResult:
    """Accuracy and mean loss of `model` over `batches`, on `placement`'s device and precision."""
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    for batch in batches:
        batch = placement.batch(batch)
        with placement.autocast_context():
            logits = classification_logits(model, batch).float()
        labels = batch["labels"]
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        correct += int((logits.argmax(dim=-1) == labels).sum())
        n += int(labels.numel())
    if n == 0:
        raise ValueError("evaluation got no examples")
    return EvalResult(accuracy=correct / n, loss=loss_sum / n, num_examples=n)
