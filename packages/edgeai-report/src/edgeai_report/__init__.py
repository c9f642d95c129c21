"""edgeai-report: plots and HTML/Markdown/RST reports of edgeai runs, and comparisons of several runs.

``edgeai report RESULTS.json... --output DIR`` (the ``report`` plugin command) and :func:`render_report`
do the same thing. Importing this package imports nothing heavy (the plugin module is imported by every
``edgeai`` command): numpy and matplotlib come with the first use of the names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeai_report.load import ReportInputError
    from edgeai_report.render import FORMATS, ReportResult, render_report

__version__ = "0.1.0"

__all__ = ["FORMATS", "ReportInputError", "ReportResult", "__version__", "render_report"]

_LAZY = {
    "FORMATS": "edgeai_report.render",
    "ReportResult": "edgeai_report.render",
    "render_report": "edgeai_report.render",
    "ReportInputError": "edgeai_report.load",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgeai_report' has no attribute {name!r}")
