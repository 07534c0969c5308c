"""Weighted averaging equals the hand computation."""

from __future__ import annotations

import pytest
import torch

from edgebench.methods.common.fedavg import weighted_average


def test_weighted_average_matches_hand_computation() -> None:
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0])}
    b = {"w": torch.tensor([3.0, 6.0]), "b": torch.tensor([4.0])}
    out = weighted_average([a, b], [10, 30])
    # (10*1 + 30*3)/40 = 2.5 ; (10*2 + 30*6)/40 = 5.0 ; (0 + 30*4)/40 = 3.0
    assert torch.equal(out["w"], torch.tensor([2.5, 5.0]))
    assert torch.equal(out["b"], torch.tensor([3.0]))
    assert out["w"].dtype == torch.float32


def test_equal_weights_is_plain_mean_and_inputs_untouched() -> None:
    sets = [{"x": torch.full((2, 2), float(v))} for v in (1, 2, 6)]
    out = weighted_average(sets, [1, 1, 1])
    assert torch.equal(out["x"], torch.full((2, 2), 3.0))
    assert torch.equal(sets[0]["x"], torch.ones(2, 2))


def test_invalid_weights() -> None:
    with pytest.raises(ValueError, match="positive"):
        weighted_average([{"x": torch.ones(1)}], [0])
    with pytest.raises(ValueError, match="nothing"):
        weighted_average([], [])
