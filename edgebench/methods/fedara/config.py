"""FedARA's switches (see docs/fedara.md; each default follows the project's FedARA specification)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field

from edgebench.methods.base import MethodParams


class FedARAParams(MethodParams):
    """Adaptive-rank federated PEFT: truncated-SVD adapters, server-side rank allocation, module pruning.

    r0: initial rank of every adapted module (default 12).
    alpha: scaling numerator; the update is scaled by alpha / r0, fixed for the whole run (default r0).
    target_modules: Linear-like modules to adapt (nn.Linear, GPT-2's Conv1D), matched as PEFT matches a list
        (default: the architecture's, see docs/models.md).
    dropout: dropout on the adapter input (default 0.0).
    init: `gaussian` (AdaLoRA: lambda = 0, P and Q ~ N(0, init_std^2)) or `svd` (P, Q = top-r0 singular
        vectors of the frozen weight, lambda = 0).
    init_std: standard deviation of the gaussian init (default 0.02).
    orth_reg_weight: gamma of the orthogonality regulariser over active ranks (default 0.1).
    beta1, beta2: EMA factors of sensitivity and uncertainty (default 0.85, 0.85).
    client_ema_persist: keep a client's importance EMAs across the rounds it is sampled (default false:
        every round starts fresh, as a client is not assumed to be sampled again).
    server_score_smoothing: c in S_srv <- c * S_srv + (1 - c) * S_round (default 0.5).
    r_target: target *average* rank per module; the final budget is r_target x modules (default 4).
    t_init: rounds at the full budget before shrinking (default ceil(0.1 R)).
    t_final: final rounds at the target budget (default ceil(0.2 R)).
    allocation: `global` (top-b triplets across all modules) or `uniform` (each module keeps its own top
        b / M; ablation).
    allow_revival: false = a dropped triplet is physically removed for good (real savings); true =
        AdaLoRA-style masking, full r0 tensors kept and sent, masked triplets may come back (ablation).
    prune_modules: remove the adapter of a module whose rank reaches 0 (default true); false keeps at
        least one triplet in every module, so no module is ever unwrapped (ablation).
    module_prune_threshold: also prune a module whose share of the total score falls below this
        fraction (default 0 = prune only at rank 0).
    """

    r0: int = Field(12, ge=1)
    alpha: float | None = Field(None, gt=0)
    target_modules: list[str] | None = Field(None, min_length=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    init: Literal["gaussian", "svd"] = "gaussian"
    init_std: float = Field(0.02, gt=0)
    orth_reg_weight: float = Field(0.1, ge=0)
    beta1: float = Field(0.85, ge=0, lt=1)
    beta2: float = Field(0.85, ge=0, lt=1)
    client_ema_persist: bool = False
    server_score_smoothing: float = Field(0.5, ge=0, lt=1)
    r_target: float = Field(4, ge=0)
    t_init: int | None = Field(None, ge=0)
    t_final: int | None = Field(None, ge=0)
    allocation: Literal["global", "uniform"] = "global"
    allow_revival: bool = False
    prune_modules: bool = True
    module_prune_threshold: float = Field(0.0, ge=0, lt=1)

    @property
    def scaling(self) -> float:
        return float(self.alpha if self.alpha is not None else self.r0) / self.r0

    def schedule_rounds(self, total_rounds: int) -> tuple[int, int]:
        """(t_init, t_final) with the defaults ceil(0.1 R) and ceil(0.2 R) filled in."""
        t_init = self.t_init if self.t_init is not None else math.ceil(0.1 * total_rounds)
        t_final = self.t_final if self.t_final is not None else math.ceil(0.2 * total_rounds)
        return t_init, t_final

    def problems_for_run(self, rounds: int, local_steps: int | None) -> list[tuple[str, str]]:
        t_init, t_final = self.schedule_rounds(rounds)
        problems = []
        if t_init + t_final >= rounds:
            problems.append(
                (
                    "t_init",
                    f"t_init + t_final must be < federation.rounds (got {t_init} + {t_final} >= {rounds}); "
                    "set t_init/t_final explicitly or run more rounds",
                )
            )
        if self.r_target > self.r0:
            problems.append(("r_target", f"must be <= r0 (got {self.r_target} > {self.r0})"))
        return problems
