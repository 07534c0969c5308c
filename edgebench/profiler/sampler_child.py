"""The sampler process: ``python -m edgebench.profiler.sampler_child --spec JSON --out FILE --rate-hz R``.

Runs apart from the training process (a thread would lose its rate whenever the trainer holds the GIL).
It rebuilds the power meter (or a value reader, such as RAPL's wrap watcher) from its JSON spec, prints
one JSON status line on stdout (``ready`` with the channel names, or ``error`` with the reason), and
appends fixed-size little-endian records ``(monotonic_ns: int64, channel values: float64...)`` to FILE
at the requested rate, the first of them before ``ready``. A power meter's channels are ``power_w``
then ``rail:<name>``; a value reader's are ``value:<name>``. A failed read is recorded as NaN and its
message written to stderr as ``<monotonic_ns>\\t<message>``. It stops when its standard input closes
(the profiler closed it, or the profiler's process died). Records are stamped by :func:`stamp_ns`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import selectors
import struct
import sys
import time

from edgebench.meters.base import PowerMeter, ValueReader
from edgebench.meters.registry import reader_from_spec

MEMINFO_CHANNELS = ("mem_available_bytes", "nvmap_bytes")


def record_format(channels: int) -> str:
    """struct format of one record with `channels` float64 values."""
    return "<q" + "d" * channels


def _meminfo(path: str) -> tuple[float, float]:
    avail = nvmap = math.nan
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = float(line.split()[1]) * 1024
                elif line.startswith("NvMapMemUsed:"):
                    nvmap = float(line.split()[1]) * 1024
    except OSError:
        pass
    return avail, nvmap


def stamp_ns(meter: PowerMeter | ValueReader, before_ns: int, after_ns: int) -> int:
    """The stamp of a reading taken between `before_ns` and `after_ns`.

    A self-paced meter's is when it returned (it waited for fresh data); a power meter's is midway. A value
    reader's (raw counters) is when the read began: a reading stamped after some instant was then taken
    after it, so the parent, which reads the same counters at window edges and keeps only watcher readings
    stamped after its own, never takes an older value for a newer one (a counter that seems to step back
    reads as a wrap, or as implausible). Midway, a read stalled by the scheduler could be stamped after an
    edge read that it preceded.
    """
    if meter.self_paced:
        return after_ns
    if isinstance(meter, ValueReader):
        return before_ns
    return (before_ns + after_ns) // 2


def _first_read(meter: PowerMeter | ValueReader) -> tuple[list[str], list[float]]:
    """The channel names (rails, or values) and the first record's values."""
    if isinstance(meter, PowerMeter):
        rails = meter.read_rails_w()
        return list(rails), [meter.total_w(rails), *rails.values()]
    values = meter.read_values()
    return list(values), list(values.values())


def _read(meter: PowerMeter | ValueReader, names: list[str]) -> list[float]:
    """One record's values, in channel order (a rail missing from this reading is NaN)."""
    if isinstance(meter, PowerMeter):
        rails = meter.read_rails_w()
        return [meter.total_w(rails), *(rails.get(r, math.nan) for r in names)]
    values = meter.read_values()
    return [values.get(name, math.nan) for name in names]


def _append(fd: int, fmt: str, stamp: int, values: list[float], meminfo: str | None) -> None:
    """Append one record: its monotonic-ns stamp, the channel values, then meminfo's when asked for."""
    os.write(fd, struct.pack(fmt, stamp, *values, *(_meminfo(meminfo) if meminfo else ())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edgebench.profiler.sampler_child")
    parser.add_argument("--spec", required=True, help="JSON spec of the power meter")
    parser.add_argument("--out", required=True, help="file to append records to")
    parser.add_argument("--rate-hz", type=float, required=True)
    parser.add_argument("--meminfo", help="also sample MemAvailable/NvMapMemUsed from this meminfo file")
    args = parser.parse_args(argv)

    try:
        meter = reader_from_spec(json.loads(args.spec))
        meter.probe()
        before = time.monotonic_ns()
        names, first = _first_read(meter)
        first_stamp = stamp_ns(meter, before, time.monotonic_ns())
    except Exception as exc:  # any failure here is reported to the parent, which labels the meter unavailable
        print(json.dumps({"status": "error", "reason": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 3
    if isinstance(meter, PowerMeter):
        channels = ["power_w", *(f"rail:{r}" for r in names)]
    else:
        channels = [f"value:{name}" for name in names]
    if args.meminfo:
        channels += MEMINFO_CHANNELS
    fmt = record_format(len(channels))
    # the first record is on file before `ready`: a window the parent opens right after start() then always
    # has a reading to hold from, however late this process is scheduled next
    fd = -1
    try:
        fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _append(fd, fmt, first_stamp, first, args.meminfo)
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        meter.close()
        print(json.dumps({"status": "error", "reason": f"cannot write {args.out}: {exc}"}), flush=True)
        return 3
    ready = {
        "status": "ready",
        "pid": os.getpid(),
        "channels": channels,
        "record_format": fmt,
        "update_interval_s": meter.update_interval_s,
        "scope": meter.scope,
        "source": meter.source,
    }
    print(json.dumps(ready), flush=True)

    selector = selectors.DefaultSelector()
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ)
    period_s = 1.0 / args.rate_hz
    last_error = ""
    next_t = time.monotonic()
    try:
        while True:
            if meter.self_paced:
                timeout = 0.0
            else:
                next_t += period_s
                now = time.monotonic()
                if next_t < now:  # fell behind (slow read): do not burst to catch up
                    next_t = now
                timeout = next_t - now
            if selector.select(timeout=timeout) and not os.read(sys.stdin.fileno(), 4096):
                break
            # any bytes on stdin also just continue; EOF (b"") stops
            before = time.monotonic_ns()
            try:
                values = _read(meter, names)
                last_error = ""
            except Exception as exc:  # a mid-run failure becomes a NaN sample plus a message
                values = [math.nan] * (len(names) + (1 if isinstance(meter, PowerMeter) else 0))
                message = f"{type(exc).__name__}: {exc}"
                if message != last_error:
                    sys.stderr.write(f"{time.monotonic_ns()}\t{message}\n")
                    sys.stderr.flush()
                    last_error = message
            _append(fd, fmt, stamp_ns(meter, before, time.monotonic_ns()), values, args.meminfo)
    finally:
        os.close(fd)
        meter.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised as a separate process by the tests
    sys.exit(main())
