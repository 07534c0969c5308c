"""Which SuperNode holds which client (partition-id), learned with a ``query`` message per new node.

The hello query carries the experiment config once per node and run (the node keeps it in its
``context.state``); nodes that leave are forgotten, nodes that join (or reconnect with a new id) are
greeted at the next round. A new node of the *same host* claiming a client another node serves is that
device restarted: it takes the client over at once (Flower keeps listing a crashed node until its
heartbeats time out, which would otherwise cost the client every round until then). One of another host
is refused while the client is served, and greeted again once it is not.
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
from edgebench.fl.flower.versions import version_refusal
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
        run_key: str = "",
    ) -> None:
        self.grid = grid
        self.config = config
        self.log = log
        self.timeout_s = timeout_s
        self.nodes: dict[int, NodeRecord] = {}
        self.by_partition: dict[int, int] = {}
        self.refused: dict[int, str] = {}  # node id -> why it is not used (retried when it reconnects)
        self.duplicates: dict[int, int] = {}  # node id -> client it claimed while another node served it
        self.superseded: set[int] = set()  # nodes replaced by a newer node of the same host (not greeted again)
        self._greeted_now: set[int] = set()
        self.refused_clients: dict[int, int] = {}  # node id -> the client id a refused node claimed
        self.changed = False
        self._hello = {
            "action": "hello",
            "config": json.dumps(config.as_dict(), sort_keys=True),
            "config_hash": config.hash(),
            "config_file": str(config.source) if config.source else "",
            "device": client_device,
            "run_key": run_key,  # names this run's client state on the nodes' disks (node_state.py)
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
        self.superseded &= online
        for node_id, pid in list(self.duplicates.items()):  # its client lost its node: greet it again
            if node_id not in online or pid not in self.by_partition:
                del self.duplicates[node_id]
                self.refused.pop(node_id, None)
        new = sorted(n for n in online if n not in self.nodes and n not in self.refused and n not in self.superseded)
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
        self._greeted_now = set()  # two nodes of one host answering together: the first keeps the client
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
        mismatch = version_refusal(info)  # one flwr and edgebench version per federation (versions.py)
        if mismatch is not None:
            self.refused[node_id], self.refused_clients[node_id] = mismatch, pid
            self.changed = True  # recorded in run.json runtime.refused
            self.log(f"SuperNode {node_id} (client {pid}) refused: {mismatch}")
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
            old = self.nodes[self.by_partition[pid]]
            host = info.get("hostname")
            if host is None or old.info.get("hostname") != host or old.node_id in self._greeted_now:
                self.refused[node_id] = f"client {pid} is already served by SuperNode {old.node_id}"
                self.duplicates[node_id] = pid  # greeted again if that node leaves
                self.log(f"SuperNode {node_id}: {self.refused[node_id]}; ignored")
                return
            # The same device came back (a reboot, a restarted SuperNode): Flower lists the old SuperNode until
            # its heartbeats time out, but it will never answer again.
            del self.nodes[old.node_id]
            self.superseded.add(old.node_id)
            self.log(f"SuperNode {node_id} replaces SuperNode {old.node_id} as client {pid} (same host {host})")
        self.nodes[node_id] = NodeRecord(node_id, pid, info, bytes_down, bytes_up)
        self.by_partition[pid] = node_id
        self._greeted_now.add(node_id)
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

    def describe_refused(self) -> dict[str, str]:
        """For run.json: the nodes connected but not used, by node id, with the reason."""
        return {str(node_id): reason for node_id, reason in sorted(self.refused.items())}

    def refusal_for(self, cid: int) -> str | None:
        """Why a connected node claiming client `cid` was refused (e.g. its versions), if one was."""
        for node_id, reason in self.refused.items():
            if self.refused_clients.get(node_id) == cid:
                return f"SuperNode {node_id} refused: {reason}"
        return None

    def devices(self) -> list[str]:
        return sorted({str(rec.info.get("device_profile", "?")) for rec in self.nodes.values()})
