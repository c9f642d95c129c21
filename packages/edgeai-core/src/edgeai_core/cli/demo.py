"""``edgeai demo``: the whole road on bundled data, one row per variant that installed plugins contribute.

Each distinct dataset+model pair is trained once; every variant then runs as an ordinary pipeline with the
checkpoint handed over as ``model.checkpoint``, writing ``OUTPUT/<variant>/results.json``. Variants whose
components are missing are skipped with the reason; a failed variant does not stop the others.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from edgeai_core.cli.info import _table, echo_json
from edgeai_core.errors import EdgeaiError, UsageError

DEMO_BENCHMARK = {"warmup": 50, "min_count": 1000, "min_duration_s": 1.0}
INSTALL_HINT = (
    "pip install ./packages/edgeai-datasets ./packages/edgeai-torch ./packages/edgeai-onnx "
    "(or run `nox -s demo`)"
)


def _train_key(config: dict[str, Any]) -> str:
    return json.dumps(
        {"dataset": config["dataset"], "model": config["model"], "seed": config.get("seed", 0)},
        sort_keys=True,
        default=str,
    )


def _row(name: str, status: str, doc: dict[str, Any] | None, note: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {
        "variant": name,
        "status": status,
        "note": note,
        "accuracy": None,
        "median_us": None,
        "p99_us": None,
        "size_bytes": None,
        "results": None,
    }
    if doc:
        stats = (doc.get("latency") or {}).get("stats") or {}
        quality = doc.get("quality") or {}
        row["accuracy"] = quality.get("accuracy")
        row["median_us"] = stats["median"] / 1e3 if "median" in stats else None
        row["p99_us"] = stats["p99"] / 1e3 if "p99" in stats else None
        loads = [s for s in doc.get("steps", []) if s.get("kind") == "runtime-load" and s.get("artifact")]
        row["size_bytes"] = loads[-1]["artifact"]["size_bytes"] if loads else None
    return row


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for

    @cli.command("demo")
    @click.option(
        "-o",
        "--output",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("build/demo"),
        show_default=True,
        help="Root folder; each variant writes OUTPUT/<variant>/results.json.",
    )
    @click.option("--only", multiple=True, metavar="VARIANT", help="Run only these variants (repeatable).")
    @click.option("--list", "list_only", is_flag=True, help="List the installed variants and exit.")
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value in every variant, e.g. --set benchmark.min_count=200.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
    @click.pass_context
    def demo_cmd(
        ctx: click.Context,
        output: Path,
        only: tuple[str, ...],
        list_only: bool,
        overrides: tuple[str, ...],
        as_json: bool,
    ) -> None:
        """Train the demo model on bundled data, optimize and compile it every way the installed plugins
        can, benchmark each variant on this machine and print one comparison table.

        Nothing is downloaded. Without --output, results go to build/demo/<variant>/results.json and a
        machine-readable summary to build/demo/summary.json.
        """
        from edgeai_core.config import apply_overrides, parse_config
        from edgeai_core.planner import plan_pipeline
        from edgeai_core.progress import StreamProgress
        from edgeai_core.runner import LocalRunner

        host = host_for(ctx)
        variants = host.demo_variants()
        if not variants:
            raise UsageError(f"no demo variants are installed; {INSTALL_HINT}")
        if list_only:
            listing = [[v.name, v.provider, v.summary] for v in variants]
            click.echo(_table(listing, ["variant", "provider", "summary"]))
            return
        if only:
            known = {v.name for v in variants}
            for name in only:
                if name not in known:
                    from edgeai_core.errors import UnknownComponentError

                    raise UnknownComponentError("demo variant", name, known, "--only")
            variants = [v for v in variants if v.name in only]

        progress = StreamProgress()
        rows: list[dict[str, Any]] = []
        planned = []
        for variant in variants:
            raw = copy.deepcopy(dict(variant.config))
            raw.setdefault("name", variant.name)
            raw.setdefault("benchmark", dict(DEMO_BENCHMARK))
            raw = apply_overrides(raw, overrides)
            try:
                plan_pipeline(parse_config(raw), host)
            except EdgeaiError as exc:
                rows.append(_row(variant.name, "skipped", None, str(exc)))
                progress.stage(f"{variant.name}: skipped ({exc})")
                continue
            planned.append((variant, raw))
        if not planned:
            raise UsageError(f"no demo variant can run with the installed plugins; {INSTALL_HINT}")

        checkpoints: dict[str, Path] = {}
        for _variant, raw in planned:
            key = _train_key(raw)
            if key in checkpoints:
                continue
            checkpoints[key] = _train(
                host, raw, output / "_trained" / f"{len(checkpoints):02d}-{raw['model']['name']}", progress
            )

        started = time.perf_counter()
        failed = False
        for variant, raw in planned:
            raw["model"] = {**raw["model"], "checkpoint": str(checkpoints[_train_key(raw)])}
            progress.stage(f"variant {variant.name}: {variant.summary}")
            plan = plan_pipeline(parse_config(raw), host)
            runner = LocalRunner(
                plan, output / variant.name, host=host, progress=progress, command=["edgeai", *sys.argv[1:]]
            )
            try:
                doc = runner.run()
                row = _row(variant.name, "complete", doc)
            except EdgeaiError as exc:
                failed = True
                doc = json.loads((output / variant.name / "results.json").read_text(encoding="utf-8"))
                row = _row(variant.name, "failed", doc, str(exc))
            row["results"] = str(output / variant.name / "results.json")
            rows.append(row)
        rows.sort(key=lambda r: [v.name for v in variants].index(r["variant"]))
        summary = {"output": str(output), "duration_s": time.perf_counter() - started, "variants": rows}
        from edgeai_core.artifacts import write_json_atomic

        write_json_atomic(output / "summary.json", summary)
        if as_json:
            echo_json(summary)
        else:
            table = [
                [
                    r["variant"],
                    r["status"],
                    _fmt(r["accuracy"], ".4f"),
                    _fmt(r["median_us"], ".1f"),
                    _fmt(r["p99_us"], ".1f"),
                    _fmt(r["size_bytes"] and r["size_bytes"] / 1024, ".1f"),
                    r["note"][:70],
                ]
                for r in rows
            ]
            click.echo(
                _table(table, ["variant", "status", "accuracy", "median us", "p99 us", "size KiB", "note"])
            )
            click.echo(f"results: {output}/<variant>/results.json; summary: {output / 'summary.json'}")
        if failed:
            raise EdgeaiError("some demo variants failed; their results.json files say where")


def _train(host: Any, raw: dict[str, Any], workdir: Path, progress: Any) -> Path:
    """Train the model of ``raw`` on its dataset once; return the checkpoint path."""
    from edgeai_core.components import Context

    workdir.mkdir(parents=True, exist_ok=True)
    context = Context(workdir=workdir, seed=raw.get("seed", 0), progress=progress)
    dataset_cfg = {k: v for k, v in raw["dataset"].items() if k != "name"}
    model_cfg = {k: v for k, v in raw["model"].items() if k not in ("name", "checkpoint")}
    dataset = host.get("dataset", raw["dataset"]["name"]).create(
        dataset_cfg, where="dataset", context=context
    )
    model = host.get("model", raw["model"]["name"]).create(model_cfg, where="model", context=context)
    progress.stage(
        f"training {raw['model']['name']} on {raw['dataset']['name']} (once, shared by its variants)"
    )
    dataset.prepare()
    started = time.perf_counter()
    artifact = model.train(dataset)
    progress.done(f"{artifact.path.name}, {artifact.size_bytes} bytes, {time.perf_counter() - started:.1f} s")
    return Path(artifact.path)
