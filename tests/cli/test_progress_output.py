"""A long command is never silent without a terminal: a first line within seconds, then a line per round."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

#: The issue's promise: something printed within 5 s of the command's start.
FIRST_LINE_S = 5.0


def test_run_through_a_pipe_prints_at_once_and_a_line_per_round(write_config, tmp_path: Path) -> None:
    config = write_config({"federation": {"rounds": 3}, "methods": [{"method": "lora", "r": 4}]})
    out = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgebench.cli", "run", str(config), "--out", str(out)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[tuple[float, str]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # each line as it comes: when it was printed, not when the run ended
            lines.append((time.monotonic() - started, line.rstrip("\n")))
        assert proc.wait(timeout=300) == 0, "\n".join(text for _, text in lines)
    finally:
        if proc.poll() is None:
            proc.kill()
    texts = [text for _, text in lines]
    first_s, first = lines[0]
    assert first_s < FIRST_LINE_S, f"first line after {first_s:.1f} s: {first!r}"
    assert first.startswith("edgebench run"), texts  # the plan, or the heartbeat while torch loads
    plan = f"edgebench run {config}: 1 method (lora) x 3 rounds x 2 of 4 clients x 2 steps"
    assert any(text.startswith(plan) for text in texts), texts
    rounds = [i for i, text in enumerate(texts) if text.startswith("[lora] round ") and " accuracy " in text]
    assert [texts[i].split()[2] for i in rounds] == ["1/3", "2/3", "3/3"], texts
    assert "\r" not in "".join(texts), "no live bar without a terminal"
    assert texts[-1] == f"results: {out}"
    assert first_s < lines[rounds[0]][0], "the first line came before any training finished"
