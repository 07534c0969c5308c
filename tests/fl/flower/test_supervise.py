"""``edgebench client``'s supervisor and the warm worker's checks, with stand-in processes (no Flower nodes)."""

from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from edgebench.fl.flower.supervise import Supervisor


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _supervisor(supernode: list[str], worker: list[str] | None = None, **kw) -> tuple[Supervisor, list[str]]:
    lines: list[str] = []
    sup = Supervisor(supernode, worker, dict(os.environ), "test", poll_s=0.02, log=lines.append, **kw)
    return sup, lines


def test_without_reconnect_the_supernodes_exit_status_is_the_clients() -> None:
    sup, lines = _supervisor(_py("import sys; sys.exit(5)"), _py("import time; time.sleep(60)"))
    started = time.monotonic()
    assert sup.run() == 5
    assert time.monotonic() - started < 30  # the worker was stopped, not waited for
    assert any("SuperNode exited with 5; stopping" in line for line in lines)


def test_a_worker_that_dies_stops_a_node_that_would_never_train() -> None:
    sup, lines = _supervisor(_py("import time; time.sleep(60)"), _py("import sys; sys.exit(0)"))
    assert sup.run() == 1
    assert any("warm worker exited with 0" in line for line in lines)


def test_reconnect_restarts_the_supernode_with_doubling_backoff(tmp_path: Path) -> None:
    # Each start appends a line; the node "is refused" three times, then stays up until SIGTERM.
    starts = tmp_path / "starts"
    code = (
        f"import sys, time; p = {str(starts)!r}; open(p, 'a').write('x'); "
        "n = len(open(p).read()); sys.exit(3) if n <= 3 else time.sleep(60)"
    )
    sup, lines = _supervisor(_py(code), reconnect=True, backoff_min_s=0.05, backoff_max_s=0.1, grace_s=0.5)

    def stop_when_up() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not starts.exists() or len(starts.read_text()) < 4):
            time.sleep(0.05)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_up, daemon=True).start()
    assert sup.run() == 128 + signal.SIGTERM
    assert len(starts.read_text()) == 4
    waits = [line for line in lines if "starting it again in" in line]
    assert [w.rsplit("in ", 1)[1] for w in waits] == ["0.05 s", "0.1 s", "0.1 s"]  # doubled, capped
    assert sup.children[0].exits == [3, 3, 3]


def test_a_signal_the_whole_group_got_is_not_sent_twice(tmp_path: Path) -> None:
    # A second SIGTERM would kill a SuperNode (Flower restores the default handler after the first) before
    # it leaves the federation; the child here counts the SIGTERMs it gets and takes 1 s to shut down.
    seen = tmp_path / "sigterms"
    code = (
        "import signal, time, sys\n"
        f"def on(s, f): open({str(seen)!r}, 'a').write('x')\n"
        "signal.signal(signal.SIGTERM, on)\n"
        f"while not __import__('os').path.exists({str(seen)!r}): time.sleep(0.02)\n"
        "time.sleep(1.0); sys.exit(0)\n"
    )
    sup, _ = _supervisor(_py(code), grace_s=5.0)

    def group_signal() -> None:  # what Ctrl-C or `kill -- -PGID` does: child and supervisor both get it
        while sup.children[0].proc is None:
            time.sleep(0.02)
        time.sleep(0.3)
        sup.children[0].proc.send_signal(signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=group_signal, daemon=True).start()
    assert sup.run() == 128 + signal.SIGTERM
    assert seen.read_text() == "x"


def _fab(pyproject: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as fab:
        fab.writestr("pyproject.toml", pyproject)
    return buffer.getvalue()


def test_the_warm_worker_reads_which_clientapp_an_app_names() -> None:
    pytest.importorskip("flwr")
    from edgebench.fl.flower.project import CLIENT_COMPONENT, pyproject_text
    from edgebench.fl.flower.warm import fab_clientapp

    assert fab_clientapp(_fab(pyproject_text())) == CLIENT_COMPONENT
    other = pyproject_text().replace(CLIENT_COMPONENT, "someone.else:app")
    assert fab_clientapp(_fab(other)) == "someone.else:app"
