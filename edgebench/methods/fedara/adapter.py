"""Truncated-SVD adapters: y = W0 x + (alpha / r0) * P (lambda * (Q x)), with shrinking and unwrapping.

The wrapped layer is Linear-like: an ``nn.Linear`` (weight out x in) or GPT-2's ``Conv1D`` (weight stored
transposed, in x out); P is always out x r and Q r x in. A fused projection (GPT-2's ``c_attn``, Phi-3's
``qkv_proj``) gets one adapter over its whole fused output (P spans the query, key and value rows together).

Each adapter remembers the original rank index of every triplet it still holds (`rank_ids`), so rows
of P, lambda and Q can be matched across rounds after some triplets were physically removed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from edgebench.methods.fedara.config import FedARAParams
from edgebench.models.targets import HEAD_NAMES, head_modules, in_out_features, resolve_targets

TRIPLET_PARTS = ("P", "lam", "Q")
# Axis of each part that indexes triplets: P's columns, lambda's entries, Q's rows.
_RANK_AXIS = {"P": 1, "lam": 0, "Q": 0}


def slice_triplets(part: str, tensor: torch.Tensor, held: Sequence[int], keep: Sequence[int]) -> torch.Tensor:
    """`tensor`, a triplet part (`P`, `lam`, `Q`) or anything shaped like one, cut down to the triplets `keep`.

    `held` lists the original rank index of each triplet `tensor` holds; the result holds `keep`, in that order.
    """
    position = {rid: i for i, rid in enumerate(held)}
    rows = torch.tensor([position[r] for r in keep], dtype=torch.long, device=tensor.device)
    return tensor.index_select(_RANK_AXIS[part], rows)


class SVDLinear(nn.Module):
    """A frozen Linear-like layer (nn.Linear or Conv1D) plus a trainable P diag(lambda) Q update over its
    active triplets."""

    def __init__(self, base: nn.Module, r0: int, scaling: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.scaling = scaling
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        in_features, out_features = in_out_features(base)
        self.P = nn.Parameter(torch.zeros(out_features, r0, dtype=base.weight.dtype))
        self.lam = nn.Parameter(torch.zeros(r0, dtype=base.weight.dtype))
        self.Q = nn.Parameter(torch.zeros(r0, in_features, dtype=base.weight.dtype))
        self.rank_ids: list[int] = list(range(r0))
        self.register_buffer("lam_mask", torch.ones(r0, dtype=base.weight.dtype), persistent=False)

    @property
    def rank(self) -> int:
        return len(self.rank_ids)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if not self.rank_ids:
            return out
        low = self.dropout(x) @ self.Q.T  # (..., r)
        return out + (low * self.lam) @ self.P.T * self.scaling

    def init_gaussian(self, std: float, generator: torch.Generator) -> None:
        with torch.no_grad():
            self.P.copy_(torch.randn(self.P.shape, generator=generator) * std)
            self.Q.copy_(torch.randn(self.Q.shape, generator=generator) * std)
            self.lam.zero_()

    def init_svd(self) -> None:
        """P, Q = top singular vectors of the frozen weight (as out x in); lambda = 0 so the model is unchanged."""
        with torch.no_grad():
            weight = self.base.weight.detach().float()
            if isinstance(self.base, Conv1D):
                weight = weight.T  # Conv1D stores in x out
            u, _, vh = torch.linalg.svd(weight, full_matrices=False)
            r = self.P.shape[1]
            self.P.copy_(u[:, :r].to(self.P.dtype))
            self.Q.copy_(vh[:r, :].to(self.Q.dtype))
            self.lam.zero_()

    def keep(self, rank_ids: Sequence[int]) -> None:
        """Physically keep only the triplets whose original index is in `rank_ids` (no revival)."""
        held = set(self.rank_ids)
        missing = [r for r in rank_ids if r not in held]
        if missing:
            raise ValueError(f"cannot revive dropped triplets {missing[:5]}; held {self.rank_ids[:12]}")
        if list(rank_ids) == self.rank_ids:
            return
        with torch.no_grad():
            for part in TRIPLET_PARTS:
                sliced = slice_triplets(part, getattr(self, part).detach(), self.rank_ids, rank_ids)
                setattr(self, part, nn.Parameter(sliced))
            self.lam_mask = slice_triplets("lam", self.lam_mask, self.rank_ids, rank_ids)
        self.rank_ids = list(rank_ids)

    def set_mask(self, active_ids: Sequence[int]) -> None:
        """AdaLoRA-style masking (revival ablation): lambda of inactive triplets is held at 0.

        Takes effect at the next :meth:`apply_mask` (after loading weights and after every step).
        """
        active = set(active_ids)
        mask = torch.tensor([1.0 if r in active else 0.0 for r in self.rank_ids], dtype=self.lam_mask.dtype)
        self.lam_mask.copy_(mask)

    def apply_mask(self) -> None:
        """Zero lambda of masked triplets in place (after every optimizer step, as AdaLoRA does)."""
        if not bool(self.lam_mask.all()):
            with torch.no_grad():
                self.lam.mul_(self.lam_mask)

    def orthogonality(self) -> torch.Tensor:
        """||P^T P - I||_F + ||Q Q^T - I||_F over the active (unmasked) triplets."""
        keep = self.lam_mask.bool()
        p = self.P[:, keep]
        q = self.Q[keep]
        eye = torch.eye(p.shape[1], dtype=p.dtype, device=p.device)
        return torch.linalg.norm(p.T @ p - eye) + torch.linalg.norm(q @ q.T - eye)


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, child = name.rpartition(".")
    return (model.get_submodule(parent_name) if parent_name else model), child


def attach_svd_adapters(model: nn.Module, params: FedARAParams, seed: int) -> dict[str, SVDLinear]:
    """Replace every target layer (`params.target_modules`, else the architecture's default targets) with an
    SVDLinear at rank r0; returns them by module name.

    The gaussian init is drawn from a generator seeded by `seed`, in module order, so every process
    builds the same adapters. ModelError, listing the layers one could target, when none is found.
    """
    _, layers = resolve_targets(model, params.target_modules)
    targets = list(layers)
    generator = torch.Generator().manual_seed(seed)
    adapters: dict[str, SVDLinear] = {}
    for name in targets:
        parent, child = _parent(model, name)
        adapter = SVDLinear(getattr(parent, child), params.r0, params.scaling, params.dropout)
        if params.init == "svd":
            adapter.init_svd()
        else:
            adapter.init_gaussian(params.init_std, generator)
        setattr(parent, child, adapter)
        adapters[name] = adapter
    return adapters


def unwrap(model: nn.Module, name: str) -> nn.Module:
    """Put the original frozen layer (nn.Linear or Conv1D) back in place of the adapter at `name` (module pruning)."""
    parent, child = _parent(model, name)
    adapter = getattr(parent, child)
    if not isinstance(adapter, SVDLinear):
        raise TypeError(f"{name} is not an SVD adapter")
    setattr(parent, child, adapter.base)
    return adapter.base


def adapters_of(model: nn.Module) -> dict[str, SVDLinear]:
    """The SVD adapters currently wrapped in `model`, by module name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, SVDLinear)}


def make_head_trainable(model: nn.Module) -> list[str]:
    """Unfreeze the classification head (every top-level module of :data:`HEAD_NAMES` the model has, as PEFT's
    `modules_to_save` does for the LoRA methods); returns the parameter names made trainable."""
    heads = head_modules(model)
    names = [f"{head}.{n}" for head, module in heads.items() for n, _ in module.named_parameters()]
    if not names:
        raise ValueError(f"{type(model).__name__} has no classification head named any of {HEAD_NAMES}")
    for module in heads.values():
        module.requires_grad_(True)
    return names
