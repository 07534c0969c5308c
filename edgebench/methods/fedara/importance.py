"""Client-side importance: sensitivity x uncertainty EMAs over P, lambda and Q (AdaLoRA's scores).

For every element w after a local step: I = |w * grad(w)|; I_bar <- b1 I_bar + (1 - b1) I;
U_bar <- b2 U_bar + (1 - b2) |I - I_bar|; s = I_bar * U_bar. The score of triplet i of a module is
S[i] = s(lambda_i) + mean_j s(P[j, i]) + mean_j s(Q[i, j]).
"""

from __future__ import annotations

import torch

from edgebench.methods.base import Payload
from edgebench.methods.fedara.adapter import TRIPLET_PARTS, SVDLinear, slice_triplets


class ImportanceTracker:
    """EMAs of sensitivity and uncertainty for every element of every active adapter."""

    def __init__(self, beta1: float, beta2: float) -> None:
        self.beta1 = beta1
        self.beta2 = beta2
        self.i_bar: dict[str, torch.Tensor] = {}
        self.u_bar: dict[str, torch.Tensor] = {}
        self.rank_ids: dict[str, list[int]] = {}

    def update(self, adapters: dict[str, SVDLinear]) -> None:
        """Fold the current gradients of every adapter into the EMAs (call once per local step)."""
        with torch.no_grad():
            for name, adapter in adapters.items():
                self.rank_ids[name] = list(adapter.rank_ids)
                for part in TRIPLET_PARTS:
                    param = getattr(adapter, part)
                    if param.grad is None:
                        continue
                    key = f"{name}.{part}"
                    sensitivity = (param.detach() * param.grad.detach()).abs()
                    i_bar = self.i_bar.get(key)
                    u_bar = self.u_bar.get(key)
                    if i_bar is None or i_bar.shape != sensitivity.shape:
                        i_bar = torch.zeros_like(sensitivity)
                        u_bar = torch.zeros_like(sensitivity)
                    i_bar = self.beta1 * i_bar + (1 - self.beta1) * sensitivity
                    u_bar = self.beta2 * u_bar + (1 - self.beta2) * (sensitivity - i_bar).abs()
                    self.i_bar[key], self.u_bar[key] = i_bar, u_bar

    def element_scores(self, name: str, part: str) -> torch.Tensor | None:
        key = f"{name}.{part}"
        if key not in self.i_bar:
            return None
        return self.i_bar[key] * self.u_bar[key]

    def triplet_scores(self, adapters: dict[str, SVDLinear]) -> dict[str, torch.Tensor]:
        """S per module, one float32 per triplet the adapter holds (zeros where nothing was seen)."""
        scores: dict[str, torch.Tensor] = {}
        for name, adapter in adapters.items():
            total = torch.zeros(adapter.rank, dtype=torch.float32, device=adapter.lam.device)
            lam = self.element_scores(name, "lam")
            p = self.element_scores(name, "P")
            q = self.element_scores(name, "Q")
            if lam is not None and lam.shape[0] == adapter.rank:
                total += lam.float()
            if p is not None and p.shape[1] == adapter.rank:
                total += p.float().mean(dim=0)
            if q is not None and q.shape[0] == adapter.rank:
                total += q.float().mean(dim=1)
            scores[name] = total.cpu()
        return scores

    def to_payload(self) -> Payload:
        """EMA state for `client_ema_persist`, with each module's rank ids for re-alignment."""
        tensors = {f"i_bar/{k}": v.cpu().contiguous() for k, v in self.i_bar.items()}
        tensors |= {f"u_bar/{k}": v.cpu().contiguous() for k, v in self.u_bar.items()}
        return Payload(tensors=tensors, meta={"rank_ids": self.rank_ids})

    @classmethod
    def from_payload(
        cls, state: Payload, beta1: float, beta2: float, adapters: dict[str, SVDLinear]
    ) -> ImportanceTracker:
        """Restore persisted EMAs, keeping only triplets the adapters still hold."""
        tracker = cls(beta1, beta2)
        saved_ids: dict[str, list[int]] = state.meta.get("rank_ids", {})
        for name, adapter in adapters.items():
            if name not in saved_ids:
                continue
            saved = saved_ids[name]
            if not set(adapter.rank_ids) <= set(saved):
                continue  # an unknown triplet: start this module fresh
            for part in TRIPLET_PARTS:
                key = f"{name}.{part}"
                if f"i_bar/{key}" in state.tensors:
                    device = getattr(adapter, part).device  # the state is kept in host memory between rounds
                    for ema, store in (("i_bar", tracker.i_bar), ("u_bar", tracker.u_bar)):
                        saved_ema = state.tensors[f"{ema}/{key}"].to(device)
                        store[key] = slice_triplets(part, saved_ema, saved, adapter.rank_ids)
            tracker.rank_ids[name] = list(adapter.rank_ids)
        return tracker
