"""Per-method checkpoints after each round: server state and client state, one safetensors file.

The file is written to a temporary name and renamed, so a crash leaves either the previous round's
checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from edgebench.fl.codec import header_of
from edgebench.methods.base import Payload

_SERVER = "server/"
_CLIENT = "client/"


@dataclass
class Checkpoint:
    """State after `round` (1-based) of one method; `complete` once its last round is done."""

    round: int
    complete: bool
    server: Payload
    clients: dict[int, Payload] = field(default_factory=dict)


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"edgebench": json.dumps(meta, sort_keys=True)})
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(run_dir: Path, label: str) -> Checkpoint | None:
    """The last saved checkpoint of `label`, or None when it never finished a round."""
    path = checkpoint_path(run_dir, label)
    if not path.exists():
        return None
    blob = path.read_bytes()
    meta = json.loads(header_of(blob)["__metadata__"]["edgebench"])
    tensors = load_file(str(path))
    server = Payload(
        tensors={k[len(_SERVER) :]: v for k, v in tensors.items() if k.startswith(_SERVER)}, meta=meta["server"]
    )
    clients: dict[int, Payload] = {int(cid): Payload(meta=m) for cid, m in meta["clients"].items()}
    for key, value in tensors.items():
        if key.startswith(_CLIENT):
            cid, name = key[len(_CLIENT) :].split("/", 1)
            clients.setdefault(int(cid), Payload()).tensors[name] = value
    return Checkpoint(round=int(meta["round"]), complete=bool(meta["complete"]), server=server, clients=clients)
