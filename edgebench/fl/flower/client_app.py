"""The ClientApp: one federated client on a device (or a virtual client in Flower's simulation).

Component reference: ``edgebench.fl.flower.client_app:app``. The node's ``--node-config`` says which
client it is and where its data live (see docs/flower.md):

- ``partition-id`` (required): the client id, a row of ``partition.csv``;
- ``num-partitions``: checked against ``federation.num_clients`` when given;
- ``device-profile``: device profile for the profiler (default: what the server sends, ``auto`` =
  detect this device); ``torch-threads``: intra-op threads; ``compute``: where this node trains
  (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``; default: the experiment's ``compute.device``);
- ``data-path``: the dataset on this device (overrides ``data.path`` of the experiment file);
- ``state-dir``: where the node keeps per-client method state on disk
  (:mod:`~edgebench.fl.flower.node_state`; ``edgebench client`` always sets it).

Two message types: a ``query`` (hello) carries the experiment config once per run -- it is kept in the
node's ``context.state`` -- and is answered with the node's partition, device and versions; a ``train``
message carries the downlink and runs :func:`edgebench.fl.client_round.run_client_round` with the
method's client half inside the profiler, exactly as the in-process engine does. A method's per-client
state (e.g. FedARA's persistent EMAs, FedAdaLoRA's rank pattern) is written to the node's disk after
every round it trains, keyed by run and method (with ``state-dir``), else kept in ``context.state``.

The model and the tokenized partition are cached per process, keyed by config hash and method: with
the warm worker (:mod:`~edgebench.fl.flower.warm`) one process serves every message, so they are built
once per run; with Flower's default a fresh process per message builds them every time.
"""

from __future__ import annotations

import json
import logging
import platform
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

import edgebench
from edgebench.config import ExperimentConfig, MethodEntry, parse_config
from edgebench.devices.profiles import DeviceProfile
from edgebench.fl.batches import TokenizedSplit, tokenize
from edgebench.fl.client_round import run_client_round
from edgebench.fl.flower.node_state import NodeStateStore
from edgebench.fl.flower.wire import (
    DOWNLINK,
    INSTRUCTION,
    MEASUREMENTS,
    METRICS,
    NODE,
    STATE_CLIENT,
    STATE_JOB,
    UPLINK,
    blob_of,
    blob_record,
    config_record,
    measurement_to_records,
    pack_state,
    unpack_state,
)
from edgebench.fl.placement import PlacementChoice
from edgebench.fl.sampling import client_batches
from edgebench.methods import get_method
from edgebench.methods.base import MethodClient, Payload

log = logging.getLogger("edgebench.flower.client")

app = ClientApp()


class ClientSetupError(RuntimeError):
    """The node cannot run the requested round (no config yet, wrong partition, bad node config)."""


# -- node configuration -------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSettings:
    """What ``--node-config`` says about this node."""

    partition_id: int
    num_partitions: int | None = None
    device_profile: str | None = None
    data_path: str | None = None
    torch_threads: int | None = None
    compute: str | None = None
    state_dir: str | None = None

    @classmethod
    def from_node_config(cls, node_config: Any) -> NodeSettings:
        cfg = dict(node_config)
        if "partition-id" not in cfg:
            raise ClientSetupError(
                "the SuperNode has no partition-id; start it with --node-config 'partition-id=<k>' "
                "(or `edgebench client --partition-id <k>`)"
            )

        def as_int(key: str) -> int | None:
            value = cfg.get(key)
            if value is None or value == "":
                return None
            try:
                return int(value)
            except (TypeError, ValueError):
                raise ClientSetupError(f"node config {key}={value!r} is not an integer") from None

        def as_str(key: str) -> str | None:
            value = cfg.get(key)
            return None if value is None or value == "" else str(value)

        partition_id = as_int("partition-id")
        assert partition_id is not None
        return cls(
            partition_id=partition_id,
            num_partitions=as_int("num-partitions"),
            device_profile=as_str("device-profile"),
            data_path=as_str("data-path"),
            torch_threads=as_int("torch-threads"),
            compute=as_str("compute"),
            state_dir=as_str("state-dir"),
        )


# -- the experiment, as the server sent it ------------------------------------------------------
@dataclass
class ClientJob:
    """The experiment config (as the server loaded it) plus this node's settings."""

    config: ExperimentConfig
    config_hash: str
    device: str
    node: NodeSettings
    run_key: str = ""  # the edgebench run, for state kept on the node's disk (node_state.py)

    @classmethod
    def from_state(cls, context: Context) -> ClientJob:
        if STATE_JOB not in context.state.config_records:
            raise ClientSetupError("this node has not received the experiment config (no hello query in this run)")
        record = context.state.config_records[STATE_JOB]
        return cls.build(
            str(record["config"]),
            str(record["config_hash"]),
            str(record["device"]),
            str(record.get("config_file", "")),
            context.node_config,
            str(record.get("run_key", "")),
        )

    @classmethod
    def build(
        cls, config_json: str, config_hash: str, device: str, config_file: str, node_config: Any, run_key: str = ""
    ) -> ClientJob:
        node = NodeSettings.from_node_config(node_config)
        config = _job_config(config_json, config_file, node)
        return cls(
            config=config, config_hash=config_hash, device=node.device_profile or device, node=node, run_key=run_key
        )

    def state_store(self) -> NodeStateStore | None:
        """Where this node keeps client method state on disk (None: in ``context.state`` only, e.g. simulation)."""
        if not self.node.state_dir or not self.run_key:
            return None
        return NodeStateStore.open(Path(self.node.state_dir), self.run_key)


_CONFIG_CACHE: dict[tuple[str, str, str | None], ExperimentConfig] = {}


def _job_config(config_json: str, config_file: str, node: NodeSettings) -> ExperimentConfig:
    key = (config_json, config_file, node.data_path)
    if key not in _CONFIG_CACHE:
        config = parse_config(json.loads(config_json), Path(config_file or "experiment-from-server.yaml"))
        if node.data_path:
            path = str(Path(node.data_path).expanduser().resolve())
            data = config.data.model_copy(update={"path": path})
            source = config.source
            config = config.model_copy(update={"data": data})
            config._source = source
        _CONFIG_CACHE[key] = config
    return _CONFIG_CACHE[key]


# -- per-process cache of what a method needs on this client --------------------------------------
@dataclass
class ClientRuntime:
    """The method's client half and model, with this client's tokenized rows."""

    client: MethodClient
    model: nn.Module
    indices: list[int]
    tokens: TokenizedSplit
    rows: dict[int, int]


# One model per method, run and process, shared by the clients this process serves (as the in-process engine
# shares one backbone); the data and each client's token ids once per config. The model is keyed by the
# edgebench run and Flower's run id too: a warm process serves many runs, and a model FedARA pruned in one
# run (or before a resume, which is a new Flower run) must not be reused by the next.
_MODEL: dict[tuple[str, str, str, int], tuple[MethodClient, nn.Module, Any]] = {}
_DATA: dict[tuple[str, str | None], Any] = {}
_TOKENS: dict[tuple[str, str | None, int], tuple[list[int], TokenizedSplit]] = {}


def _method_entry(config: ExperimentConfig, label: str) -> MethodEntry:
    for entry in config.methods:
        if entry.label == label:
            return entry
    raise ClientSetupError(f"the experiment has no method labelled {label!r}")


def client_runtime(job: ClientJob, label: str, cid: int, run_id: int = 0) -> ClientRuntime:
    """The method's model (built once per process and Flower run `run_id`) and client `cid`'s tokenized rows."""
    from edgebench.fl.prepared import prepare_data
    from edgebench.models import resolve_model

    config = job.config
    fed = config.federation
    data_key = (job.config_hash, job.node.data_path)
    if data_key not in _DATA:
        _DATA.clear()
        _TOKENS.clear()
        _DATA[data_key] = prepare_data(config)
    data = _DATA[data_key]
    if not 0 <= cid < len(data.partition.client_indices):
        raise ClientSetupError(f"client {cid} is outside the partition's {len(data.partition.client_indices)} clients")
    model_key = (job.config_hash, label, job.run_key, run_id)
    if model_key not in _MODEL:
        _MODEL.clear()
        entry = _method_entry(config, label)
        spec = get_method(entry.method)
        resolved = resolve_model(config.model, data.splits.train.num_labels, config.seed)
        placement = node_placement(job).placement
        client = spec.client_cls(
            entry.params, config.seed, rounds=fed.rounds, local_steps=fed.local_steps, placement=placement
        )
        _MODEL[model_key] = (client, placement.place(client.build(resolved.model)), resolved.tokenizer)
    client, model, tokenizer = _MODEL[model_key]
    token_key = (*data_key, cid)
    if token_key not in _TOKENS:
        indices = [int(i) for i in data.partition.client_indices[cid]]
        _TOKENS[token_key] = (indices, tokenize(tokenizer, data.splits.train.subset(indices), fed.max_seq_len))
    indices, tokens = _TOKENS[token_key]
    return ClientRuntime(client, model, indices, tokens, {row: pos for pos, row in enumerate(indices)})


def prewarm(context: Context) -> str | None:
    """Build the first method's model and this node's tokenized partition into the process caches.

    For a long-lived ClientApp process (:mod:`edgebench.fl.flower.warm`), right after the hello query:
    round 1 then finds them ready. Returns the method label built (None when the node has no job yet).
    """
    if STATE_JOB not in context.state.config_records:
        return None
    job = ClientJob.from_state(context)
    label = job.config.methods[0].label
    client_runtime(job, label, job.node.partition_id, context.run_id)
    return label


def node_placement(job: ClientJob, profile: DeviceProfile | None = None) -> PlacementChoice:
    """Where this node trains: the experiment's compute settings, `compute` from the node config first, for
    `profile` (default: the device profile this node selects)."""
    from edgebench.devices.detect import select_profile
    from edgebench.fl.placement import choose_placement

    config = job.config
    if job.node.compute is not None:
        config = config.override("compute", {"device": job.node.compute}, "node config compute")
    if profile is None:
        profile = select_profile(job.device, config.profiler.sysfs_root).profile
    return choose_placement(config.compute, profile)


# -- message handlers -----------------------------------------------------------------------------
@app.query()
def hello(msg: Message, context: Context) -> Message:
    """Keep the experiment config in ``context.state``; answer with this node's partition and device."""
    ask = msg.content.config_records[INSTRUCTION]
    config_file = str(ask.get("config_file", ""))
    run_key = str(ask.get("run_key", ""))
    job = ClientJob.build(
        str(ask["config"]), str(ask["config_hash"]), str(ask["device"]), config_file, context.node_config, run_key
    )
    context.state[STATE_JOB] = config_record(
        {
            "config": str(ask["config"]),
            "config_hash": str(ask["config_hash"]),
            "device": str(ask["device"]),
            "config_file": config_file,
            "run_key": run_key,
        }
    )
    from edgebench.devices.detect import select_profile

    selection = select_profile(job.device, job.config.profiler.sysfs_root)
    placement = node_placement(job, selection.profile)
    answer = {
        "partition_id": job.node.partition_id,
        "num_partitions": job.node.num_partitions if job.node.num_partitions is not None else -1,
        "device_requested": job.device,
        "device_profile": selection.profile.name,
        "device_selection": json.dumps(selection.describe(), sort_keys=True, default=str),
        "compute": json.dumps(placement.describe(), sort_keys=True),
        "data_path": job.node.data_path or "",
        "state_dir": str(store.root) if (store := job.state_store()) is not None else "",
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "edgebench_version": edgebench.__version__,
        "torch_version": torch.__version__,
        "flwr_version": _flwr_version(),
    }
    return Message(RecordDict({NODE: config_record(answer)}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One client round: decode, train, encode inside the profiler; reply with uplink + measurements."""
    job = ClientJob.from_state(context)
    ask = msg.content.config_records[INSTRUCTION]
    if str(ask["config_hash"]) != job.config_hash:
        raise ClientSetupError("the train message is for another experiment config than this node's hello")
    label, rnd, cid = str(ask["method"]), int(ask["round"]), int(ask["client_id"])
    if cid != job.node.partition_id:
        raise ClientSetupError(f"asked to train as client {cid}, but this node holds partition {job.node.partition_id}")
    blob_down = blob_of(msg.content, DOWNLINK)
    reply = run_round(job, label, rnd, cid, blob_down, context)
    return Message(reply, reply_to=msg)


def run_round(job: ClientJob, label: str, rnd: int, cid: int, blob_down: bytes, context: Context) -> RecordDict:
    """The client's round with the shared client step and measurement cells; returns the reply content."""
    from edgebench.profiler.setup import build_measurement

    config = job.config
    fed = config.federation
    train_settings = config.train_settings(label)  # the method's own lr, when it sets one (as in-process)
    runtime = client_runtime(job, label, cid, context.run_id)
    settings = config.profiler.model_copy(update={"idle_baseline_s": 0.0})  # no idle wait per message
    measurement = build_measurement(settings, job.device)
    measurement.host_sample_s = None  # no host-load samples per message (windows still measure contention)
    measurement.apply_torch_threads(job.node.torch_threads or config.device.torch_threads)  # else the profile's
    state_key = STATE_CLIENT + label
    store = job.state_store()
    client_state: Payload | None = None
    if store is not None:
        found = store.load(label, cid, rnd)
        client_state = found[1] if found is not None else None
    elif state_key in context.state.array_records:
        client_state = unpack_state(blob_of(context.state, state_key))
    measurement.start(log.info)
    try:
        batches = client_batches(fed, config.seed, rnd, cid, runtime.indices, runtime.tokens, runtime.rows)
        result = run_client_round(
            runtime.client,
            runtime.model,
            blob_down,
            batches,
            train_settings,
            client_state,
            measurement.profiler,
            fed.wire_dtype,
        )
        measured = result.measurement(len(blob_down), measurement)
    finally:
        measurement.close()
    if result.fit.client_state is not None:
        if store is not None:  # on disk, atomically: survives a node restart and a server resume
            store.save(label, cid, rnd, result.fit.client_state)
        else:
            context.state[state_key] = blob_record(pack_state(result.fit.client_state))
    metrics, text = measurement_to_records(measured)
    metrics["num_examples"] = len(runtime.indices)
    text["method"] = label
    text["round"] = str(rnd)
    text["client_id"] = str(cid)
    text["client_device"] = measurement.profile.name
    return RecordDict({UPLINK: blob_record(result.uplink), METRICS: metrics, MEASUREMENTS: text})


def _flwr_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("flwr")
    except metadata.PackageNotFoundError:  # pragma: no cover - flwr is imported above
        return "unknown"
