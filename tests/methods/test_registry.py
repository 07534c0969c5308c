"""The method registry: each method declares its role in comparisons, and the default baseline follows the roles."""

from __future__ import annotations

from edgebench.methods import default_baseline, method_names, methods_with_role


def test_every_method_is_a_candidate_or_a_baseline() -> None:
    assert methods_with_role("candidate") == ["fedara"]
    assert methods_with_role("baseline") == ["fedadalora", "ffa_lora", "lora"]
    assert sorted(methods_with_role("candidate") + methods_with_role("baseline")) == method_names()


def test_default_baseline_is_the_first_label_run_by_a_baseline_method() -> None:
    assert default_baseline([("fedara", "fedara"), ("lora-r12", "lora"), ("lora-r4", "lora")]) == "lora-r12"
    assert default_baseline([("fedara", "fedara"), ("naive", "fedadalora"), ("lora", "lora")]) == "naive"


def test_without_a_baseline_method_the_default_baseline_is_the_first_label() -> None:
    assert default_baseline([("fedara", "fedara"), ("fedara-svd", "fedara")]) == "fedara"
    assert default_baseline([("gone", "unregistered"), ("fedara", "fedara")]) == "gone"
    assert default_baseline([]) is None
