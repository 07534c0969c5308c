"""Per-client method state on the node's disk, so it survives a node restart and a server resume.

A method's client state (FedARA's persistent EMAs with ``client_ema_persist``, FedAdaLoRA's rank
pattern) belongs to the device that trains the client. Flower keeps a node's ``context.state`` in the
SuperNode's memory, for one run: a restarted SuperNode, or a resumed experiment (a new ``flwr run``),
starts without it. Here each state is a file under the node's state folder::

    <state-dir>/<run key>/<method label>/client-<K>/round-<R>.safetensors

- the *run key* names the edgebench run (its run directory and start time, the same across
  ``--resume``), so two experiments never share state;
- a file is written atomically (temporary file, fsync, rename) after every round the client trains,
  named by that round;
- a round ``R`` starts from the newest file of a round *before* ``R``: after a server resume that
  repeats round ``R``, a file the node wrote for ``R`` before the server stopped is ignored (and
  replaced), so the repeated round starts from the same state as the uninterrupted run did;
- after writing round ``R`` the node keeps that file and the one it started from; older ones, and any
  of a later round (left by a run that was resumed from an earlier checkpoint), are deleted.

The file is the codec's lossless safetensors state blob (dtypes kept; no pickle). Importable without
flwr (the command line reads :func:`default_state_dir`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgebench.methods.base import Payload

STATE_DIR_ENV = "EDGEBENCH_NODE_STATE_DIR"
_ROUND_FILE = re.compile(r"^round-(\d+)\.safetensors$")


def default_state_dir() -> Path:
    """``$EDGEBENCH_NODE_STATE_DIR``, else ``$XDG_STATE_HOME/edgebench/node-state`` (``~/.local/state/...``)."""
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "edgebench" / "node-state"


def run_key(run_dir: str, started_at: str) -> str:
    """The name of one edgebench run on the nodes: stable across ``--resume``, distinct between runs."""
    return hashlib.sha256(f"{run_dir}\n{started_at}".encode()).hexdigest()[:16]


def _safe(label: str) -> str:
    """A method label as a folder name (labels are free text in the experiment file)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", label)[:60]
    if cleaned == label and cleaned not in ("", ".", ".."):
        return cleaned
    return f"{cleaned}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class NodeStateStore:
    """Client method states of one run on this node (see the module docstring for the layout and rules)."""

    root: Path  # <state-dir>/<run key>

    @classmethod
    def open(cls, state_dir: Path, key: str) -> NodeStateStore:
        if not re.fullmatch(r"[0-9a-f]{16}", key):
            raise ValueError(f"run key {key!r} is not 16 hex digits")
        return cls(Path(state_dir).expanduser() / key)

    def folder(self, method: str, client_id: int) -> Path:
        return self.root / _safe(method) / f"client-{int(client_id)}"

    def rounds(self, method: str, client_id: int) -> list[int]:
        """Rounds with a state file, ascending."""
        folder = self.folder(method, client_id)
        if not folder.is_dir():
            return []
        found = (_ROUND_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def path(self, method: str, client_id: int, rnd: int) -> Path:
        return self.folder(method, client_id) / f"round-{int(rnd)}.safetensors"

    def load(self, method: str, client_id: int, before_round: int) -> tuple[int, Payload] | None:
        """(round, state) of the newest state written before `before_round`; None when there is none."""
        from edgebench.fl.flower.wire import unpack_state

        earlier = [r for r in self.rounds(method, client_id) if r < before_round]
        if not earlier:
            return None
        rnd = earlier[-1]
        return rnd, unpack_state(self.path(method, client_id, rnd).read_bytes())

    def save(self, method: str, client_id: int, rnd: int, state: Payload) -> Path:
        """Write the state after round `rnd` atomically; prune what no later round can need."""
        from edgebench.fl.flower.wire import pack_state
        from edgebench.results.store import write_bytes_atomic

        target = self.path(method, client_id, rnd)
        write_bytes_atomic(target, pack_state(state))
        earlier = [r for r in self.rounds(method, client_id) if r < rnd]
        keep = {rnd, *earlier[-1:]}
        for r in self.rounds(method, client_id):
            if r not in keep:
                self.path(method, client_id, r).unlink(missing_ok=True)
        return target
