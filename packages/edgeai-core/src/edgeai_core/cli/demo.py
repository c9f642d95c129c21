"""``edgeai demo``: the whole road on bundled data, one row per variant that installed plugins contribute.

Each distinct dataset+model pair is trained once; every variant then runs as an ordinary pipeline with the
checkpoint handed over as ``model.checkpoint``, writing ``OUTPUT/<variant>/results.json``. Variants whose
components are missing are skipped with the reason; a failed variant does not stop the others. The machinery
(plan, train once, run) is :mod:`edgeai_core.variants`, shared with ``edgeai matrix``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from edgeai_core.cli.info import _table, echo_json, folder_option
from edgeai_core.cli.outputs import RUN_FILES, claim_output, explicit_output, force_option, remember_output
from edgeai_core.errors import EdgeaiError, UsageError
from edgeai_core.summarycsv import csv_option, rows_from_results, write_summary_csv

DEMO_BENCHMARK = {"warmup": 50, "min_count": 1000, "min_duration_s": 1.0}
DEMO_TASKS = ("classification", "detection", "segmentation")
#: what `edgeai demo` runs without --task or --only (the vision variants add minutes: they are opt-in)
DEFAULT_TASKS = ("classification",)
INSTALL_HINT = "pip install plugins that contribute variants (in a checkout: `nox -s demo` installs them all)"


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for
    from edgeai_core.cli.completion import complete_demo_variant

    @cli.command("demo")
    @folder_option(
        "-o",
        "--output",
        default=Path("build/demo"),
        show_default=True,
        help="Root folder; each variant writes OUTPUT/<variant>/results.json. The default folder is replaced "
        "on each run; a folder given with -o that holds results needs --force.",
    )
    @click.option(
        "--only",
        multiple=True,
        metavar="VARIANT",
        help="Run only these variants (repeatable).",
        shell_complete=complete_demo_variant,
    )
    @click.option(
        "--task",
        "tasks",
        multiple=True,
        type=click.Choice(DEMO_TASKS),
        help="Run the variants of this task (repeatable; a variant's task is its dataset's). Default: "
        "classification only; the detection and segmentation variants train their own models and run with "
        "--task detection / --task segmentation (or --only).",
    )
    @click.option("--list", "list_only", is_flag=True, help="List the installed variants and exit.")
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value in every variant, e.g. --set benchmark.min_count=200.",
    )
    @force_option
    @click.option(
        "--json", "as_json", is_flag=True, help="Print the summary (or the --list listing) as JSON."
    )
    @csv_option("variant")
    @click.pass_context
    def demo_cmd(
        ctx: click.Context,
        output: Path,
        only: tuple[str, ...],
        tasks: tuple[str, ...],
        list_only: bool,
        overrides: tuple[str, ...],
        force: bool,
        as_json: bool,
        csv_path: str | None,
    ) -> None:
        """Train the demo model on bundled data, optimize and compile it every way the installed plugins
        can, benchmark each variant on this machine and print one comparison table.

        Nothing is downloaded. Without --output, results go to build/demo/<variant>/results.json and a
        machine-readable summary to build/demo/summary.json.
        """
        from edgeai_core.progress import StreamProgress
        from edgeai_core.variants import Variant, plan_variants, run_planned, train_shared

        host = host_for(ctx)
        variants = host.demo_variants()
        if not variants:
            raise UsageError(f"no demo variants are installed; {INSTALL_HINT}")
        task_of = {v.name: variant_task(host, v.config) for v in variants}
        if tasks or not (only or list_only):  # --only alone runs the named variants whatever their task
            wanted = set(tasks or DEFAULT_TASKS)
            variants = [v for v in variants if task_of[v.name] in wanted]
            if not variants:
                raise UsageError(
                    f"--task: no installed demo variant has task {', '.join(sorted(wanted))}; see edgeai demo --list"
                )
        if list_only:
            if as_json:
                echo_json(
                    [
                        {
                            "variant": v.name,
                            "task": task_of[v.name],
                            "provider": v.provider,
                            "summary": v.summary,
                        }
                        for v in variants
                    ]
                )
                return
            listing = [[v.name, task_of[v.name], v.provider, v.summary] for v in variants]
            click.echo(_table(listing, ["variant", "task", "provider", "summary"]))
            return
        if only:
            known = {v.name for v in variants}
            for name in only:
                if name not in known:
                    from edgeai_core.errors import UnknownComponentError

                    raise UnknownComponentError("demo variant", name, known, "--only")
            variants = [v for v in variants if v.name in only]

        if explicit_output(ctx):
            claim_output(output, force=force, names=("summary.json", *RUN_FILES), nested=True, ctx=ctx)
        remember_output(output, ctx)
        progress = StreamProgress()
        planned, rows = plan_variants(
            host,
            [
                Variant(v.name, v.summary, v.config, serve=v.serve, unavailable=v.unavailable)
                for v in variants
            ],
            overrides=overrides,
            benchmark=DEMO_BENCHMARK,
            progress=progress,
        )
        if not planned:
            raise UsageError(f"no demo variant can run with the installed plugins; {INSTALL_HINT}")
        checkpoints = train_shared(host, planned, output / "_trained", progress)

        started = time.perf_counter()
        rows += run_planned(
            host,
            planned,
            output,
            checkpoints,
            progress=progress,
            command=["edgeai", *sys.argv[1:]],
            start_target=lambda runtime, folder: start_target(runtime, folder, progress),
            stop_target=stop_target,
        )
        failed = any(r["status"] == "failed" for r in rows)
        rows.sort(key=lambda r: [v.name for v in variants].index(r["variant"]))
        summary = {"output": str(output), "duration_s": time.perf_counter() - started, "variants": rows}
        guidance = _guidance(rows)
        summary["guidance"] = guidance
        reports = [str(p) for p in _demo_finished(host, output, rows, progress)]
        summary["reports"] = reports
        from edgeai_core.artifacts import write_json_atomic

        write_json_atomic(output / "summary.json", summary)
        if csv_path is not None:
            write_summary_csv(
                csv_path, rows_from_results((r["variant"], r.get("results"), r["status"]) for r in rows)
            )
        if as_json:
            echo_json(summary)
        elif csv_path != "-":
            table = [
                [
                    r["variant"],
                    r["status"],
                    _fmt(r["accuracy"], ".4f") if r["accuracy"] is not None else _quality(r),
                    _fmt(r["median_us"], ".1f"),
                    _fmt(r["p99_us"], ".1f"),
                    r.get("validity") or "-",
                    _fmt(r["size_bytes"] and r["size_bytes"] / 1024, ".1f"),
                    r["note"][:70],
                ]
                for r in rows
            ]
            noisy = [r["variant"] for r in rows if r.get("validity") == "noisy"]
            if noisy:  # first (on stderr): the latency columns of these rows are not to be trusted
                click.echo(
                    f"NOISY: {', '.join(noisy)} measured while the machine was busy or unstable; "
                    "see validity in their results.json",
                    err=True,
                )
            header = ["variant", "status", "accuracy", "median us", "p99 us", "validity", "size KiB", "note"]
            click.echo(_table(table, header))
            for note in guidance:
                click.echo(f"note: {note}")
            click.echo(f"results: {output}/<variant>/results.json; summary: {output / 'summary.json'}")
            for report in reports:
                click.echo(f"report: {report} (open it in a browser)")
        if failed:
            raise EdgeaiError("some demo variants failed; their results.json files say where")


def variant_task(host: Any, config: Any) -> str:
    """A variant's task: its dataset's (``classification`` when the dataset is not installed)."""
    name = (config.get("dataset") or {}).get("name") if isinstance(config, dict) else None
    try:
        return str(getattr(host.get("dataset", str(name)), "task", "classification") or "classification")
    except EdgeaiError:
        return "classification"


def _quality(row: dict[str, Any]) -> str:
    """A detection/segmentation row's primary metric ("mAP@[.5:.95] 0.4210", "mIoU 0.8012"), or "-"."""
    path = Path(row["results"]) if row.get("results") else None
    if path is None or not path.is_file():
        return "-"
    import json

    from edgeai_core.tasks import PRIMARY_LABEL, primary_metric

    try:
        primary = primary_metric(json.loads(path.read_text(encoding="utf-8")).get("quality"))
    except (OSError, ValueError, AttributeError):
        return "-"
    return "-" if primary is None else f"{PRIMARY_LABEL.get(primary[0], primary[0])} {primary[1]:.4f}"


def _guidance(rows: list[dict[str, Any]]) -> list[str]:
    """One line per variant much slower than the fastest float one (:mod:`edgeai_core.guidance`)."""
    import json

    from edgeai_core.guidance import slow_build_notes

    documents = []
    for row in rows:
        path = Path(row["results"]) if row.get("results") else None
        if path is not None and path.is_file():
            try:
                documents.append((str(row["variant"]), json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue
    return slow_build_notes(documents)


def _demo_finished(host: Any, output: Path, rows: list[dict[str, Any]], progress: Any) -> list[Path]:
    """Hand the variants' results to plugins implementing ``edgeai_demo_finished`` (a report plugin renders
    the comparison); return the files they wrote. A failing hook is a warning: the runs are done and kept."""
    results = [Path(r["results"]) for r in rows if r["results"] and Path(r["results"]).is_file()]
    paths: list[Path] = []
    for plugin in host.implementers("edgeai_demo_finished"):
        progress.stage(f"finishing the demo with plugin '{plugin.name}'")
        try:
            finished = host.call_plugin(
                "edgeai_demo_finished", plugin.name, output_dir=output, results=results
            )
            paths += [Path(p) for p in finished or []]
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            logging.getLogger(__name__).warning(
                "plugin '%s' failed in edgeai_demo_finished: %s", plugin.name, reason
            )
    return paths


def start_target(
    runtime: str, folder: Path, progress: Any, timeout_s: float = 120.0
) -> tuple[Any, dict[str, Any]]:
    """Start a local ``edgeai serve`` for ``runtime`` in ``folder``; return its handle and ``[target]`` table."""
    from edgeai_core.target_server import start_local_server

    progress.stage(f"starting a local target: edgeai serve --protocol tcp --runtime {runtime}")
    server = start_local_server(runtime, folder, timeout_s=timeout_s)
    progress.done(f"listening on {server.address} (pid {server.pid})")
    return server, server.target_table()


def stop_target(server: Any) -> None:
    """Stop a target started by :func:`start_target` (it exits by itself after one session)."""
    server.stop()
