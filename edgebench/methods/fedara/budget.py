"""The round-indexed cubic rank budget b(t) (AdaLoRA's schedule, counted in federated rounds)."""

from __future__ import annotations


class BudgetError(ValueError):
    """The schedule's rounds do not fit in the run."""


def budget_at(t: int, total_rounds: int, b0: int, b_target: int, t_init: int, t_final: int) -> int:
    """Total active triplets allowed after round `t` (1-based).

    b(t) = b0 for t <= t_init; bT + (b0 - bT) * (1 - (t - t_init) / (R - t_final - t_init))^3 while
    t_init < t <= R - t_final; bT afterwards. Truncated to an integer, as AdaLoRA does.
    """
    if t_init + t_final >= total_rounds:
        raise BudgetError(f"t_init + t_final must be < rounds (got {t_init} + {t_final} >= {total_rounds})")
    if not 1 <= t <= total_rounds:
        raise BudgetError(f"round {t} outside 1..{total_rounds}")
    if t <= t_init:
        return b0
    span = total_rounds - t_final - t_init
    if t <= total_rounds - t_final:
        progress = (t - t_init) / span
        return int(b_target + (b0 - b_target) * (1.0 - progress) ** 3)
    return b_target
