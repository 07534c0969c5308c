"""FedARA's switches (see docs/fedara.md; each default follows the project's FedARA specification)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

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
    allocation: `global` (top-b triplets across all modules), `uniform` (each module keeps its own top
        b / M; ablation) or `cost_aware` (off by default): for every layer k, the top-b triplets of layers
        >= k; keeps the candidate with the highest importance per unit of local step cost, V / C^cost_weight,
        where V sums the kept smoothed scores and C = step_base_cost + the layer_backward_cost of every layer
        from the lowest kept one up (backpropagation stops at the lowest layer holding an adapter), so that
        when importance is close it frees whole lower layers (docs/fedara.md, "Cost-aware allocation").
    cost_weight: the exponent w of the cost in V / C^w (cost_aware only; 0 = plain global allocation,
        1 = importance per unit of cost; default 1).
    layer_backward_cost: cost of the backward pass through each transformer layer, indexed by the layer
        number in the module names (cost_aware only; any unit shared with step_base_cost). Unset: measured
        once per run before round 1 (seconds per local step, see calibration_steps) and recorded in run.json
        `methods.<label>.calibration`.
    step_base_cost: cost of a local step whose backward pass stops above every layer (forward pass, head,
        optimizer step); same unit as layer_backward_cost, declared together with it.
    calibration_steps: timed local steps per cut when the costs are measured (after one warm-up pass;
        default 3, median reported).
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
    allocation: Literal["global", "uniform", "cost_aware"] = "global"
    cost_weight: float = Field(1.0, ge=0)
    layer_backward_cost: list[Annotated[float, Field(ge=0)]] | None = Field(None, min_length=1)
    step_base_cost: float | None = Field(None, gt=0)
    calibration_steps: int = Field(3, ge=1)
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
        return problems + self.cost_problems()

    @property
    def needs_calibration(self) -> bool:
        """Cost-aware allocation without declared costs: they are measured once per run."""
        return self.allocation == "cost_aware" and self.layer_backward_cost is None

    def cost_problems(self) -> list[tuple[str, str]]:
        """Settings the cost-aware allocation cannot work with (and costs declared without it)."""
        declared = (self.layer_backward_cost is None, self.step_base_cost is None)
        problems = []
        if declared[0] != declared[1]:
            missing = "step_base_cost" if declared[1] else "layer_backward_cost"
            problems.append(
                (missing, "layer_backward_cost and step_base_cost are declared together (or both left out)")
            )
        if self.allocation != "cost_aware":
            if not all(declared):
                problems.append(
                    ("allocation", f"layer costs are used only by allocation: cost_aware (got {self.allocation})")
                )
            return problems
        if self.allow_revival:
            problems.append(
                ("allow_revival", "must be false with allocation: cost_aware (masked triplets still backpropagate)")
            )
        if not self.prune_modules:
            problems.append(
                ("prune_modules", "must be true with allocation: cost_aware (it frees layers by pruning modules)")
            )
        return problems
