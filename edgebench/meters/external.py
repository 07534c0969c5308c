"""An external power log: a CSV of (timestamp, watts) written by a USB meter or an INA219/INA226 logger.

The file may still be growing while the run reads it. Timestamps are wall-clock: Unix seconds
(``1714000000.25``) or ISO-8601 (``2024-04-25T10:00:00.250+00:00``; without a zone, local time).
A header row is optional; with one, the columns named ``timestamp``/``time``/``ts`` and
``watts``/``power_w``/``power``/``w`` are used (or the names given), without one the first two columns.
``clock_offset_s`` is added to the logger's timestamps to put them on this machine's clock.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
from pathlib import Path
from typing import Any

from edgebench.meters.base import Meter, MeterOptions, MeterReadError, MeterUnavailable

TIME_NAMES = ("timestamp", "time", "ts", "t", "unix_time")
WATT_NAMES = ("watts", "power_w", "power", "w", "p_w")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_FRACTION = re.compile(r"([T ]\d{2}:\d{2}:\d{2})[.,](\d+)")


def _iso_for_fromisoformat(text: str) -> str:
    """`text` in the ISO-8601 subset Python 3.10's ``fromisoformat`` reads (3.11 reads more): ``Z`` as
    ``+00:00`` and the fraction of a second with exactly 6 digits (padded, or cut below a microsecond)."""
    text = text.replace("Z", "+00:00")
    return _FRACTION.sub(lambda m: f"{m.group(1)}.{(m.group(2) + '000000')[:6]}", text)


def parse_timestamp_ns(text: str) -> int:
    """Wall-clock nanoseconds since the epoch from Unix seconds or an ISO-8601 string (ValueError if neither)."""
    text = text.strip()
    try:
        seconds = decimal.Decimal(text)
    except decimal.InvalidOperation:
        seconds = None
    if seconds is not None and seconds.is_finite():
        return int(seconds * 1_000_000_000)
    stamp = dt.datetime.fromisoformat(_iso_for_fromisoformat(text))
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # the logger's local time
    return (stamp - _EPOCH) // dt.timedelta(microseconds=1) * 1000


class ExternalPowerLog(Meter):
    """Reads (wall-clock ns, watts) samples from a CSV file, incrementally."""

    name = "external"
    provenance = "measured-sampled"

    def __init__(
        self,
        path: str | Path,
        scope: str,
        clock_offset_s: float = 0.0,
        timestamp_column: str | None = None,
        watts_column: str | None = None,
        update_interval_s: float | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.scope = scope
        self.clock_offset_ns = round(clock_offset_s * 1e9)
        self._time_col_name, self._watt_col_name = timestamp_column, watts_column
        self._cols: tuple[int, int] | None = None
        self._offset = 0
        self._line_no = 0
        self.update_interval_s = update_interval_s
        self.source = f"external CSV power log {self.path}"

    @classmethod
    def from_options(cls, options: MeterOptions) -> ExternalPowerLog:
        if not options.external_log:
            raise MeterUnavailable("no external power log configured (profiler.external_log)")
        scope = options.external_scope or "external meter (scope not stated)"
        return cls(options.external_log, scope, options.external_clock_offset_s)

    def probe(self) -> None:
        if not self.path.is_file():
            raise MeterUnavailable(f"external power log {self.path} does not exist")
        try:
            self.read_new()
        except MeterReadError as exc:
            raise MeterUnavailable(str(exc)) from exc
        finally:  # probing validates the file; the samples are read again by whoever uses the log
            self._offset, self._line_no, self._cols = 0, 0, None

    def _columns(self, row: list[str]) -> tuple[tuple[int, int], bool]:
        """Column indices, and whether `row` is a header."""
        lowered = [c.strip().lower() for c in row]
        try:
            parse_timestamp_ns(row[0])
            float(row[1])
            is_header = False
        except (ValueError, IndexError):
            is_header = True
        if not is_header:
            if self._time_col_name or self._watt_col_name:
                raise MeterReadError(f"{self.path}: column names were given but the file has no header row")
            return (0, 1), False

        def find(wanted: str | None, names: tuple[str, ...], what: str) -> int:
            options = (wanted.lower(),) if wanted else names
            for name in options:
                if name in lowered:
                    return lowered.index(name)
            raise MeterReadError(f"{self.path}: header has no {what} column (expected one of {', '.join(options)})")

        return (
            find(self._time_col_name, TIME_NAMES, "timestamp"),
            find(self._watt_col_name, WATT_NAMES, "watts"),
        ), True

    def read_new(self) -> tuple[list[int], list[float]]:
        """Samples appended since the previous call: (wall-clock ns on this machine's clock, watts).

        A last line without its newline (the logger is mid-write) is left for the next call.
        """
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError as exc:
            raise MeterReadError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        end = chunk.rfind(b"\n")
        if end < 0:
            return [], []
        complete = chunk[: end + 1]
        times: list[int] = []
        watts: list[float] = []
        for row in csv.reader(io.StringIO(complete.decode("utf-8", errors="replace"))):
            self._line_no += 1
            if not row or not "".join(row).strip():
                continue
            if self._cols is None:
                self._cols, is_header = self._columns(row)
                if is_header:
                    continue
            ti, wi = self._cols
            try:
                t_ns = parse_timestamp_ns(row[ti]) + self.clock_offset_ns
            except (ValueError, IndexError) as exc:
                raise MeterReadError(
                    f"{self.path}:{self._line_no}: expected a timestamp (Unix seconds or ISO-8601) in column "
                    f"{ti + 1} (got {row[ti] if ti < len(row) else 'nothing'!r})"
                ) from exc
            try:
                w = float(row[wi])
            except (ValueError, IndexError) as exc:
                raise MeterReadError(
                    f"{self.path}:{self._line_no}: expected watts (a number) in column {wi + 1} "
                    f"(got {row[wi] if wi < len(row) else 'nothing'!r})"
                ) from exc
            times.append(t_ns)
            watts.append(w)
        self._offset += len(complete)
        return times, watts

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["path"] = str(self.path)
        out["clock_offset_s"] = self.clock_offset_ns / 1e9
        return out
