"""Which SuperNode holds which client (partition-id), learned with a ``query`` message per new node.

The hello query carries the experiment config once per node and run (the node keeps it in its
``context.state``); nodes that leave are forgotten, nodes that join (or reconnect with a new id) are
greeted at the next round.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flwr.app import Message, MessageType, RecordDict
from flwr.serverapp import Grid

from edgebench.config import ExperimentConfig
from edgebench.fl.flower.transport import error_text, exchange
from edgebench.fl.flower.wire import INSTRUCTION, NODE, config_record, flower_bytes


@dataclass
class NodeRecord:
    """A SuperNode that answered the hello query."""

    node_id: int
    partition_id: int
    info: dict[str, Any]
    hello_bytes_down: int | None = None
    hello_bytes_up: int | None = None


class NodeDirectory:
    """The SuperNodes of a run, by client id, with what each said about itself."""

    def __init__(
        self,
        grid: Grid,
        config: ExperimentConfig,
        client_device: str,
        log: Callable[[str], None],
        timeout_s: float,
    ) -> None:
        self.grid = grid
        self.config = config
        self.log = log
        self.timeout_s = timeout_s
        self.nodes: dict[int, NodeRecord] = {}
        self.by_partition: dict[int, int] = {}
        self.refused: dict[int, str] = {}  # node id -> why it is not used (retried when it reconnects)
        self.changed = False
        self._hello = {
            "action": "hello",
            "config": json.dumps(config.as_dict(), sort_keys=True),
            "config_hash": config.hash(),
            "config_file": str(config.source) if config.source else "",
            "device": client_device,
        }

    def node_for(self, cid: int) -> int | None:
        return self.by_partition.get(cid)

    def device_of(self, cid: int) -> str | None:
        node = self.by_partition.get(cid)
        return None if node is None else self.nodes[node].info.get("device_profile")

    def wait_for_all(self, wait_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        """Greet nodes until every client has one, or `wait_s` passed (then carry on with those present)."""
        wanted = self.config.federation.num_clients
        deadline = time.monotonic() + wait_s
        reported = -1
        while True:
            self.refresh()
            have = len(self.by_partition)
            if have >= wanted:
                return
            if have != reported:
                self.log(f"waiting for SuperNodes: {have}/{wanted} clients connected")
                reported = have
            if time.monotonic() >= deadline:
                missing = sorted(set(range(wanted)) - set(self.by_partition))
                self.log(
                    f"carrying on with {have}/{wanted} clients after runtime.wait_for_nodes_s; "
                    f"no SuperNode for clients {missing} (they count as dropouts when sampled)"
                )
                return
            sleep(1.0)

    def refresh(self) -> None:
        """Forget nodes that went offline; greet new ones."""
        online = set(self.grid.get_node_ids())
        for node_id in [n for n in self.nodes if n not in online]:
            record = self.nodes.pop(node_id)
            if self.by_partition.get(record.partition_id) == node_id:
                del self.by_partition[record.partition_id]
            self.log(f"SuperNode {node_id} (client {record.partition_id}) left")
            self.changed = True
        for node_id in [n for n in self.refused if n not in online]:
            del self.refused[node_id]
        new = sorted(n for n in online if n not in self.nodes and n not in self.refused)
        if not new:
            return
        messages = [
            Message(
                RecordDict({INSTRUCTION: config_record(self._hello)}),
                dst_node_id=node_id,
                message_type=MessageType.QUERY,
                group_id="hello",
                ttl=self.timeout_s + 60,
            )
            for node_id in new
        ]
        ids, got = exchange(self.grid, messages, self.timeout_s)
        for mid, message in zip(ids, messages, strict=True):
            node_id = message.metadata.dst_node_id
            reply = got.replies.get(mid) if mid else None
            if reply is None:
                self.log(f"SuperNode {node_id} did not answer the hello query; retried next round")
                continue
            if reply.has_error():
                self.refused[node_id] = error_text(reply)
                self.log(f"SuperNode {node_id} failed the hello query ({self.refused[node_id]})")
                continue
            self._register(node_id, reply, flower_bytes(message), flower_bytes(reply))

    def _register(self, node_id: int, reply: Message, bytes_down: int | None, bytes_up: int | None) -> None:
        try:
            info = dict(reply.content.config_records[NODE])
            pid = int(info["partition_id"])
        except (KeyError, TypeError, ValueError):
            self.refused[node_id] = "malformed hello reply"
            self.log(f"SuperNode {node_id}: malformed hello reply, ignored")
            return
        wanted = self.config.federation.num_clients
        declared = int(info.get("num_partitions", -1))
        if not 0 <= pid < wanted:
            self.refused[node_id] = f"partition-id {pid} outside 0..{wanted - 1}"
            self.log(f"SuperNode {node_id}: {self.refused[node_id]}; ignored")
            return
        if declared not in (-1, wanted):
            self.log(f"SuperNode {node_id}: num-partitions={declared} but the config has {wanted} clients")
        if pid in self.by_partition:
            self.refused[node_id] = f"client {pid} is already served by SuperNode {self.by_partition[pid]}"
            self.log(f"SuperNode {node_id}: {self.refused[node_id]}; ignored")
            return
        self.nodes[node_id] = NodeRecord(node_id, pid, info, bytes_down, bytes_up)
        self.by_partition[pid] = node_id
        self.changed = True
        self.log(
            f"SuperNode {node_id} serves client {pid} on {info.get('hostname', '?')} "
            f"(device profile {info.get('device_profile', '?')})"
        )

    def describe(self) -> dict[str, Any]:
        """For run.json: every node used, by client id."""
        return {
            str(rec.partition_id): {
                "node_id": str(rec.node_id),
                **rec.info,
                "hello_flower_bytes_down": rec.hello_bytes_down,
                "hello_flower_bytes_up": rec.hello_bytes_up,
            }
            for rec in sorted(self.nodes.values(), key=lambda r: r.partition_id)
        }

    def devices(self) -> list[str]:
        return sorted({str(rec.info.get("device_profile", "?")) for rec in self.nodes.values()})
