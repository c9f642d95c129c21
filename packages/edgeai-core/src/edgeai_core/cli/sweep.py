"""``edgeai sweep SWEEP_FILE -o DIR``: every combination of a sweep file's axes, compiled once per chain, run on
its device one at a time, resumable (:mod:`edgeai_core.sweep`, :mod:`edgeai_core.executors`)."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import click

from edgeai_core.cli.info import echo_json
from edgeai_core.errors import UsageError


def _eta(done: int, total: int, started: float) -> str:
    if done == 0 or done >= total:
        return ""
    left = (time.monotonic() - started) / done * (total - done)
    return f", about {left:.0f} s left" if left < 120 else f", about {left / 60:.0f} min left"


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for

    @cli.command("sweep")
    @click.argument("sweep_file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option(
        "-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
        help="The sweep folder (sweep.json, runs/, compile/, cache/, summary.*). Rerunning into it resumes.",
    )  # fmt: skip
    @click.option(
        "--executor", default="local", show_default=True, help="Where jobs run (`edgeai list executor`)."
    )
    @click.option(
        "--set-executor", "executor_params", multiple=True, metavar="KEY=VALUE",
        help="A parameter of the executor (repeatable), e.g. --set-executor address=127.0.0.2:6379.",
    )  # fmt: skip
    @click.option(
        "--jobs", type=click.IntRange(min=1), default=None,
        help="Compile jobs at once (default: the CPUs this process may use).",
    )  # fmt: skip
    @click.option(
        "--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
        help="The step cache folder (default DIR/cache); share one between sweeps to reuse their compiles.",
    )  # fmt: skip
    @click.option(
        "--retry-failed", is_flag=True, help="Run again the runs a previous sweep into DIR left failed."
    )
    @click.option(
        "--dry-run", is_flag=True, help="Print the runs, their devices and the shared compiles; run nothing."
    )
    @click.option(
        "--json", "as_json", is_flag=True, help="Print the plan (--dry-run) or the summary as JSON."
    )
    @click.pass_context
    def sweep_cmd(
        ctx: click.Context,
        sweep_file: Path,
        output: Path,
        executor: str,
        executor_params: tuple[str, ...],
        jobs: int | None,
        cache: Path | None,
        retry_failed: bool,
        dry_run: bool,
        as_json: bool,
    ) -> None:
        """Run every combination of SWEEP_FILE's axes (a base pipeline config, axes, exclude/include rules and
        named targets). Each chain (dataset, model, steps) is compiled once; each device runs one benchmark at
        a time; completed runs are skipped when the command is run again into the same folder.

        `edgeai sweep sweep.toml -o build/sweep`
        """
        from edgeai_core.config import apply_overrides, parse_config
        from edgeai_core.planner import plan_pipeline
        from edgeai_core.sweep import SweepBook, load_sweep

        host = host_for(ctx)
        plan = load_sweep(sweep_file)
        for run in plan.runs:  # every run must plan before anything runs: exit 2 naming the run
            try:
                plan_pipeline(parse_config(run.config), host)
            except Exception as exc:
                raise UsageError(f"{sweep_file}: run {run.id} ({run.label}): {exc}") from None
        record = host.get("executor", executor)
        params = apply_overrides({}, [f"x.{p}" if "=" in p else p for p in executor_params]).get("x", {})
        if dry_run:
            if as_json:
                echo_json(plan.to_json())
                return
            click.echo(f"sweep {plan.name}: {len(plan.runs)} runs, {len(plan.chains)} compiles, "
                       f"{len(plan.devices)} device(s), executor {executor}")  # fmt: skip
            for chain, runs in plan.chains.items():
                click.echo(f"compile {chain}: shared by {len(runs)} run(s)")
            for run in plan.runs:
                click.echo(f"  {run.id}  {run.device:<16} {run.chain}  {run.label}")
            return

        output.mkdir(parents=True, exist_ok=True)
        cache_root = (cache or output / "cache").resolve()
        book = SweepBook(output.resolve(), plan)
        previous = book.load_previous()
        todo = []
        for run in plan.runs:
            before = previous.get(run.id, {})
            attempts = int(before.get("attempts") or 0)
            status = str(before.get("status") or "planned")
            keep = status == "complete" or (status == "failed" and not retry_failed)
            if keep:
                book.state[run.id].update(
                    {k: before.get(k) for k in ("status", "attempts", "folder", "error")}
                )
            else:
                book.state[run.id]["attempts"] = attempts
                todo.append(run)
        book.write()
        _execute(host, record, params, plan, book, todo, output.resolve(), cache_root, jobs)

        from edgeai_core.sweep import write_summary

        json_path, csv_path, summary = write_summary(output.resolve(), plan, book)
        results = [Path(r["results"]) for r in summary["runs"] if r.get("results")]
        pages = _finished(host, output.resolve(), results, f"edgeai sweep {plan.name}")
        counts = summary["counts"]
        if as_json:
            echo_json({**summary, "summary_json": str(json_path), "summary_csv": str(csv_path),
                       "report": [str(p) for p in pages]})  # fmt: skip
        else:
            click.echo(
                f"sweep {plan.name}: {counts['complete']} complete, {counts['failed']} failed, "
                f"{counts['interrupted']} interrupted, {counts['planned']} not run; {csv_path}"
            )
            for page in pages:
                click.echo(f"report: {page}")
        if counts["failed"] or counts["interrupted"] or counts["planned"]:
            ctx.exit(1)


def _execute(
    host: Any, record: Any, params: dict[str, Any], plan: Any, book: Any, todo: list[Any],
    output: Path, cache_root: Path, jobs: int | None,
) -> None:  # fmt: skip
    from edgeai_core.components import Context
    from edgeai_core.executors import Job, Outcome, SweepExecution, stop_workers

    chains = {run.chain for run in todo}
    compiles = [
        Job("compile", chain, next(r.config for r in plan.runs if r.chain == chain), output / "compile" / chain,
            cache_root, "host", f"compile {chain}")
        for chain in sorted(chains)
    ]  # fmt: skip
    run_jobs = []
    for run in todo:
        attempt = int(book.state[run.id]["attempts"]) + 1
        folder = output / "runs" / (run.id if attempt == 1 else f"{run.id}.{attempt}")
        run_jobs.append(Job("run", run.id, run.config, folder, cache_root, run.device, run.label, run.chain))
    total = len(run_jobs)
    started_at = time.monotonic()
    lock = threading.Lock()
    done = {"n": 0}

    def started(job: Job) -> None:
        if job.kind == "run":
            book.update(job.id, status="running", folder=str(job.folder),
                        attempts=int(book.state[job.id]["attempts"]) + 1, submitted_at=time.time())  # fmt: skip
        else:
            book.compile_update(job.id, status="running", folder=str(job.folder), submitted_at=time.time())
        click.echo(f"[{job.device}] {job.kind} {job.id}: {job.label}", err=True)

    def finished(job: Job, outcome: Outcome) -> None:
        # started_at/finished_at: when the job itself ran (where it ran), not when it was handed over
        facts = {"status": outcome.status, "error": outcome.error, "started_at": outcome.started_at or None,
                 "finished_at": outcome.finished_at, "where": outcome.where}  # fmt: skip
        if job.kind == "compile":
            book.compile_update(job.id, **facts)
            click.echo(f"[{job.device}] compile {job.id}: {outcome.status}"
                       + (f": {outcome.error}" if outcome.error else ""), err=True)  # fmt: skip
            return
        book.update(job.id, folder=str(job.folder), **facts)
        with lock:
            done["n"] += 1
            n = done["n"]
        counts = book.counts()
        click.echo(
            f"[{n}/{total} done, {counts['running']} running, {counts['failed']} failed{_eta(n, total, started_at)}] "
            f"{job.id} on {job.device}: {outcome.status}" + (f": {outcome.error}" if outcome.error else ""),
            err=True,
        )

    workers = jobs or max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    execution = SweepExecution(compiles, run_jobs, started, finished, workers)
    context = Context(workdir=output, seed=0)
    executor = record.create(params, where="executor", context=context)
    failure: list[BaseException] = []

    def execute() -> None:
        try:
            executor.execute(execution)
        except BaseException as exc:  # raised again in the main thread: one line, the runs so far kept
            failure.append(exc)

    thread = threading.Thread(target=execute, name="sweep-executor", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except KeyboardInterrupt:
        execution.stopping.set()
        click.echo("interrupted: starting nothing new; asking running jobs to stop", err=True)
        stop_workers(execution)
        while thread.is_alive():
            try:
                thread.join(0.2)
            except KeyboardInterrupt:
                stop_workers(execution)
        for rid, entry in book.state.items():
            if entry["status"] == "running":
                book.update(rid, status="interrupted")
        book.write()
        raise
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
    if failure:
        for rid, entry in book.state.items():
            if entry["status"] == "running":
                book.update(rid, status="interrupted", error=f"the executor stopped: {failure[0]}")
        raise failure[0]


def _finished(host: Any, output: Path, results: list[Path], title: str) -> list[Path]:
    paths: list[Path] = []
    for plugin in host.implementers("edgeai_sweep_finished"):
        try:
            paths += [Path(p) for p in host.call_plugin(
                "edgeai_sweep_finished", plugin.name, output_dir=output, results=results, title=title
            ) or []]  # fmt: skip
        except Exception as exc:
            logging.getLogger(__name__).warning(
                "plugin '%s' failed in edgeai_sweep_finished: %s", plugin.name, exc
            )
    return paths
