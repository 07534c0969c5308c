"""A warm ClientApp worker: one long-lived process per SuperNode runs every message of every run.

Flower's default (``--isolation subprocess``) starts a fresh ``flwr-clientapp`` process for each
message, so each round on each device pays process start-up, the imports of torch and transformers,
model construction and data loading again (seconds on a laptop, several times that on a Raspberry Pi).
Flower 1.42 lets a SuperNode run with ``--isolation process``: it then launches nothing itself and
hands each message, as a *task*, to whichever process asks for it on its Runtime API. This module is
that process. It is Flower's own task protocol, driven through Flower's own client functions
(``AcquireTask`` to claim a task and its token, then ``pull_task_input`` / ``push_message`` /
``push_task_output`` of :mod:`flwr.supernode.runtime.run_clientapp`, with the same task heartbeat),
with one difference from ``flwr-clientapp``: the process stays, so edgebench's ClientApp keeps its
per-process caches (imports, the method's model, the tokenized partition) from message to message.
After the hello query it also builds the first method's model and the client's data, before the first
train message arrives.

It serves edgebench's ClientApp only: a task whose Flower App names another ``clientapp`` component is
answered with Flower's ``LOAD_CLIENT_APP_EXCEPTION`` error, never run. ``edgebench client`` starts it
next to the SuperNode (``--cold`` restores Flower's per-message processes); see docs/flower.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("edgebench.flower.warm")

#: Seconds between two ``AcquireTask`` polls of the SuperNode's Runtime API while idle.
DEFAULT_POLL_S = 0.05


class WarmWorkerError(RuntimeError):
    """The worker cannot serve this SuperNode (wrong address, Flower without process isolation)."""


@dataclass
class TaskOutcome:
    """What one task did (for the log and for tests)."""

    task_id: int
    message_type: str
    group_id: str
    seconds: float
    error: str | None = None


def fab_clientapp(fab_content: bytes) -> str | None:
    """The ``clientapp`` component a Flower App Bundle names (None when it names none)."""
    from flwr.common.config import get_fab_config

    config = get_fab_config(fab_content)
    components = config.get("tool", {}).get("flwr", {}).get("app", {}).get("components", {})
    value = components.get("clientapp")
    return str(value) if value else None


class WarmWorker:
    """Claims ClientApp tasks from one SuperNode's Runtime API and runs them in this process."""

    def __init__(
        self,
        runtime_api_address: str,
        insecure: bool = True,
        root_certificates: bytes | None = None,
        poll_s: float = DEFAULT_POLL_S,
        prewarm: bool = True,
    ) -> None:
        from flwr.supercore.interceptors import RuntimeVersionHttpInterceptor
        from flwr.supercore.retry import make_simple_http_retry_invoker
        from flwr.supercore.runtime import RuntimeHttpClient

        from edgebench.fl.flower import client_app  # the ClientApp and its caches, imported once

        self.client_app = client_app
        self.address = runtime_api_address
        self.insecure = insecure
        self.root_certificates = root_certificates
        self.poll_s = poll_s
        self.prewarm = prewarm
        self.tasks_done = 0
        self._client = RuntimeHttpClient.from_server_address(
            server_address=runtime_api_address,
            insecure=insecure,
            root_certificates=root_certificates,
            interceptors=[RuntimeVersionHttpInterceptor(component_name="SuperExec")],
            retry_invoker=make_simple_http_retry_invoker(),
        )

    def acquire(self) -> tuple[str, Any] | None:
        """Claim the oldest pending ClientApp task: (token, task), or None when there is none."""
        from flwr.proto.runtime_pb2 import AcquireTaskRequest
        from flwr.supercore.constant import TaskType

        res = self._client.AcquireTask(AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP]))
        if res.HasField("task") and res.token:
            return res.token, res.task
        return None

    def serve(self, stop: Callable[[], bool] = lambda: False, max_tasks: int | None = None) -> int:
        """Poll for tasks and run them until `stop()` is true (or `max_tasks` ran); returns tasks run."""
        while not stop() and (max_tasks is None or self.tasks_done < max_tasks):
            try:
                claimed = self.acquire()
            except Exception as exc:  # the SuperNode's Runtime API is not up yet, or restarting
                log.warning("no SuperNode Runtime API at %s yet (%s); retrying", self.address, exc)
                time.sleep(max(self.poll_s, 1.0))
                continue
            if claimed is None:
                time.sleep(self.poll_s)
                continue
            token, task = claimed
            outcome = self.run_task(token, int(task.task_id))
            self.tasks_done += 1
            status = f"failed: {outcome.error}" if outcome.error else "done"
            log.info(
                "task %d (%s %s): %s in %.2f s",
                outcome.task_id,
                outcome.message_type,
                outcome.group_id,
                status,
                outcome.seconds,
            )
        return self.tasks_done

    def run_task(self, token: str, task_id: int) -> TaskOutcome:
        """One task, as ``flwr-clientapp`` runs it, but in this process: pull, run, push reply and context."""
        from flwr.app import Error, Message
        from flwr.common.constant import ErrorCode, SubStatus
        from flwr.supercore.heartbeat import HeartbeatSender, make_task_heartbeat_fn_http
        from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
        from flwr.supercore.retry import make_simple_http_retry_invoker
        from flwr.supercore.runtime import RuntimeHttpClient
        from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

        from edgebench.fl.flower.project import CLIENT_COMPONENT

        started = time.monotonic()
        client = RuntimeHttpClient.from_server_address(
            server_address=self.address,
            insecure=self.insecure,
            root_certificates=self.root_certificates,
            interceptors=[
                RuntimeVersionHttpInterceptor(component_name="flwr-clientapp"),
                RuntimeTokenHttpInterceptor(token),
            ],
            retry_invoker=make_simple_http_retry_invoker(),
        )
        heartbeat = HeartbeatSender(make_task_heartbeat_fn_http(client))
        outcome = TaskOutcome(task_id, "?", "", 0.0)
        message = context = reply = None
        sub_status, details = SubStatus.FAILED, "ClientApp task failed"
        try:
            heartbeat.start()
            message, context, _run, fab = pull_task_input(client)
            outcome.message_type = str(message.metadata.message_type)
            outcome.group_id = str(message.metadata.group_id)
            component = fab_clientapp(fab.content)
            if component != CLIENT_COMPONENT:
                reason = (
                    f"this SuperNode runs edgebench's warm ClientApp ({CLIENT_COMPONENT}) only; the Flower App "
                    f"names clientapp {component!r} (start the SuperNode without the warm worker for other apps)"
                )
                reply = Message(Error(code=ErrorCode.LOAD_CLIENT_APP_EXCEPTION, reason=reason), reply_to=message)
                outcome.error = reason
                details = reason
            else:
                try:
                    reply = self.client_app.app(message=message, context=context)
                    sub_status, details = SubStatus.COMPLETED, ""
                except Exception as exc:  # what flwr-clientapp does with a ClientApp's exception
                    log.exception("the ClientApp raised an exception")
                    reason = f"{type(exc)}:<'{exc}'>"
                    reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)
                    outcome.error = details = reason
        except Exception as exc:  # pulling the task failed: the SuperNode expires it (no reply to push)
            log.exception("task %d could not be pulled", task_id)
            outcome.error = details = f"pulling the task failed: {exc}"
        finally:
            try:
                if reply is not None and context is not None:
                    push_message(client, reply, context)
            except Exception as exc:
                log.exception("task %d: pushing the reply failed", task_id)
                outcome.error = outcome.error or f"pushing the reply failed: {exc}"
                sub_status = SubStatus.FAILED
            push_task_output(client=client, context=context, sub_status=sub_status, details=details)
            if heartbeat.is_running:
                heartbeat.stop()
            client.close()
        outcome.seconds = time.monotonic() - started
        if self.prewarm and outcome.error is None and outcome.message_type == "query" and context is not None:
            self._prewarm(context)
        return outcome

    def _prewarm(self, context: Any) -> None:
        """After the hello query: build the first method's model and this client's data now, not in round 1."""
        started = time.monotonic()
        try:
            label = self.client_app.prewarm(context)
        except Exception:  # the train message reports any real problem; this is only a head start
            log.exception("prewarming failed (the first train message will build what it needs)")
            return
        if label is not None:
            log.info("prewarmed model %r and the client's data in %.2f s", label, time.monotonic() - started)

    def close(self) -> None:
        self._client.close()


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m edgebench.fl.flower.warm",
        description="Serve a SuperNode started with --isolation process: run edgebench's ClientApp for every "
        "message in this one process (started by `edgebench client`; see docs/flower.md).",
    )
    parser.add_argument("--runtime-api-address", required=True, help="the SuperNode's Runtime API, host:port")
    parser.add_argument("--parent-pid", type=int, help="exit when this process (the SuperNode) ends")
    parser.add_argument("--poll-s", type=float, default=DEFAULT_POLL_S, help="seconds between task polls when idle")
    parser.add_argument("--no-prewarm", action="store_true", help="do not build model and data after the hello")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: serve until SIGTERM / SIGINT or until the parent SuperNode exits."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s edgebench warm worker: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per Runtime API request otherwise

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(0)  # a task cut short is a dropout on the server, as for a cold ClientApp

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)
    if args.parent_pid is not None:
        _watch_parent(args.parent_pid)
    started = time.monotonic()
    worker = WarmWorker(args.runtime_api_address, poll_s=args.poll_s, prewarm=not args.no_prewarm)
    log.info(
        "ready in %.1f s (pid %d): serving ClientApp tasks of the SuperNode at %s",
        time.monotonic() - started,
        os.getpid(),
        args.runtime_api_address,
    )
    try:
        worker.serve()
    finally:
        worker.close()
    return 0


def _watch_parent(pid: int, every_s: float = 0.5) -> None:
    """SIGTERM this process once `pid` (the SuperNode) is gone (a thread; the handler runs in the main thread)."""

    def watch() -> None:
        while _alive(pid):
            time.sleep(every_s)
        log.info("the SuperNode (pid %d) ended; stopping", pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="edgebench-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    raise SystemExit(main())
