"""Parameters of the naive federated AdaLoRA baseline."""

from __future__ import annotations

import math

from pydantic import Field

from edgebench.methods.base import MethodParams


class FedAdaLoraParams(MethodParams):
    """Stock PEFT AdaLoRA on every client, FedAvg of the full-rank tensors on the server.

    r0: AdaLoRA init_r, the rank every module starts from and every payload carries (default 12).
    r_target: AdaLoRA target_r, the average rank each client's local allocator aims for (default 4).
    alpha: scaling numerator (default r0).
    target_modules: Linear-like modules to adapt (default: the architecture's, see docs/models.md).
    dropout: adapter dropout (default 0.0).
    orth_reg_weight, beta1, beta2: as in AdaLoRA (defaults 0.1, 0.85, 0.85).
    t_init_steps, t_final_steps: AdaLoRA's warm-up and final phases, counted in *global* local steps
        (round - 1) x local_steps + step; defaults ceil(0.1 T) and ceil(0.2 T), T = rounds x local_steps.
    delta_t: steps between re-allocations (default 1).
    Each client keeps its own rank pattern between the rounds it is sampled; the server never
    allocates or prunes, and masked entries are averaged as zeros.
    """

    r0: int = Field(12, ge=1)
    r_target: int = Field(4, ge=1)
    alpha: float | None = Field(None, gt=0)
    target_modules: list[str] | None = Field(None, min_length=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    orth_reg_weight: float = Field(0.1, ge=0)
    beta1: float = Field(0.85, ge=0, lt=1)
    beta2: float = Field(0.85, ge=0, lt=1)
    t_init_steps: int | None = Field(None, ge=0)
    t_final_steps: int | None = Field(None, ge=0)
    delta_t: int = Field(1, ge=1)

    def schedule_steps(self, total_steps: int) -> tuple[int, int]:
        t_init = self.t_init_steps if self.t_init_steps is not None else math.ceil(0.1 * total_steps)
        t_final = self.t_final_steps if self.t_final_steps is not None else math.ceil(0.2 * total_steps)
        return t_init, t_final

    def problems_for_run(self, rounds: int, local_steps: int | None) -> list[tuple[str, str]]:
        if local_steps is None:
            return [("method", "fedadalora schedules in local steps: set federation.local_steps, not local_epochs")]
        total = rounds * local_steps
        t_init, t_final = self.schedule_steps(total)
        problems = []
        if t_init + t_final >= total:
            problems.append(
                (
                    "t_init_steps",
                    "t_init_steps + t_final_steps must be < rounds x local_steps "
                    f"(got {t_init} + {t_final} >= {total})",
                )
            )
        if self.r_target > self.r0:
            problems.append(("r_target", f"must be <= r0 (got {self.r_target} > {self.r0})"))
        return problems
