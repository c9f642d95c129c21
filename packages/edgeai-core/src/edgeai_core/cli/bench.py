"""``edgeai bench MODEL_FILE``: one command, one model file, latency percentiles (in the habits of TFLite's
``benchmark_model``, ONNX Runtime's ``perf_test`` and OpenVINO's ``benchmark_app``).

It writes the pipeline config such a run needs (the model component that loads the file, the runtime for its
format, the benchmark settings, the target) and runs it through the planner and the runner, so the results
folder holds the same ``results.json`` as ``edgeai run``.
"""

from __future__ import annotations

import csv
import io
import sys
import time
from pathlib import Path
from typing import Any

import click

from edgeai_core.cli.info import echo_json
from edgeai_core.cli.outputs import claim_output, force_option, remember_output
from edgeai_core.errors import UsageError
from edgeai_core.validity import verdict_line

#: The columns of ``--csv`` (one row per run) and the keys of the ``--json`` summary's latency part.
STATS = ("count", "mean", "std", "min", "p50", "p90", "p95", "p99", "max")
CSV_COLUMNS = (
    "model", "format", "runtime", "target", "batch", "warmup",
    *(f"{s}_ns" if s != "count" else s for s in STATS),
    "throughput_per_s", "accuracy", "status", "results",
)  # fmt: skip
RUNS = Path("runs")


def _target(text: str | None, token_file: Path | None) -> dict[str, Any] | None:
    if text is None:
        if token_file is not None:
            raise UsageError("--token-file: applies to a remote target; add --target HOST:PORT")
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--target: expected HOST:PORT (e.g. 192.168.1.20:7575), got {text!r}")
    table: dict[str, Any] = {"protocol": "tcp", "host": host.strip("[]"), "port": int(port)}
    if token_file is not None:
        table["token_file"] = str(token_file)
    return table


def _benchmark(
    warmup: int | None, count: int | None, duration: float | None, batch: int | None
) -> dict[str, Any]:
    """``--count`` alone: exactly that many runs; ``--duration`` alone: at least that long; both: at least
    both (the benchmark's min_count and min_duration_s); neither: the benchmark defaults."""
    table: dict[str, Any] = {}
    if warmup is not None:
        table["warmup"] = warmup
    if count is not None:
        table["min_count"] = count
        if duration is None:
            table.update(min_duration_s=0, max_count=count)
    if duration is not None:
        table["min_duration_s"] = duration
        if count is None:
            table["min_count"] = 1
    if batch is not None:
        table["batch_size"] = batch
    return table


def fresh_folder(stem: str, root: Path = RUNS) -> Path:
    """``runs/bench-<stem>-<UTC time>``, with ``-2``, ``-3``... where that folder exists already."""
    base = root / f"bench-{stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def _unit(ns: float) -> tuple[str, float]:
    return ("ms", 1e6) if ns >= 1e7 else ("us", 1e3)


def summary(doc: dict[str, Any], results: Path, facts: dict[str, Any]) -> dict[str, Any]:
    """The run in one flat mapping: what ``--json`` prints and ``--csv`` writes."""
    latency = doc.get("latency") or {}
    stats = latency.get("stats") or {}
    quality = doc.get("quality") or {}
    data: dict[str, Any] = {**facts, "status": doc.get("status"), "results": str(results)}
    data["count"] = stats.get("count")
    for key in STATS[1:]:
        data[f"{key}_ns"] = stats.get(key)
    data["throughput_per_s"] = latency.get("throughput_per_s")
    data["accuracy"] = quality.get("accuracy")
    data["validity"] = (doc.get("validity") or {}).get("verdict")
    data["validity_reasons"] = (doc.get("validity") or {}).get("reasons") or []
    target = latency.get("target")
    if isinstance(target, dict) and target.get("stats"):
        data["target_p50_ns"] = target["stats"].get("p50")
    if doc.get("profile"):
        from edgeai_core.profiling import profile_summary

        data["profile"] = profile_summary(doc["profile"])
    return data


def text_block(data: dict[str, Any]) -> str:
    """The summary as people read it: settings, then one statistic per line."""
    unit, scale = _unit(float(data.get("p50_ns") or 0))
    lines = [
        f"model       {data['model']} ({data['format']}, loaded by {data['model_component']})",
        f"runtime     {data['runtime']} on {data['target']}",
        f"inputs      {data['inputs']}",
        f"batch       {data['batch']}  (warm-up {data['warmup']} runs)",
        f"count       {data['count']}",
    ]
    for key in STATS[1:]:
        value = data.get(f"{key}_ns")
        if value is not None:
            lines.append(f"{key:<11} {value / scale:.2f} {unit}")
    if data.get("target_p50_ns") is not None:
        lines.append(
            f"{'p50 target':<11} {data['target_p50_ns'] / scale:.2f} {unit} (inference on the target)"
        )
    if data.get("throughput_per_s") is not None:
        lines.append(f"throughput  {data['throughput_per_s']:.1f} inferences/s")
    if data.get("accuracy") is not None:
        lines.append(f"accuracy    {data['accuracy']:.4f}")
    if data.get("profile"):
        from edgeai_core.profiling import profile_text

        lines.extend(profile_text(data["profile"]))
    lines.append(f"results     {data['results']}")
    return "\n".join(lines)


def write_csv(path: str, data: dict[str, Any]) -> None:
    """One row, with the header when the file is new or empty; ``-`` writes both to stdout."""
    row = {k: ("" if data.get(k) is None else data[k]) for k in CSV_COLUMNS}
    if path == "-":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerow(row)
        click.echo(buffer.getvalue(), nl=False)
        return
    target = Path(path)
    new = not target.exists() or target.stat().st_size == 0
    if not new:
        with target.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle), [])
        if tuple(header) != CSV_COLUMNS:
            raise UsageError(f"--csv: {target} has other columns; write to a new file")
    with target.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS, lineterminator="\n")
        if new:
            writer.writeheader()
        writer.writerow(row)


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for
    from edgeai_core.cli.completion import complete_component

    @cli.command("bench")
    @click.argument("model_file", metavar="MODEL_FILE", type=click.Path(path_type=Path))
    @click.option(
        "--runtime",
        help="Runtime to use (default: the installed one for the file's format).",
        shell_complete=complete_component("runtime"),
    )
    @click.option("--threads", type=click.IntRange(min=0), help="The runtime's threads parameter.")
    @click.option("--warmup", type=click.IntRange(min=0), help="Runs before measuring (default 10).")
    @click.option(
        "--count",
        type=click.IntRange(min=1),
        help="Measured runs: exactly this many, or at least this many with --duration (default 100).",
    )
    @click.option(
        "--duration",
        type=click.FloatRange(min=0),
        help="Measure for at least this many seconds (default 1; with --count: at least both).",
    )
    @click.option("--batch", type=click.IntRange(min=1), help="Samples per inference (default 1).")
    @click.option(
        "--inputs",
        type=click.Path(dir_okay=False, path_type=Path),
        help="An .npz file: one array per model input, keyed by its name, the first axis counting samples; "
        "optional 'labels' (class indices) add a quality evaluation. Default: synthetic inputs.",
    )
    @click.option("--target", "target", metavar="HOST:PORT", help="Run on a remote `edgeai serve` (TCP).")
    @click.option(
        "--token-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The shared secret of the remote target.",
    )
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Any value of the generated config, e.g. --set model.input_shape=[1,3,224,224] (repeatable).",
    )
    @click.option(
        "-o",
        "--output",
        type=click.Path(file_okay=False, path_type=Path),
        help="Results folder (default: a fresh runs/bench-<name>-<time>); one holding results needs --force.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the summary (or the plan) as JSON.")
    @click.option(
        "--csv", "csv_path", metavar="FILE", help="Append the summary as one CSV row ('-': stdout)."
    )
    @click.option(
        "--analyze",
        is_flag=True,
        help="Also analyse the model's complexity (parameters, MACs, peak activations) into results.json.",
    )
    @click.option("--dry-run", is_flag=True, help="Print the plan; load and run nothing.")
    @force_option
    @click.option(
        "--profile", is_flag=True, help="After the timed runs, profile per layer (benchmark.profile)."
    )
    @click.pass_context
    def bench_cmd(
        ctx: click.Context,
        model_file: Path,
        runtime: str | None,
        threads: int | None,
        warmup: int | None,
        count: int | None,
        duration: float | None,
        batch: int | None,
        inputs: Path | None,
        target: str | None,
        token_file: Path | None,
        overrides: tuple[str, ...],
        output: Path | None,
        as_json: bool,
        csv_path: str | None,
        analyze: bool,
        dry_run: bool,
        force: bool,
        profile: bool,
    ) -> None:
        """Benchmark MODEL_FILE: .onnx, .tflite, .keras, or any file with an edgeai sidecar (a compiled TVM
        library with its model.so.edgeai.json).

        Prints count, mean, std, min, p50, p90, p95, p99, max and throughput, and writes results.json like
        `edgeai run`. `edgeai bench model.onnx --count 2000 --threads 1`
        """
        from edgeai_core.config import apply_overrides, parse_config
        from edgeai_core.inputsources import InputSource, NpzInputs, SyntheticInputs
        from edgeai_core.modelfiles import choose_runtime, compile_first, identify
        from edgeai_core.planner import plan_pipeline

        host = host_for(ctx)
        found = identify(model_file, host)
        record, note = choose_runtime(host, found.format, found.model, runtime)
        if runtime is not None and not any(o.strip().startswith("steps") for o in overrides):
            compile_first(host, found.path, found.format, record)
        runtime_table: dict[str, Any] = {"name": record.name}
        if threads is not None:
            if "threads" not in {p.name for p in record.params}:
                raise UsageError(f"--threads: runtime {record.name} has no threads parameter")
            runtime_table["threads"] = threads
        model_table = found.model_table()
        check = next((p for p in found.model.params if p.name == "check"), None)
        if check is not None and "structure" in (check.choices or ()):
            # a one-shot benchmark reads the file's structure only (the runtime validates the graph when it
            # loads it), as benchmark_model and perf_test do; --set model.check=full runs the full checker
            model_table["check"] = "structure"
        config: dict[str, Any] = {
            "name": f"bench-{found.path.name}",
            # a one-shot benchmark leaves out the complexity analysis unless asked (ONNX's needs the onnx
            # package, whose import alone costs more than a small model's whole benchmark)
            "analysis": {"enabled": analyze},
            # the final runtime's own outputs are the fidelity reference when it runs the model's file here
            "fidelity": {"reuse_runtime": True},
            "model": model_table,
            "runtime": runtime_table,
            "benchmark": {
                **_benchmark(warmup, count, duration, batch),
                **({"profile": True} if profile else {}),
            },
        }
        remote = _target(target, token_file)
        if remote is not None:
            config["target"] = remote
        plan = plan_pipeline(parse_config(apply_overrides(config, overrides)), host)
        source: InputSource = SyntheticInputs() if inputs is None else NpzInputs.load(inputs)
        if found.artifact is not None and not plan.steps:  # the IO spec is known: check the inputs now
            source.batches(found.artifact.io, int(plan.benchmark["batch_size"]), plan.config.seed)
        if note is not None:
            click.echo(f"note: {note}", err=True)
        if output is not None:
            claim_output(output, force=force, ctx=ctx)
        folder = output if output is not None else fresh_folder(found.path.stem)
        remember_output(folder, ctx)
        facts = {
            "model": str(found.path),
            "format": found.format,
            "model_component": found.model.name,
            "runtime": plan.runtime.record.name,
            "target": remote_name(plan.config.raw.get("target")),
            "inputs": source.describe(),
            "batch": plan.benchmark["batch_size"],
            "warmup": plan.benchmark["warmup"],
        }
        if dry_run:
            if as_json:
                echo_json({**plan.to_json(), "bench": {**facts, "output": str(folder)}})
            else:
                click.echo("\n".join(plan.describe()))
                click.echo(f"inputs    {facts['inputs']}")
                click.echo(f"benchmark {_settings_text(plan.benchmark)}")
                click.echo(f"output    {folder}")
            return
        from edgeai_core.progress import StreamProgress
        from edgeai_core.runner import Runner

        runner = Runner(
            plan,
            folder,
            host=host,
            progress=StreamProgress(),
            command=["edgeai", *sys.argv[1:]],
            inputs=source,
        )
        doc = runner.run()
        data = summary(doc, runner.output_dir / "results.json", {**facts, "inputs": source.describe()})
        if csv_path is not None:
            write_csv(csv_path, data)
        if as_json:
            echo_json(data)
        elif csv_path != "-":
            noisy = verdict_line(doc.get("validity"))
            if noisy is not None:  # first (on stderr): the statistics below are not to be trusted
                click.echo(noisy, err=True)
            click.echo(text_block(data))


def remote_name(table: Any) -> str:
    if isinstance(table, dict):
        return f"{table.get('protocol') or table.get('name')} {table.get('host')}:{table.get('port')}"
    return "this machine"


def _settings_text(settings: dict[str, Any]) -> str:
    parts = [f"warm-up {settings['warmup']}", f"at least {settings['min_count']} runs"]
    if settings["min_duration_s"]:
        parts.append(f"at least {settings['min_duration_s']:g} s")
    if settings.get("max_count") is not None:
        parts.append(f"at most {settings['max_count']} runs")
    parts.append(f"batch {settings['batch_size']}")
    return ", ".join(parts)
