"""Server half of FedARA: weighted FedAvg over active ranks, score smoothing, budgeted allocation.

After aggregating round t the server keeps the b(t) triplets with the highest smoothed scores
(globally across modules by default; per module, or per unit of local step cost as ablations),
physically drops the rest from its global state, and prunes modules left with rank 0. The next round's
downlink carries only the surviving tensors and each module's surviving original rank indices.
"""

from __future__ import annotations

import hashlib
import json

import torch

from edgebench.methods.base import ClientReply, MethodServer, Payload, RoundOutcome
from edgebench.methods.common.fedavg import weighted_average
from edgebench.methods.common.state import Expected, expected_of, screen_replies
from edgebench.methods.fedara.adapter import TRIPLET_PARTS, slice_triplets
from edgebench.methods.fedara.budget import budget_at
from edgebench.methods.fedara.client import SCORES_SUFFIX
from edgebench.methods.fedara.config import FedARAParams
from edgebench.methods.fedara.costs import StepCosts, cost_aware_choice, module_layers


def mask_digest(ranks: dict[str, list[int]], mask: dict[str, list[int]] | None) -> str:
    """Short fingerprint of a broadcast mask; replies must echo it."""
    text = json.dumps({"ranks": ranks, "mask": mask}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class FedARAServer(MethodServer):
    """Global adapters over active ranks, smoothed triplet scores, the rank budget and pruned modules."""

    params: FedARAParams

    def initialize(self, initial: dict[str, torch.Tensor]) -> None:
        self.modules = [k[: -len(".P")] for k in initial if k.endswith(".P")]
        if not self.modules:
            raise ValueError("initial parameters hold no FedARA adapters")
        r0 = self.params.r0
        self.tensors = {k: v.detach().clone() for k, v in initial.items()}
        self.ids: dict[str, list[int]] = {m: list(range(r0)) for m in self.modules}
        self.active: dict[str, list[int]] = {m: list(range(r0)) for m in self.modules}
        self.smoothed: dict[str, torch.Tensor] = {m: torch.zeros(r0, dtype=torch.float32) for m in self.modules}
        self._init_costs()

    def _init_costs(self) -> None:
        """Layer of every module and the step costs, for cost-aware allocation (ValueError when unusable)."""
        self.layers: dict[str, int] = {}
        self.costs: StepCosts | None = None
        p = self.params
        if p.allocation != "cost_aware":
            return
        if p.layer_backward_cost is None or p.step_base_cost is None:
            raise ValueError(
                "allocation: cost_aware needs layer_backward_cost and step_base_cost (declared, or measured by the "
                "engine before round 1)"
            )
        self.layers = module_layers(self.modules)
        self.costs = StepCosts(tuple(p.layer_backward_cost), p.step_base_cost)
        self.costs.check_layers(self.layers.values())

    def budget(self, rnd: int) -> int:
        """b(rnd) for this run: b0 = r0 x M, bT = r_target x M, over the configured schedule."""
        t_init, t_final = self.params.schedule_rounds(self.total_rounds)
        b0 = self.params.r0 * len(self.modules)
        b_target = round(self.params.r_target * len(self.modules))
        return budget_at(rnd, self.total_rounds, b0, b_target, t_init, t_final)

    # -- broadcast -----------------------------------------------------------------------------
    def _meta(self) -> dict:
        meta: dict = {"ranks": self.ids}
        mask = self.active if self.params.allow_revival else None
        if mask is not None:
            meta["mask"] = mask
        meta["mask_digest"] = mask_digest(self.ids, mask)
        return meta

    def configure_round(self, rnd: int, client_ids: list[int]) -> dict[int, Payload]:
        meta = {"round": rnd, **self._meta()}
        return {cid: Payload(tensors=self.tensors, meta=meta) for cid in client_ids}

    def global_payload(self) -> Payload:
        return Payload(tensors=self.tensors, meta=self._meta())

    def expected_uplink(self) -> Expected:
        """What a valid reply must carry: active P, lambda, Q and head as held, one float32 score per triplet."""
        expected = expected_of(self.tensors)
        for m in self.modules:
            if self.ids[m]:
                expected[m + SCORES_SUFFIX] = ((len(self.ids[m]),), torch.float32)
        return expected

    # -- aggregation ---------------------------------------------------------------------------
    def aggregate(self, rnd: int, replies: list[ClientReply]) -> RoundOutcome:
        expected = self.expected_uplink()
        digest = self._meta()["mask_digest"]

        def same_mask(reply: ClientReply) -> str | None:
            got = reply.payload.meta.get("mask_digest")
            return None if got == digest else f"trained under another mask (digest {got!r} != {digest!r})"

        accepted, rejected = screen_replies(replies, expected, same_mask, meta_keys={"mask_digest": str})
        if accepted:
            averaged = weighted_average(
                [r.payload.tensors for r in accepted], [r.num_examples for r in accepted], list(expected)
            )
            c = self.params.server_score_smoothing
            for key, value in averaged.items():
                if key.endswith(SCORES_SUFFIX):
                    module = key[: -len(SCORES_SUFFIX)]
                    self.smoothed[module] = c * self.smoothed[module] + (1 - c) * value.float()
                else:
                    self.tensors[key] = value
        budget = self.budget(rnd)
        self._allocate(budget)
        return RoundOutcome(
            accepted=[r.client_id for r in accepted], rejected=rejected, module_ranks=self.module_ranks(), budget=budget
        )

    # -- allocation ----------------------------------------------------------------------------
    def _candidates(self) -> list[tuple[float, int, int, str]]:
        """(score, module index, rank id, module) of every triplet that may be kept."""
        pool = self.ids if self.params.allow_revival else self.active
        out = []
        for mi, m in enumerate(self.modules):
            position = {rid: i for i, rid in enumerate(self.ids[m])}
            for rid in pool[m]:
                out.append((float(self.smoothed[m][position[rid]]), mi, rid, m))
        return out

    def select(self, budget: int) -> dict[str, list[int]]:
        """The triplets to keep under `budget`, per module (original ids, ascending).

        Highest smoothed score first; ties go to the earlier module, then the lower rank id. `cost_aware`
        picks, among those selections restricted to the layers at and above each layer, the one with the most
        score per unit of local step cost (edgebench.methods.fedara.costs).
        """
        candidates = sorted(self._candidates(), key=lambda c: (-c[0], c[1], c[2]))
        keep: dict[str, list[int]] = {m: [] for m in self.modules}
        if self.params.allocation == "uniform":
            live = [m for m in self.modules if any(c[3] == m for c in candidates)]
            quota = {
                m: budget // max(len(live), 1) + (1 if i < budget % max(len(live), 1) else 0)
                for i, m in enumerate(live)
            }
            for _, _, rid, m in candidates:
                if len(keep[m]) < quota.get(m, 0):
                    keep[m].append(rid)
        elif self.params.allocation == "cost_aware":
            assert self.costs is not None
            for _, _, rid, m in cost_aware_choice(candidates, self.layers, budget, self.costs, self.params.cost_weight):
                keep[m].append(rid)
        else:
            chosen: list[tuple[float, int, int, str]] = []
            if not self.params.prune_modules:
                firsts = {}
                for c in candidates:
                    firsts.setdefault(c[3], c)
                chosen = list(firsts.values())
            taken = {(c[3], c[2]) for c in chosen}
            for c in candidates:
                if len(chosen) >= budget:
                    break
                if (c[3], c[2]) not in taken:
                    chosen.append(c)
            for _, _, rid, m in chosen:
                keep[m].append(rid)
        if self.params.prune_modules and self.params.module_prune_threshold > 0:
            total = sum(float(s.sum()) for s in self.smoothed.values())
            for m in self.modules:
                share = float(self.smoothed[m].sum()) / total if total > 0 else 1.0
                if share < self.params.module_prune_threshold:
                    keep[m] = []
        return {m: sorted(ids) for m, ids in keep.items()}

    def _allocate(self, budget: int) -> None:
        current = sum(len(v) for v in self.active.values())
        if budget >= current and not self.params.allow_revival and self.params.module_prune_threshold == 0:
            return
        keep = self.select(budget)
        if self.params.allow_revival:
            self.active = keep
            return
        for m in self.modules:
            if keep[m] == self.ids[m]:
                continue
            for part in TRIPLET_PARTS:
                key = f"{m}.{part}"
                if keep[m]:
                    self.tensors[key] = slice_triplets(part, self.tensors[key], self.ids[m], keep[m]).contiguous()
                else:
                    del self.tensors[key]
            self.smoothed[m] = slice_triplets("lam", self.smoothed[m], self.ids[m], keep[m])
            self.ids[m] = list(keep[m])
            self.active[m] = list(keep[m])

    # -- reporting and checkpoints -------------------------------------------------------------
    def module_ranks(self) -> dict[str, int]:
        return {m: len(self.active[m]) for m in self.modules}

    def pruned_modules(self) -> list[str]:
        return [m for m in self.modules if not self.ids[m]]

    def state_dict(self) -> Payload:
        tensors = dict(self.tensors)
        tensors |= {f"{m}.smoothed_scores": s for m, s in self.smoothed.items()}
        return Payload(tensors=tensors, meta={"modules": self.modules, "ids": self.ids, "active": self.active})

    def load_state_dict(self, state: Payload) -> None:
        self.modules = list(state.meta["modules"])
        self.ids = {m: list(v) for m, v in state.meta["ids"].items()}
        self.active = {m: list(v) for m, v in state.meta["active"].items()}
        self.smoothed = {m: state.tensors[f"{m}.smoothed_scores"].float() for m in self.modules}
        self.tensors = {k: v for k, v in state.tensors.items() if not k.endswith(".smoothed_scores")}
        self._init_costs()
