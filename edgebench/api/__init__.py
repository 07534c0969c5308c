"""The public profiler API: measure your own training loop with edgebench's device profiles, meters and records.

``import edgebench`` exposes these names lazily (``edgebench.Monitor``); see docs/api.md.
"""

from edgebench.api.monitor import MeterNotAvailable, Monitor
from edgebench.api.record import CALLER_CELLS, WINDOW_CSV_COLUMNS, WindowMeasurement, append_window_rows

__all__ = [
    "CALLER_CELLS",
    "WINDOW_CSV_COLUMNS",
    "MeterNotAvailable",
    "Monitor",
    "WindowMeasurement",
    "append_window_rows",
]
