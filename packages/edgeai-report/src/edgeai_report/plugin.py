"""Registration of edgeai-report (entry point ``report`` in the ``edgeai`` group).

Adds the ``edgeai report`` command and renders the comparison report at the end of ``edgeai demo``. Nothing
here imports matplotlib: the command imports the renderer when it runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from edgeai_core import hookimpl

if TYPE_CHECKING:
    import click

log = logging.getLogger(__name__)

#: where the demo's report goes, inside the demo's output folder
DEMO_REPORT_DIR = "report"


@hookimpl
def edgeai_register_commands(cli: click.Group) -> None:
    from edgeai_report.command import report_cmd

    cli.add_command(report_cmd)


@hookimpl
def edgeai_demo_finished(output_dir: Path, results: list[Path]) -> list[Path]:
    """Render the comparison of every demo variant that wrote results; return the HTML page to open."""
    from edgeai_report.render import render_report

    existing = [Path(p) for p in results if Path(p).is_file()]
    if not existing:
        return []
    result = render_report(
        existing,
        Path(output_dir) / DEMO_REPORT_DIR,
        title="edgeai demo: every variant compared",
        formats=("html", "md"),
    )
    return [result.files["html"]]


@hookimpl
def edgeai_sweep_finished(output_dir: Path, results: list[Path], title: str) -> list[Path]:
    """Render the comparison of every run of a sweep that wrote results; return the HTML page to open."""
    from edgeai_report.render import render_report

    existing = [Path(p) for p in results if Path(p).is_file()]
    if not existing:
        return []
    result = render_report(existing, Path(output_dir) / DEMO_REPORT_DIR, title=title, formats=("html", "md"))
    return [result.files["html"]]
