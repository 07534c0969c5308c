"""Federated methods, registered by name.

Each method lives in its own sub-package (config, adapter, client step, server aggregation) and
registers a :class:`~edgebench.methods.base.MethodSpec` on import, with its role in comparisons
(`candidate` or `baseline`), so that the report and the CLI never name a method.
"""

from __future__ import annotations

from collections.abc import Iterable

from edgebench.methods.base import MethodSpec, Role

_REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add a method to the registry; names are unique."""
    if spec.name in _REGISTRY and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"method {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _load_builtin() -> None:
    # Imported for their registration side effect.
    from edgebench.methods import fedadalora, fedara, ffa_lora, lora  # noqa: F401


def get_method(name: str) -> MethodSpec:
    """The registered method called `name`; KeyError lists the known names."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; expected one of: {', '.join(method_names())}") from None


def method_names() -> list[str]:
    """Names of every registered method, sorted."""
    _load_builtin()
    return sorted(_REGISTRY)


def methods_with_role(role: Role) -> list[str]:
    """Names of the registered methods with `role`, sorted."""
    _load_builtin()
    return sorted(name for name, spec in _REGISTRY.items() if spec.role == role)


def default_baseline(entries: Iterable[tuple[str, str]]) -> str | None:
    """The label the others are compared with, from (label, method name) pairs in their order.

    The first label whose method is a baseline, else the first label (an unknown method name counts as
    no baseline); None when there are no entries.
    """
    pairs = list(entries)
    baselines = methods_with_role("baseline")
    return next((label for label, method in pairs if method in baselines), pairs[0][0] if pairs else None)
