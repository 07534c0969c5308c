"""The Flower executor: a round's downlinks go to the clients' SuperNodes as ``train`` messages.

Each sampled client's downlink travels in its own message (FedARA's downlinks differ in rank from
client to client and round to round); every reply is checked (records, echo, sizes, codec) before the
engine hands the usable ones to the method's server half. A client whose SuperNode is missing, whose
reply does not come back in time, or whose ClientApp failed is recorded as a dropout; a reply that
cannot be used is rejected. Evaluation stays on the server, in the engine.

Flower's ``Strategy`` is not used: its ``start`` runs its own round loop, and here the engine owns the
loop so that every executor is measured, checkpointed and resumed identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from edgebench.config import ExperimentConfig
from edgebench.devices.host import package_versions
from edgebench.fl.codec import PayloadError, WireDtype, decode
from edgebench.fl.executor import (
    ClientExecutor,
    ClientOutcome,
    ClientTask,
    MethodSession,
    OnClientDone,
    RoundTask,
    RunContext,
)
from edgebench.fl.flower.node_state import run_key
from edgebench.fl.flower.nodes import NodeDirectory
from edgebench.fl.flower.transport import Exchange, error_text, exchange
from edgebench.fl.flower.wire import (
    DOWNLINK,
    INSTRUCTION,
    MEASUREMENTS,
    METRICS,
    UPLINK,
    ReplyError,
    blob_of,
    blob_record,
    flower_bytes,
    records_to_measurement,
)
from edgebench.methods.base import Payload
from edgebench.results import DROPOUT, REJECTED, ClientMeasurement, RunMeta

DEPLOYMENT = "flower-deployment"
SIMULATION = "flower-simulation"


@dataclass
class _Sent:
    """A client's train message, if it could be addressed and pushed."""

    task: ClientTask
    node_id: int | None
    message: Message | None = None
    message_id: str | None = None


class FlowerExecutor(ClientExecutor):
    """Clients on the SuperNodes reachable through a Flower `grid` (real devices, or Flower's simulation)."""

    transport_columns = True

    def __init__(self, grid: Grid, runtime: str = DEPLOYMENT, client_device: str = "auto") -> None:
        self.grid = grid
        self.runtime = runtime
        self.client_device = client_device
        self._run: RunContext | None = None
        self._nodes: NodeDirectory | None = None
        self._label = ""

    def open(self, run: RunContext, meta: RunMeta) -> None:
        config = run.config
        self._run = run
        key = run_key(meta.run_dir, meta.started_at)  # the same after --resume: nodes find their client state
        self._nodes = NodeDirectory(
            self.grid, config, self.client_device, run.log, config.runtime.round_timeout_s, run_key=key
        )
        versions = package_versions(["flwr", "ray"])
        meta.runtime = {
            "engine": self.runtime,
            "flwr": versions["flwr"],
            "ray": versions["ray"] if self.runtime == SIMULATION else None,
            "settings": config.runtime.model_dump(mode="json"),
            "run_key": key,
            "nodes": {},
        }
        self._nodes.wait_for_all(config.runtime.wait_for_nodes_s)
        self._record_nodes(meta)

    def start_method(self, session: MethodSession) -> None:
        assert self._run is not None
        self._label = session.label
        fed, runtime = self._run.config.federation, self._run.config.runtime
        self._run.log(
            f"[{session.label}] on Flower: {fed.clients_per_round} of {fed.num_clients} clients per round, "
            f"min_replies {runtime.min_replies}, round timeout {runtime.round_timeout_s:g} s"
        )

    def before_round(self, meta: RunMeta) -> bool:
        assert self._nodes is not None
        self._nodes.refresh()
        return self._record_nodes(meta)

    def min_replies(self, config: ExperimentConfig) -> int:
        return config.runtime.min_replies

    def run_round(self, task: RoundTask, on_client_done: OnClientDone) -> list[ClientOutcome]:
        assert self._run is not None and self._nodes is not None
        sent = [self._message(task, t) for t in task.clients]
        pushing = [(s, s.message) for s in sent if s.message is not None]
        done = 0

        def on_reply(reply: Message) -> None:
            nonlocal done
            done += 1
            loss = math.nan
            if reply.has_content() and METRICS in reply.content.metric_records:
                loss = float(reply.content.metric_records[METRICS].get("train_loss", math.nan))
            on_client_done(done, loss)

        messages = [message for _, message in pushing]
        ids, result = exchange(self.grid, messages, self._run.config.runtime.round_timeout_s, on_reply)
        for (s, _), message_id in zip(pushing, ids, strict=True):
            s.message_id = message_id
        return [self._outcome(task, s, result) for s in sent]

    # -- one client ------------------------------------------------------------------------------
    def _message(self, task: RoundTask, client: ClientTask) -> _Sent:
        assert self._run is not None and self._nodes is not None
        config = self._run.config
        node_id = self._nodes.node_for(client.client_id)
        sent = _Sent(client, node_id)
        if node_id is None:
            return sent
        instruction = ConfigRecord(
            {
                "action": "train",
                "method": task.label,
                "round": task.round,
                "client_id": client.client_id,
                "config_hash": config.hash(),
            }
        )
        sent.message = Message(
            RecordDict({INSTRUCTION: instruction, DOWNLINK: blob_record(client.downlink)}),
            dst_node_id=node_id,
            message_type=MessageType.TRAIN,
            group_id=f"{task.label}/{task.round}",
            ttl=config.runtime.round_timeout_s + 60,
        )
        return sent

    def _outcome(self, task: RoundTask, sent: _Sent, result: Exchange) -> ClientOutcome:
        """The client's outcome: a usable payload, or why not (dropout / rejected) with what is known."""
        assert self._run is not None and self._nodes is not None
        cid = sent.task.client_id
        reply = result.replies.get(sent.message_id) if sent.message_id else None
        outcome = ClientOutcome(cid, sent.task.num_examples, ClientMeasurement())
        outcome.transport.client_device = self._nodes.device_of(cid)
        if sent.node_id is None:
            refused = self._nodes.refusal_for(cid)  # e.g. a node of another flwr/edgebench version
            outcome.problem = f"{DROPOUT}: no SuperNode serves client {cid}" + (f" ({refused})" if refused else "")
        elif sent.message_id is None:
            outcome.problem = f"{DROPOUT}: the instruction could not be pushed to the SuperLink"
        elif reply is None:
            outcome.problem = f"{DROPOUT}: {result.missing.get(sent.message_id, 'no reply')}"
        elif reply.has_error():
            outcome.problem = f"{DROPOUT}: {error_text(reply)}"
        else:
            try:
                self._read_measurement(task, cid, reply, outcome)
                outcome.payload = self._read_payload(reply, outcome.measurement, self._run.config.federation.wire_dtype)
            except ReplyError as exc:  # the client's measurements are kept when they could be read
                outcome.problem = f"{REJECTED}: {exc}"
            except PayloadError as exc:
                outcome.problem = f"{REJECTED}: undecodable uplink: {exc}"
        if sent.message_id is not None:
            outcome.measurement.bytes_down = outcome.measurement.bytes_down or len(sent.task.downlink)
            outcome.transport.flower_bytes_down = flower_bytes(sent.message) if sent.message is not None else None
            outcome.transport.flower_reply_s = result.reply_s.get(sent.message_id)
        if reply is not None and not reply.has_error():
            outcome.transport.flower_bytes_up = flower_bytes(reply)
        return outcome

    def _read_measurement(self, task: RoundTask, cid: int, reply: Message, outcome: ClientOutcome) -> None:
        """The reply's echo, sample count, device and measurement, into `outcome`; ReplyError when malformed."""
        content = reply.content
        if METRICS not in content.metric_records or MEASUREMENTS not in content.config_records:
            raise ReplyError("malformed reply: metrics or measurements record missing")
        metrics = content.metric_records[METRICS]
        text = content.config_records[MEASUREMENTS]
        echo = (str(text.get("method")), str(text.get("round")), str(text.get("client_id")))
        if echo != (task.label, str(task.round), str(cid)):
            raise ReplyError(
                f"reply is for method/round/client {'/'.join(echo)}, expected {task.label}/{task.round}/{cid}"
            )
        outcome.measurement = records_to_measurement(metrics, text)
        device = text.get("client_device")
        outcome.transport.client_device = str(device) if device is not None else None
        # The server weights by the partition size it knows (outcome.num_examples), never by the reply's claim.
        num_examples = metrics.get("num_examples")
        if not isinstance(num_examples, int):
            raise ReplyError("malformed reply: num_examples missing or not an integer")
        if num_examples != outcome.num_examples:
            raise ReplyError(f"num_examples mismatch: reply says {num_examples}, partition has {outcome.num_examples}")

    @staticmethod
    def _read_payload(reply: Message, measurement: ClientMeasurement, wire_dtype: WireDtype) -> Payload:
        """The uplink payload, decoded (floating tensors in `wire_dtype`); ReplyError / PayloadError when unusable."""
        blob = blob_of(reply.content, UPLINK)
        if measurement.bytes_up != len(blob):
            raise ReplyError(f"reply reports {measurement.bytes_up} uplink bytes but carries {len(blob)}")
        return decode(blob, wire_dtype)

    # -- run metadata ----------------------------------------------------------------------------
    def _record_nodes(self, meta: RunMeta) -> bool:
        """Record the SuperNodes in `meta` (on real devices, file the run under their profiles)."""
        assert self._run is not None and self._nodes is not None
        if not self._nodes.changed:
            return False
        self._nodes.changed = False
        assert meta.runtime is not None
        meta.runtime["nodes"] = self._nodes.describe()
        meta.runtime["refused"] = self._nodes.describe_refused()
        devices = self._nodes.devices()
        meta.device["clients"] = devices
        if self.runtime == DEPLOYMENT and devices:
            # The report files a run under device.name: on a deployment that is the clients' hardware.
            meta.device.setdefault(
                "server", {"name": self._run.config.device.name, "profile": meta.device.get("profile")}
            )
            meta.device["name"] = meta.device["profile"] = "+".join(devices)
        return True
