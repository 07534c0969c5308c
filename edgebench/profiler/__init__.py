"""Measurement windows with provenance around every client phase."""

from edgebench.profiler.windows import NO_METER, Profiler, WindowRecord

__all__ = ["NO_METER", "Profiler", "WindowRecord"]
