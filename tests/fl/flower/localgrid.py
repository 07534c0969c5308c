"""A Flower ``Grid`` test double: runs the ClientApp synchronously in this process.

One ``Context`` per virtual node (its ``state`` survives between messages, as on a SuperNode); no
processes, no Ray, no network. Hooks let a test drop, break or tamper with replies.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid

from edgebench.fl.flower.compat import empty_run, set_task_identity

Tamper = Callable[[Message, Message], Message | None]


class LocalGrid(Grid):
    """`node_configs[i]` is the node config of node id ``100 + i``."""

    def __init__(self, client_app, node_configs: list[dict], run_id: int = 4242) -> None:
        self.client_app = client_app
        self.contexts = {
            100 + i: Context(run_id=run_id, node_id=100 + i, node_config=dict(cfg), state=RecordDict(), run_config={})
            for i, cfg in enumerate(node_configs)
        }
        self.offline: set[int] = set()
        self.hang_on_train: set[int] = set()  # nodes that take train messages but never answer
        self.tamper: Tamper | None = None
        self._replies: dict[str, Message] = {}
        self._run = empty_run(run_id)
        set_task_identity(run_id, SUPERLINK_NODE_ID)
        self.pushed: list[Message] = []

    def set_run(self, run) -> None:
        self._run = run

    @property
    def run(self):
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        return Message(content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl)

    def get_node_ids(self) -> Iterable[int]:
        return [n for n in self.contexts if n not in self.offline]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = str(uuid4())
            self.pushed.append(msg)
            ids.append(msg.metadata.message_id)
            node = msg.metadata.dst_node_id
            if node in self.offline or (node in self.hang_on_train and msg.metadata.message_type == "train"):
                continue
            try:
                reply = self.client_app(message=msg, context=self.contexts[node])
            except Exception as exc:  # what flwr-clientapp does with an exception
                traceback.print_exc()
                reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=repr(exc)), reply_to=msg)
            if self.tamper is not None:
                reply = self.tamper(msg, reply)
            if reply is not None:
                self._replies[msg.metadata.message_id] = reply
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        ids = list(self.push_messages(messages))
        time.sleep(0)
        return list(self.pull_messages(ids))
