"""Parameters of the fixed-rank LoRA baselines."""

from __future__ import annotations

from pydantic import Field

from edgebench.methods.base import MethodParams


class LoraParams(MethodParams):
    """Fixed-rank LoRA through HF PEFT.

    r: adapter rank of every target module (default 8).
    alpha: LoRA scaling numerator; the update is scaled by alpha / r (default: equal to r).
    dropout: dropout on the adapter input (default 0.0).
    target_modules: names of the Linear-like modules to adapt (default: the architecture's, see
        edgebench.models.targets and docs/models.md).
    """

    r: int = Field(8, ge=1)
    alpha: float | None = Field(None, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: list[str] | None = Field(None, min_length=1)

    @property
    def scaling_alpha(self) -> float:
        return float(self.alpha if self.alpha is not None else self.r)
