"""Pushing messages to SuperNodes and pulling their replies within a deadline, with liveness checks.

Flower's own ``Grid.send_and_receive`` polls until every reply arrives or a timeout passes; a device
that dies mid-round would hold the round for the whole timeout. :func:`exchange` also stops waiting
for a destination as soon as Flower no longer lists its SuperNode as online.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flwr.app import Message
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid

POLL_S = 0.25
LIVENESS_CHECK_S = 2.0


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
        if now - last_liveness >= LIVENESS_CHECK_S:
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
