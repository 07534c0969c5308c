"""Progress: plain lines without a terminal, and a heartbeat so that long work is never silent."""

from __future__ import annotations

import io
import time

from edgebench.fl.progress import Progress, describe_plan


def _wait_for(stream: io.StringIO, text: str, timeout_s: float = 10.0) -> str:
    """The stream's contents once `text` appears in them (fails after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in stream.getvalue():
            return stream.getvalue()
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared; got {stream.getvalue()!r}")


def test_without_a_terminal_every_round_is_one_line() -> None:
    stream = io.StringIO()
    progress = Progress(stream=stream, interactive=False)
    progress.start_method("fedara", rounds=2, clients_per_round=3)
    for rnd in (1, 2):
        for index in (1, 2, 3):
            progress.client_done(rnd, index, 3, loss=1.0)
        progress.round_done(rnd, round_s=4.25, accuracy=0.5 * rnd, rejected=0)
    progress.end_method()
    assert stream.getvalue().splitlines() == [
        "[fedara] 2 rounds x 3 clients",
        "[fedara] round 1/2 4.2s accuracy 0.5000",
        "[fedara] round 2/2 4.2s accuracy 1.0000",
    ]


def test_the_heartbeat_says_what_is_going_on_when_nothing_else_was_printed() -> None:
    stream = io.StringIO()
    with Progress(stream=stream, interactive=False, heartbeat_s=0.3, first_heartbeat_s=0.1) as progress:
        progress.status("loading the model")
        first = _wait_for(stream, "loading the model (")
        assert first.splitlines()[0].startswith("loading the model (") and first.endswith(" s)\n")
        progress.start_method("lora", rounds=3, clients_per_round=2)
        progress.client_done(1, 1, 2, loss=0.7)
        _wait_for(stream, "[lora] round 1/3: 1/2 clients trained (")
        progress.client_done(1, 2, 2, loss=0.6)
        _wait_for(stream, "[lora] round 1/3: 2/2 clients trained; aggregating and evaluating (")
        progress.round_done(1, round_s=1.0, accuracy=None, rejected=0)
        _wait_for(stream, "[lora] round 2/3: training clients (")
    lines = stream.getvalue()
    time.sleep(0.5)
    assert stream.getvalue() == lines, "close() stops the heartbeat"


def test_the_heartbeat_waits_while_other_lines_keep_coming() -> None:
    stream = io.StringIO()
    with Progress(stream=stream, interactive=False, heartbeat_s=1.5, first_heartbeat_s=1.5) as progress:
        progress.status("working")
        for i in range(20):  # a line every 0.1 s for 2 s: never 1.5 s of silence
            progress.message(f"line {i}")
            time.sleep(0.1)
    assert "working (" not in stream.getvalue()


def test_no_heartbeat_unless_asked_and_none_when_quiet() -> None:
    plain, quiet = io.StringIO(), io.StringIO()
    with Progress(stream=plain, interactive=False), Progress(stream=quiet, quiet=True, heartbeat_s=0.1) as silent:
        silent.status("loading", announce=True)
        silent.message("hello")
        time.sleep(0.4)
    assert plain.getvalue() == "" and quiet.getvalue() == ""


def test_on_a_terminal_the_heartbeat_redraws_the_bar_instead_of_printing_lines() -> None:
    stream = io.StringIO()
    with Progress(stream=stream, interactive=True, heartbeat_s=0.2, first_heartbeat_s=0.2) as progress:
        progress.start_method("lora", rounds=1, clients_per_round=2)
        drawn = stream.getvalue()
        _wait_for(stream, drawn + "\r")  # tqdm redraws the line in place
        assert "clients trained" not in stream.getvalue()


def test_the_plan_line_names_methods_rounds_clients_and_work(write_config) -> None:
    from edgebench.config import load_config

    config = load_config(write_config({"federation": {"local_steps": None, "local_epochs": 2}}))
    assert describe_plan(config) == (
        "2 methods (lora, ffa_lora) x 3 rounds x 2 of 4 clients x 2 epochs; model tiny-bert, data ag_news_sample"
    )
