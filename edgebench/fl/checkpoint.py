"""Per-method checkpoints after each round: server state and client state, one safetensors file.

The file is written to a temporary name and renamed, so a crash leaves either the previous round's
checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save

from edgebench.fl.codec import PayloadError, header_of
from edgebench.fl.run_dir import ResumeError
from edgebench.methods.base import Payload
from edgebench.results.store import write_bytes_atomic

_SERVER = "server/"
_CLIENT = "client/"


@dataclass
class Checkpoint:
    """State after `round` (1-based) of one method; `complete` once its last round is done."""

    round: int
    complete: bool
    server: Payload
    clients: dict[int, Payload] = field(default_factory=dict)


class CheckpointError(ResumeError):
    """A checkpoint that cannot be read (empty, truncated, not safetensors, no edgebench metadata); the
    message names the file, what is wrong with it and what to do."""


def checkpoint_path(run_dir: Path, label: str) -> Path:
    return run_dir / "checkpoints" / f"{label}.safetensors"


def save_checkpoint(run_dir: Path, label: str, ckpt: Checkpoint) -> None:
    """Atomically replace `label`'s checkpoint."""
    path = checkpoint_path(run_dir, label)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {_SERVER + k: v.contiguous() for k, v in ckpt.server.tensors.items()}
    client_meta: dict[str, Any] = {}
    for cid, state in ckpt.clients.items():
        tensors.update({f"{_CLIENT}{cid}/{k}": v.contiguous() for k, v in state.tensors.items()})
        client_meta[str(cid)] = state.meta
    meta = {"round": ckpt.round, "complete": ckpt.complete, "server": ckpt.server.meta, "clients": client_meta}
    write_bytes_atomic(path, save(tensors, metadata={"edgebench": json.dumps(meta, sort_keys=True)}))


def load_checkpoint(run_dir: Path, label: str) -> Checkpoint | None:
    """The last saved checkpoint of `label`, or None when it never finished a round.

    CheckpointError when the file is there but cannot be read.
    """
    path = checkpoint_path(run_dir, label)
    if not path.exists():
        return None
    try:
        return _read_checkpoint(path)
    except _Unreadable as exc:
        raise CheckpointError(
            f"{path}: checkpoint of method {label!r} is unreadable: {exc}. There is one checkpoint per method: "
            f"delete this file to restart {label!r} from round 1 (its rows are dropped, other methods keep "
            "theirs), then resume again"
        ) from None


class _Unreadable(Exception):
    """What is wrong with a checkpoint file, in words."""


def _read_checkpoint(path: Path) -> Checkpoint:
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise _Unreadable(f"cannot read it ({exc.strerror or exc})") from None
    if not blob:
        raise _Unreadable("the file is empty (0 bytes)")
    try:
        header = header_of(blob)
    except PayloadError as exc:
        reason = str(exc).replace("payload", "file", 1)
        raise _Unreadable(f"truncated or not a safetensors file ({reason})") from None
    try:
        meta = json.loads((header.get("__metadata__") or {})["edgebench"])
        server_meta, client_meta = meta["server"], meta["clients"]
        if not isinstance(server_meta, dict) or not isinstance(client_meta, dict):
            raise TypeError("server and clients must be objects")
        rnd, complete = int(meta["round"]), bool(meta["complete"])
        client_ids = {cid: int(cid) for cid in client_meta}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _Unreadable(f"no valid edgebench metadata in its header ({type(exc).__name__}: {exc})") from None
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
        raise _Unreadable(f"truncated or damaged tensor data ({exc})") from None
    server = Payload(
        tensors={k[len(_SERVER) :]: v for k, v in tensors.items() if k.startswith(_SERVER)}, meta=server_meta
    )
    clients: dict[int, Payload] = {client_ids[cid]: Payload(meta=m) for cid, m in client_meta.items()}
    for key, value in tensors.items():
        if key.startswith(_CLIENT):
            cid, _, name = key[len(_CLIENT) :].partition("/")
            if not cid.isdigit() or not name:
                raise _Unreadable(f"a tensor named {key!r} that is no client state")
            clients.setdefault(int(cid), Payload()).tensors[name] = value
    return Checkpoint(round=rnd, complete=complete, server=server, clients=clients)
