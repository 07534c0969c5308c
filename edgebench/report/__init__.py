"""Report generator: combines run directories into HTML + Markdown reports, CSV tables and figures.

Reads only the results contract (docs/results-contract.md); nothing below edgebench.report imports it.
"""

from edgebench.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
