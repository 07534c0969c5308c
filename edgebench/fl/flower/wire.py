"""What edgebench puts into Flower messages, and how it is read back. Never pickle.

- A payload travels as our codec's bytes (the safetensors blob whose length is ``bytes_down`` /
  ``bytes_up``), carried verbatim as the ``data`` of a single ``Array`` (``stype="safetensors"``,
  ``dtype="uint8"``) in an ``ArrayRecord``.
- The client's measurements travel as Flower metrics: numeric cells in a ``MetricRecord``, text cells
  (provenance, flags) in a ``ConfigRecord``; an unmeasured cell is simply absent (never a zero).
- Flower's own size of a message is ``sum(record.count_bytes())`` over its records (what the contract
  reports as ``flower_bytes_down`` / ``flower_bytes_up``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from safetensors.torch import save as st_save

from edgebench.fl.codec import META_KEY, decode
from edgebench.methods.base import Payload
from edgebench.results import ClientMeasurement

# Record keys (RecordDict) and their contents.
INSTRUCTION = "edgebench"  # ConfigRecord: what the server asks (action, method, round, client id, config hash)
DOWNLINK = "downlink"  # ArrayRecord: {"payload": blob}
UPLINK = "uplink"  # ArrayRecord: {"payload": blob}
METRICS = "metrics"  # MetricRecord: numeric measurement cells (+ num_examples)
MEASUREMENTS = "measurements"  # ConfigRecord: text measurement cells + echo of method/round/client id
NODE = "node"  # ConfigRecord: a node's answer to the hello query
PAYLOAD_KEY = "payload"
BLOB_STYPE = "safetensors"

# Context.state keys on a node.
STATE_JOB = "edgebench.job"
STATE_CLIENT = "edgebench.client-state."


class ReplyError(ValueError):
    """A reply whose records are missing or malformed (it is rejected, never averaged)."""


def blob_record(blob: bytes) -> ArrayRecord:
    """An ArrayRecord holding `blob` as the data of one uint8 Array (no copy into numpy, no pickle)."""
    return ArrayRecord({PAYLOAD_KEY: Array(dtype="uint8", shape=(len(blob),), stype=BLOB_STYPE, data=bytes(blob))})


def blob_of(content: RecordDict, key: str) -> bytes:
    """The blob carried under `key` in a message's content; ReplyError when absent or malformed."""
    if key not in content.array_records:
        raise ReplyError(f"no {key!r} ArrayRecord in the message")
    record = content.array_records[key]
    if PAYLOAD_KEY not in record:
        raise ReplyError(f"the {key!r} ArrayRecord has no {PAYLOAD_KEY!r} array")
    array = record[PAYLOAD_KEY]
    if array.stype != BLOB_STYPE or array.dtype != "uint8":
        raise ReplyError(f"the {key!r} array is {array.stype}/{array.dtype}, expected {BLOB_STYPE}/uint8")
    if tuple(array.shape) != (len(array.data),):
        raise ReplyError(f"the {key!r} array claims shape {tuple(array.shape)} but holds {len(array.data)} bytes")
    return bytes(array.data)


def flower_bytes(message: Message) -> int | None:
    """Flower's own count of a message's content: the sum of ``count_bytes()`` over its records.

    None for an error reply, or when Flower cannot count a record (its ``ConfigRecord.count_bytes``
    raises on an empty string, which is why edgebench never puts one into a record).
    """
    if not message.has_content():
        return None
    try:
        return sum(record.count_bytes() for record in message.content.values())
    except ValueError:
        return None


def config_record(values: Mapping[str, Any]) -> ConfigRecord:
    """A ConfigRecord of `values` without None or empty strings (absent = not set)."""
    return ConfigRecord({k: v for k, v in values.items() if v is not None and v != ""})


def measurement_to_records(measurement: ClientMeasurement) -> tuple[MetricRecord, ConfigRecord]:
    """A client's measurement as Flower metrics (numbers) and text; unmeasured cells are left out."""
    metrics: dict[str, int | float] = {}
    text: dict[str, str] = {}
    for key, value in measurement.cells().items():
        if value is None:
            continue
        if isinstance(value, bool):
            metrics[key] = int(value)
        elif isinstance(value, int | float):
            metrics[key] = value
        elif value:
            text[key] = str(value)
    return MetricRecord(metrics), ConfigRecord(text)


def records_to_measurement(metrics: Mapping[str, Any], text: Mapping[str, Any]) -> ClientMeasurement:
    """A client's measurement back from a reply's records (absent = not measured; other keys ignored)."""
    return ClientMeasurement.from_cells({**text, **metrics})


def pack_state(state: Payload) -> bytes:
    """A client's method state as a lossless safetensors blob (dtypes kept, unlike the wire codec)."""
    tensors = {name: t.detach().cpu().contiguous() for name, t in state.tensors.items()}
    meta = json.dumps(state.meta, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return st_save(tensors, metadata={META_KEY: meta})


def unpack_state(blob: bytes) -> Payload:
    """Inverse of :func:`pack_state`."""
    return decode(blob)
