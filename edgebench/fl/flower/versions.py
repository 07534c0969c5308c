"""One flwr version and one edgebench version per federation, checked when a SuperNode first answers.

Every node reports its versions in its answer to the hello query (``flwr_version``,
``edgebench_version``; see :mod:`~edgebench.fl.flower.client_app`). The ServerApp compares them with
its own and refuses a node that differs: the refusal names both versions, is logged (so ``edgebench
server`` prints it), is recorded in ``run.json`` (``runtime.refused``) and becomes the dropout reason
of that client's rows. Flower itself refuses a peer of another major.minor release at the transport;
this check also catches a different patch release of flwr and a different edgebench.

Importable without flwr.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import edgebench
from edgebench.fl.flower.compat import installed_flwr_version

# (package, key of the node's hello answer)
CHECKED = (("flwr", "flwr_version"), ("edgebench", "edgebench_version"))


def local_versions() -> dict[str, str]:
    """This process's flwr and edgebench versions."""
    return {"flwr": installed_flwr_version() or "unknown", "edgebench": edgebench.__version__}


def version_refusal(node_info: Mapping[str, Any], server: Mapping[str, str] | None = None) -> str | None:
    """Why a node whose hello answer is `node_info` cannot join this federation, or None when it can.

    `server`: the server's versions (default: this process's, :func:`local_versions`).
    """
    server = local_versions() if server is None else server
    problems = []
    for package, key in CHECKED:
        theirs = str(node_info.get(key) or "not reported")
        ours = server[package]
        if theirs != ours:
            problems.append(f"{package} {theirs} on the node, {package} {ours} on the server")
    if not problems:
        return None
    wanted = " and ".join(f"{package} {server[package]}" for package, _ in CHECKED)
    return f"version mismatch: {'; '.join(problems)} (one version per federation: run {wanted} on every node)"
