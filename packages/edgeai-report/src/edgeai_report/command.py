"""The ``edgeai report`` command (registered by :mod:`edgeai_report.plugin`).

This module imports click and the core only: matplotlib and numpy are imported when the command runs, so
``edgeai --help`` and ``edgeai plugins`` stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgeai_core.api import UsageError, csv_option, folder_option


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [part.strip() for part in value.split(",")]
    if any(not name for name in names):
        raise UsageError(f"--names: empty name in '{value}'; give one comma-separated name per results file")
    return names


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder for the report files (report.html, report.md, report.rst) and img/.",
)
@click.option("--title", default=None, help="Report title (default: from the run names).")
@click.option(
    "--format",
    "formats",
    default="html,md,rst",
    show_default=True,
    help="Comma-separated formats: html (self-contained page), md (Markdown), rst (reStructuredText).",
)
@click.option(
    "--names",
    default=None,
    metavar="A,B,...",
    help="Comma-separated display names, one per results file (default: each run's name).",
)
@folder_option("--img-dir", default=None, help="Folder for the PNG and SVG plots (default: OUTPUT/img).")
@folder_option(
    "--root-dir",
    default=None,
    help="Root of a docs tree (Sphinx source folder): RST image paths become /-rooted relative to it.",
)
@click.option(
    "--baseline",
    default=None,
    metavar="NAME",
    help="Run the per-stage deltas compare against (default: the first float run of each dataset and model).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes drawing plots (default: automatic, up to 4).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the written files and plots as JSON.")
@csv_option("run")
def report_cmd(
    results: tuple[Path, ...],
    output: Path,
    title: str | None,
    formats: str,
    names: str | None,
    img_dir: Path | None,
    root_dir: Path | None,
    baseline: str | None,
    jobs: int | None,
    as_json: bool,
    csv_path: str | None,
) -> None:
    """Render plots and a report from RESULTS (results.json files or run folders).

    One file gives a single-run report; several give a comparison report: latency distributions side by
    side, accuracy against latency and model size, per-stage deltas (float, quantized, compiled), then every
    run in detail. Failed and interrupted runs are shown with their error and the data they recorded.
    A progress file (results.partial.jsonl) of a crashed run is accepted too.
    """
    from edgeai_report.render import render_report

    result = render_report(
        list(results),
        output,
        title=title,
        formats=formats,
        names=_names(names),
        img_dir=img_dir,
        root_dir=root_dir,
        baseline=baseline,
        jobs=jobs,
    )
    if csv_path is not None:
        _write_csv(csv_path, list(results), _names(names))
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    for run, verdict in result.validity.items():
        if verdict == "noisy":  # first: the report's latency numbers for this run are not to be trusted
            click.echo(f"note: {run} is a noisy run (see its validity banner in the report)", err=True)
    if csv_path == "-":
        return
    for part, run, reason in result.left_out:
        click.echo(f"note: {run} left out of {part}: {reason}", err=True)
    kind = f"comparison of {len(result.runs)} runs" if result.kind == "comparison" else "report"
    click.echo(
        f"{kind}: {len(result.plots)} plots in {result.plots[0].png.parent if result.plots else output}"
    )
    for fmt, path in result.files.items():
        click.echo(f"{fmt}: {path}")
    if "html" in result.files:
        click.echo(f"open {result.files['html'].resolve().as_uri()}")


def _write_csv(path: str, results: list[Path], names: list[str] | None) -> None:
    """One row per run (``edgeai_core.summarycsv``), the road being the run's display name."""
    from edgeai_core.api import summary_row, write_summary_csv
    from edgeai_report.load import load_runs

    runs = load_runs(results, names)
    write_summary_csv(path, [summary_row(run.name, run.doc, run.path) for run in runs])
