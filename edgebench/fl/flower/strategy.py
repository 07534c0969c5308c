"""The server side on Flower: node discovery, a strategy around the method's server half, dropouts.

:class:`EdgebenchStrategy` is a Flower ``Strategy`` whose ``configure_train`` asks the method's server
half for one downlink per sampled client (FedARA's downlinks differ in rank from round to round, so
this is not FedAvg over identical arrays) and whose ``aggregate_train`` validates every reply (records,
echo, codec) before handing the valid ones to the server half's ``aggregate`` (which rejects wrong
tensors, shapes and NaN, and runs FedARA's allocation). Evaluation is centralised, as in the in-process
engine, so ``configure_evaluate`` sends nothing. The round loop itself is the engine's (see
:mod:`edgebench.fl.flower.server_app`), which is what keeps results, checkpoints and resume identical.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from edgebench.config import ExperimentConfig
from edgebench.fl.accounting import client_row
from edgebench.fl.codec import PayloadError, decode, encode
from edgebench.fl.engine import sample_clients
from edgebench.fl.flower.wire import (
    DOWNLINK,
    INSTRUCTION,
    MEASUREMENTS,
    METRICS,
    NODE,
    UPLINK,
    ReplyError,
    blob_of,
    blob_record,
    config_record,
    flower_bytes,
    records_to_measurements,
)
from edgebench.fl.results import CLIENT_COLUMNS
from edgebench.methods.base import ClientReply, MethodServer, Payload, RoundOutcome

POLL_S = 0.25
# The client's own measurement cells (the rest of a row is filled in by the server).
MEASURED_COLUMNS = [
    c
    for c in CLIENT_COLUMNS
    if c
    not in {
        "method",
        "round",
        "client_id",
        "num_examples",
        "active_rank",
        "active_modules",
        "status",
        "flower_bytes_down",
        "flower_bytes_up",
        "flower_reply_s",
        "client_device",
    }
]


class TooFewReplies(RuntimeError):
    """A round ended with fewer usable replies than ``runtime.min_replies``."""


# -- sending and receiving -----------------------------------------------------------------------
@dataclass
class Exchange:
    """The outcome of pushing instructions and pulling replies within a deadline."""

    replies: dict[str, Message] = field(default_factory=dict)  # by instruction message id
    reply_s: dict[str, float] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # instruction id -> dropout reason


def exchange(
    grid: Grid,
    messages: list[Message],
    timeout_s: float,
    on_reply: Callable[[Message], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[str | None], Exchange]:
    """Push `messages`, then pull replies until all arrived or `timeout_s` passed.

    A destination that leaves the federation (Flower stops listing it as online) is not waited for.
    Returns the instruction ids (None where Flower could not push one) and what came back.
    """
    out = Exchange()
    if not messages:
        return [], out
    started = time.monotonic()
    pushed = [str(i) if i else None for i in grid.push_messages(messages)]
    if len(pushed) == len(messages):
        ids = pushed
    else:  # some grids leave out what they could not store: match by the id each message was given
        accepted = {i for i in pushed if i}
        ids = [m.metadata.message_id if m.metadata.message_id in accepted else None for m in messages]
    pending = {mid: msg.metadata.dst_node_id for mid, msg in zip(ids, messages, strict=True) if mid}
    deadline = started + timeout_s
    last_liveness = started
    while pending:
        for reply in grid.pull_messages(list(pending)):
            mid = reply.metadata.reply_to_message_id
            if mid in pending:
                del pending[mid]
                out.replies[mid] = reply
                out.reply_s[mid] = time.monotonic() - started
                if on_reply is not None:
                    on_reply(reply)
        now = time.monotonic()
        if not pending:
            break
        if now >= deadline:
            for mid in pending:
                out.missing[mid] = f"no reply within runtime.round_timeout_s ({timeout_s:g} s)"
            break
        if now - last_liveness >= 2.0:
            last_liveness = now
            online = set(grid.get_node_ids())
            for mid, node in list(pending.items()):
                if node not in online:
                    out.missing[mid] = f"SuperNode {node} went offline (no heartbeat)"
                    del pending[mid]
        sleep(POLL_S)
    return ids, out


def error_text(message: Message) -> str:
    """A short description of an error reply (Flower's code name and reason)."""
    code = message.error.code
    names = {v: k for k, v in vars(ErrorCode).items() if isinstance(v, int) and not k.startswith("_")}
    reason = (message.error.reason or "").strip().replace("\n", " ")
    return f"{names.get(code, f'error {code}')}: {reason[:300]}"


# -- node discovery -------------------------------------------------------------------------------
@dataclass
class NodeRecord:
    """A SuperNode that answered the hello query."""

    node_id: int
    partition_id: int
    info: dict[str, Any]
    hello_bytes_down: int | None = None
    hello_bytes_up: int | None = None


class NodeDirectory:
    """Which SuperNode holds which client (partition-id), learned with a ``query`` message per new node.

    The hello query carries the experiment config once per node and run (the node keeps it in its
    ``context.state``); nodes that leave are forgotten, nodes that join (or reconnect with a new id)
    are greeted at the next round.
    """

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


# -- the strategy ---------------------------------------------------------------------------------
@dataclass
class _Sent:
    cid: int
    num_examples: int
    node_id: int | None
    bytes_down: int
    message: Message | None = None
    message_id: str | None = None


@dataclass
class RoundResult:
    """What a round produced: one row per sampled client (status set), the aggregation outcome."""

    rows: list[dict[str, Any]]
    outcome: RoundOutcome
    rejected: dict[int, str]
    dropped: dict[int, str]

    @property
    def usable(self) -> int:
        return len(self.outcome.accepted)


class EdgebenchStrategy(Strategy):
    """A Flower strategy around one method's server half (one instance per method of a run)."""

    def __init__(
        self,
        label: str,
        server: MethodServer,
        config: ExperimentConfig,
        nodes: NodeDirectory,
        num_examples: Mapping[int, int],
        log: Callable[[str], None] = print,
    ) -> None:
        self.label = label
        self.server = server
        self.config = config
        self.nodes = nodes
        self.num_examples = dict(num_examples)
        self.log = log
        self._sent: dict[int, _Sent] = {}
        self._ranks: dict[str, int] = {}
        self._timing: dict[str, float] = {}
        self._missing: dict[str, str] = {}
        self.last_round: RoundResult | None = None

    # -- Strategy hooks ---------------------------------------------------------------------------
    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """One message per sampled client that has a SuperNode, each with its own downlink."""
        fed = self.config.federation
        cids = sample_clients(self.config.seed, server_round, fed.num_clients, fed.clients_per_round)
        self._ranks = self.server.module_ranks()
        downlinks = self.server.configure_round(server_round, cids)
        self._sent, self._timing, self._missing = {}, {}, {}
        messages: list[Message] = []
        for cid in cids:
            node_id = self.nodes.node_for(cid)
            blob = encode(downlinks[cid], fed.wire_dtype)
            sent = _Sent(cid, self.num_examples.get(cid, 0), node_id, len(blob))
            self._sent[cid] = sent
            if node_id is None:
                continue
            instruction = ConfigRecord(
                {
                    "action": "train",
                    "method": self.label,
                    "round": server_round,
                    "client_id": cid,
                    "config_hash": self.config.hash(),
                    **{k: v for k, v in config.items()},
                }
            )
            sent.message = Message(
                RecordDict({INSTRUCTION: instruction, DOWNLINK: blob_record(blob)}),
                dst_node_id=node_id,
                message_type=MessageType.TRAIN,
                group_id=f"{self.label}/{server_round}",
                ttl=self.config.runtime.round_timeout_s + 60,
            )
            messages.append(sent.message)
        return messages

    def record_exchange(self, ids: list[str | None], messages: list[Message], result: Exchange) -> list[Message]:
        """Note instruction ids, reply times and dropouts of the exchange; return every reply."""
        by_message = {id(m): mid for m, mid in zip(messages, ids, strict=True)}
        for sent in self._sent.values():
            if sent.message is not None:
                sent.message_id = by_message.get(id(sent.message))
        self._timing = dict(result.reply_s)
        self._missing = dict(result.missing)
        return list(result.replies.values())

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Validate replies, let the method's server half aggregate the valid ones, build the rows."""
        by_id = {r.metadata.reply_to_message_id: r for r in replies}
        rows: list[dict[str, Any]] = []
        rejected: dict[int, str] = {}
        dropped: dict[int, str] = {}
        valid: list[ClientReply] = []
        for cid, sent in self._sent.items():
            reply = by_id.get(sent.message_id) if sent.message_id else None
            measured: dict[str, Any] = {c: None for c in MEASURED_COLUMNS}
            num_examples = sent.num_examples
            device = self.nodes.device_of(cid)
            if sent.node_id is None:
                dropped[cid] = f"no SuperNode serves client {cid}"
            elif sent.message_id is None:
                dropped[cid] = "the instruction could not be pushed to the SuperLink"
            elif reply is None:
                dropped[cid] = self._missing.get(sent.message_id, "no reply")
            elif reply.has_error():
                dropped[cid] = error_text(reply)
            else:
                try:
                    num_examples, measured, device = self._read_measurements(server_round, cid, reply, measured)
                    valid.append(ClientReply(cid, num_examples, self._read_payload(reply, measured)))
                except ReplyError as exc:  # the client's measurements are kept when they could be read
                    rejected[cid] = str(exc)
                except PayloadError as exc:
                    rejected[cid] = f"undecodable uplink: {exc}"
            if sent.node_id is not None and sent.message_id is not None:
                measured["bytes_down"] = measured.get("bytes_down") or sent.bytes_down
            row = client_row(self.label, server_round, cid, num_examples, self._ranks, measured)
            row["flower_bytes_down"] = flower_bytes(sent.message) if sent.message_id else None
            row["flower_bytes_up"] = flower_bytes(reply) if reply is not None and not reply.has_error() else None
            row["flower_reply_s"] = self._timing.get(sent.message_id) if sent.message_id else None
            row["client_device"] = device
            rows.append(row)
        outcome = self.server.aggregate(server_round, valid)
        rejected.update(outcome.rejected)
        for row in rows:
            cid = row["client_id"]
            if cid in dropped:
                row["status"] = f"dropout: {dropped[cid]}"
            elif cid in rejected:
                row["status"] = f"rejected: {rejected[cid]}"
            else:
                row["status"] = "accepted"
        for cid, reason in dropped.items():
            self.log(f"[{self.label}] round {server_round}: client {cid} dropped out: {reason}")
        for cid, reason in rejected.items():
            self.log(f"[{self.label}] round {server_round}: client {cid} rejected: {reason}")
        self.last_round = RoundResult(rows, outcome, rejected, dropped)
        metrics = MetricRecord(
            {
                "clients": len(rows),
                "accepted": len(outcome.accepted),
                "rejected": len(rejected),
                "dropped": len(dropped),
                "active_rank": outcome.active_rank,
            }
        )
        return None, metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Evaluation is centralised on the server (the held-out split), as in the in-process engine."""
        return []

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return None

    def summary(self) -> None:
        fed = self.config.federation
        self.log(
            f"EdgebenchStrategy[{self.label}]: {fed.clients_per_round} of {fed.num_clients} clients per round, "
            f"min_replies {self.config.runtime.min_replies}, round timeout {self.config.runtime.round_timeout_s:g} s"
        )

    # -- helpers ----------------------------------------------------------------------------------
    def _read_measurements(
        self, rnd: int, cid: int, reply: Message, measured: dict[str, Any]
    ) -> tuple[int, dict[str, Any], str | None]:
        """The reply's echo, sample count and measurement cells (filled into `measured`); ReplyError."""
        content = reply.content
        if METRICS not in content.metric_records or MEASUREMENTS not in content.config_records:
            raise ReplyError("malformed reply: metrics or measurements record missing")
        metrics = content.metric_records[METRICS]
        text = content.config_records[MEASUREMENTS]
        echo = (str(text.get("method")), str(text.get("round")), str(text.get("client_id")))
        if echo != (self.label, str(rnd), str(cid)):
            raise ReplyError(f"reply is for method/round/client {'/'.join(echo)}, expected {self.label}/{rnd}/{cid}")
        num_examples = metrics.get("num_examples")
        if not isinstance(num_examples, int):
            raise ReplyError("malformed reply: num_examples missing or not an integer")
        measured.update(records_to_measurements(metrics, text, MEASURED_COLUMNS))
        device = text.get("client_device")
        return num_examples, measured, (str(device) if device is not None else None)

    @staticmethod
    def _read_payload(reply: Message, measured: dict[str, Any]) -> Payload:
        """The uplink payload, decoded; ReplyError / PayloadError when it cannot be used."""
        blob = blob_of(reply.content, UPLINK)
        if measured.get("bytes_up") != len(blob):
            raise ReplyError(f"reply reports {measured.get('bytes_up')} uplink bytes but carries {len(blob)}")
        return decode(blob)
