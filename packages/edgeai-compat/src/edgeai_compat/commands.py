"""Compatibility commands: ``edgeai grid`` (ONNX support grid), ``edgeai matrix`` (framework matrix) and
``edgeai onnx-backend-tests`` (ONNX's own backend test data on every installed ONNX backend).

They write JSON plus Markdown and reStructuredText tables into ``--output``; failing cells are data, not command
failures, so the exit code is 0 when the command itself worked. ``docs/compatibility.md`` documents the files.
The engines are imported when a command runs, so ``edgeai --help`` imports none of them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from edgeai_core.api import (
    ConfigError,
    claim_output,
    complete_component,
    csv_option,
    echo_json,
    explicit_output,
    folder_option,
    force_option,
    host_for,
    rows_from_results,
    text_table,
    write_summary_csv,
)

F = TypeVar("F", bound=Callable[..., Any])


def _names(values: Sequence[str]) -> list[str]:
    """``--x a,b --x c`` -> ``[a, b, c]``."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _scoped_settings(items: Sequence[str], option: str) -> dict[str, dict[str, Any]]:
    """``--set torch.opset=18`` -> ``{"torch": {"opset": 18}}``."""
    from edgeai_core.api import parse_value

    found: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        scope, dot, name = key.strip().partition(".")
        if not sep or not dot or not scope or not name:
            raise ConfigError(f"{option} {item!r}: expected NAME.PARAM=VALUE, e.g. {option} torch.opset=18")
        found.setdefault(scope, {})[name] = parse_value(value)
    return found


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _progress(as_json: bool) -> Any:
    from edgeai_core.api import NullProgress, StreamProgress

    return NullProgress() if as_json else StreamProgress()


def _worker_run(
    settings: Sequence[str], timeout_s: float, no_isolation: bool, as_json: bool
) -> dict[str, Any]:
    """The keyword arguments of ``run_grid`` and ``run_backend_tests`` that :func:`_worker_options` gives."""
    return {
        "params": _scoped_settings(settings, "--set"),
        "timeout_s": timeout_s,
        "isolate": not no_isolation,
        "progress": _progress(as_json),
    }


def _stacked(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Several click options as one decorator, in the order given (the order ``--help`` shows)."""

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _output_option(default: str, help: str) -> Callable[[F], F]:
    return folder_option("-o", "--output", default=Path(default), show_default=True, help=help)


def _listing_options(list_help: str, json_help: str) -> Callable[[F], F]:
    """``--list`` and ``--json``, last in every command's options."""
    return _stacked(
        click.option("--list", "list_only", is_flag=True, help=list_help),
        click.option("--json", "as_json", is_flag=True, help=json_help),
    )


def _worker_options(
    *, timeout: float, timeout_help: str, isolation_help: str, set_metavar: str, set_help: str
) -> Callable[[F], F]:
    """``--set NAME.PARAM=VALUE``, ``--timeout`` and ``--no-isolation``, shared by the commands that run
    records in worker processes (grid suites, ONNX backends)."""

    return _stacked(
        click.option("--set", "settings", multiple=True, metavar=set_metavar, help=set_help),
        click.option(
            "--timeout", "timeout_s", type=float, default=timeout, show_default=True, help=timeout_help
        ),
        click.option("--no-isolation", is_flag=True, help=isolation_help),
    )


# -- edgeai grid ----------------------------------------------------------------------------------------


@click.command("grid")
@_output_option("build/grid", "Folder for grid.json, grid.md, grid.rst, logs/ and work/.")
@click.option(
    "--converters",
    "suites",
    multiple=True,
    metavar="NAMES",
    help="Grid suites to run, by suite, framework or converter name (comma list; default: all).",
)
@click.option("--models", multiple=True, metavar="NAMES", help="Only these models (comma list).")
@click.option(
    "--runtime",
    default="onnxruntime",
    show_default=True,
    metavar="NAME",
    help="Runtime that runs the exported ONNX files, where it is installed; otherwise the first installed "
    "runtime that loads onnx.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weights and inputs.")
@_worker_options(
    timeout=300.0,
    timeout_help="Seconds one cell may take before its worker is killed.",
    isolation_help="Run cells in this process (a crash then ends the grid).",
    set_metavar="SUITE.PARAM=VALUE",
    set_help="A suite parameter, e.g. --set torch.opset=18.",
)
@_listing_options("List the suites and their models, then exit.", "Print grid.json instead of the summary.")
@click.pass_context
def grid_cmd(
    ctx: click.Context,
    output: Path,
    suites: tuple[str, ...],
    models: tuple[str, ...],
    runtime: str,
    seed: int,
    settings: tuple[str, ...],
    timeout_s: float,
    no_isolation: bool,
    list_only: bool,
    as_json: bool,
) -> None:
    """The ONNX support grid: export every model of every framework suite to ONNX, run it in ONNX Runtime
    against the framework's own output, and import it back where the framework can.

    Every cell records export ok/error (with the error's first line), the opset and ONNX operators, the max
    abs diff in ONNX Runtime and the import result. Each suite runs in a worker process, so one crashing or
    hanging cell is recorded and the grid goes on.
    """
    from edgeai_compat.grid import list_suites, run_grid, select_suites, summarize

    host = host_for(ctx)
    if list_only:
        _print_suites(list_suites(host, select_suites(host, _names(suites))), as_json)
        return
    document = run_grid(
        host,
        output,
        suites=_names(suites),
        models=_names(models),
        seed=seed,
        runtime=runtime,
        **_worker_run(settings, timeout_s, no_isolation, as_json),
    )
    if as_json:
        echo_json(document)
        return
    rows = []
    for suite in document["suites"]:
        cells = [c for c in document["cells"] if c["suite"] == suite["name"]]
        if suite["status"] != "ok":
            rows.append([suite["name"], "-", "-", "-", "-", f"unavailable: {suite['error']}"[:90]])
            continue
        counts = summarize(cells)
        rows.append(
            [
                suite["name"],
                str(counts["models"]),
                f"{counts['exported']}",
                f"{counts['onnx_ok']}",
                f"{counts['imported']}",
                f"{counts['import_unsupported']} import unsupported",
            ]
        )
    click.echo(text_table(rows, ["suite", "models", "exported", "onnx agrees", "imported", "note"]))
    for cell in document["cells"]:
        if cell["status"] != "ok":
            click.echo(f"  {cell['suite']}/{cell['model']}: {cell['status']}: {cell['error']}"[:160])
    if document["unknown_models"]:
        click.echo(f"no suite has: {', '.join(document['unknown_models'])}")
    click.echo(f"grid: {output / 'grid.json'}, tables: {output / 'grid.md'}, {output / 'grid.rst'}")


def _print_suites(listing: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        echo_json(listing)
        return
    for entry in listing:
        click.echo(
            f"{entry['suite']} ({entry['framework']}, {entry['converter']}, from {entry['provider']}):"
        )
        click.echo(
            "  " + (", ".join(entry["models"]) if entry["models"] else f"unavailable: {entry['error']}")
        )


# -- edgeai matrix --------------------------------------------------------------------------------------


@click.command("matrix")
@click.option(
    "--model",
    "model_name",
    default="digits-cnn",
    show_default=True,
    shell_complete=complete_component("model"),
    help="The model to train, or a load-only model with its file: --model onnx-file --set model.path=M.",
)
@click.option(
    "--dataset",
    "dataset_name",
    default=None,
    shell_complete=complete_component("dataset"),
    help="Dataset to train on and to evaluate the test split of [default: digits; synthetic for a "
    "load-only model].",
)
@_output_option(
    "build/matrix",
    "Folder for matrix.json/.md/.rst and one results folder per combination. The default folder is replaced "
    "on each run; a folder given with -o that holds results needs --force.",
)
@click.option(
    "--max-steps",
    type=click.IntRange(0, 2),
    default=2,
    show_default=True,
    help="Longest compiler chain to try.",
)
@click.option("--no-modes", is_flag=True, help="Do not expand `mode` parameters; defaults only.")
@click.option(
    "--only", multiple=True, metavar="COMBINATION", help="Run only these combinations (repeatable)."
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value in every combination, e.g. --set benchmark.min_count=100 or "
    "--set model.epochs=10.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of splits, training and inputs.")
@force_option
@csv_option("combination")
@_listing_options(
    "Plan the combinations and list them, then exit.", "Print matrix.json instead of the table."
)
@click.pass_context
def matrix_cmd(
    ctx: click.Context,
    model_name: str,
    dataset_name: str | None,
    output: Path,
    max_steps: int,
    no_modes: bool,
    only: tuple[str, ...],
    overrides: tuple[str, ...],
    seed: int,
    force: bool,
    csv_path: str | None,
    list_only: bool,
    as_json: bool,
) -> None:
    """The framework matrix: every compiler x runtime combination the installed plugins allow for one model,
    each benchmarked and evaluated on the dataset's test split (the model is trained once; a load-only model
    such as `--model onnx-file --set model.path=model.onnx` is loaded from its file, and each road records its
    fidelity against it)."""
    from edgeai_compat.matrix import MatrixOptions, fidelity_text, is_trainable, plan_matrix, run_matrix

    host = host_for(ctx)
    model = {"name": model_name}
    if dataset_name is None:
        dataset_name = "digits" if is_trainable(host, model) else "synthetic"
    dataset = {"name": dataset_name}
    options = MatrixOptions(max_steps=max_steps, expand=not no_modes, seed=seed, overrides=overrides)
    if list_only:
        planned, rejected = plan_matrix(host, model, dataset, options)
        if as_json:
            echo_json(
                {
                    "combinations": [{"combination": v.name, "road": v.extra["road"]} for v, _ in planned],
                    "rejected": rejected,
                }
            )
            return
        click.echo(text_table([[v.name, v.summary] for v, _ in planned], ["combination", "road"]))
        click.echo(
            f"{len(rejected)} combinations are not allowed by the installed plugins (--list --json says why)"
        )
        return
    if explicit_output(ctx):
        claim_output(
            output, force=force, names=("matrix.json", "results.json", "results.partial.jsonl"), nested=True
        )
    document = run_matrix(
        host,
        output,
        model=model,
        dataset=dataset,
        options=options,
        only=only,
        progress=_progress(as_json),
        command=["edgeai", *sys.argv[1:]],
    )
    if csv_path is not None:
        write_summary_csv(
            csv_path,
            rows_from_results(
                (r["combination"], output / r["results"] if r["results"] else None, r["status"])
                for r in document["combinations"]
            ),
        )
    if as_json:
        echo_json(document)
        return
    if csv_path == "-":
        return
    rows = [
        [
            r["combination"],
            r["status"],
            _fmt(r["accuracy"], ".4f"),
            fidelity_text(r.get("fidelity")) or "-",
            _fmt(r["median_us"], ".1f"),
            _fmt(r["size_bytes"] and r["size_bytes"] / 1024, ".1f"),
            (r["note"] or "")[:60],
        ]
        for r in document["combinations"]
    ]
    header = ["combination", "status", "accuracy", "fidelity", "median us", "size KiB", "note"]
    click.echo(text_table(rows, header))
    click.echo(f"matrix: {output / 'matrix.json'}, tables: {output / 'matrix.md'}, {output / 'matrix.rst'}")


# -- edgeai onnx-backend-tests --------------------------------------------------------------------------


@click.command("onnx-backend-tests")
@_output_option("build/onnx-backend-tests", "Folder for onnx-backend-tests.json/.md/.rst, logs/ and work/.")
@click.option(
    "--backends", multiple=True, metavar="NAMES", help="Backends to test (comma list; default: all)."
)
@click.option(
    "--kinds",
    multiple=True,
    metavar="KINDS",
    help="Data folders: light, pytorch-converted, pytorch-operator, simple (comma list; default: all).",
)
@click.option("--cases", multiple=True, metavar="NAMES", help="Only these test cases (comma list).")
@_worker_options(
    timeout=600.0,
    timeout_help="Seconds one case may take (compile and run) before its worker is killed.",
    isolation_help="Run cases in this process (a crash then ends the suite).",
    set_metavar="BACKEND.PARAM=VALUE",
    set_help="A backend parameter, e.g. --set tvm.opt_level=2.",
)
@click.option("--keep-work", is_flag=True, help="Keep every case's compiled files under OUTPUT/work.")
@_listing_options(
    "List the installed ONNX backends, then exit.", "Print the JSON document instead of the summary."
)
@click.pass_context
def onnx_backend_tests_cmd(
    ctx: click.Context,
    output: Path,
    backends: tuple[str, ...],
    kinds: tuple[str, ...],
    cases: tuple[str, ...],
    settings: tuple[str, ...],
    timeout_s: float,
    no_isolation: bool,
    keep_work: bool,
    list_only: bool,
    as_json: bool,
) -> None:
    """Run the ONNX backend test data shipped in the onnx wheel (light ImageNet models, pytorch-converted,
    pytorch-operator, simple) on every installed ONNX backend: pass, numerically wrong, failed to compile,
    failed to run or crashed, per case and as pass rates per backend."""
    from edgeai_compat.onnx_backends import KINDS, onnx_backends, run_backend_tests, summarize

    host = host_for(ctx)
    if list_only:
        installed = onnx_backends(host)
        if as_json:
            echo_json(
                [
                    {"name": b.name, "provider": b.provider, "uses": list(b.uses), "summary": b.summary}
                    for b in installed
                ]
            )
            return
        listing = [[b.name, b.provider, ", ".join(b.uses), b.summary] for b in installed]
        click.echo(text_table(listing, ["backend", "provider", "uses", "summary"]))
        return
    document = run_backend_tests(
        host,
        output,
        backends=_names(backends),
        kinds=_names(kinds) or KINDS,
        cases=_names(cases),
        keep_work=keep_work,
        **_worker_run(settings, timeout_s, no_isolation, as_json),
    )
    if as_json:
        echo_json(document)
        return
    rows = []
    for backend in document["backends"]:
        if backend["status"] != "ok":
            rows.append(
                [backend["name"], "-", "-", "-", "-", "-", "-", f"unavailable: {backend['error']}"[:80]]
            )
            continue
        c = summarize(document["results"], backend["name"])
        rate = f"{100 * c['pass_rate']:.1f}%" if c["pass_rate"] is not None else "-"
        rows.append(
            [
                backend["name"],
                str(c["pass"]),
                str(c["wrong"]),
                str(c["compile-error"]),
                str(c["run-error"]),
                str(c["crashed"]),
                str(c["total"]),
                rate,
            ]
        )
    click.echo(
        text_table(rows, ["backend", "pass", "wrong", "compile", "run", "crashed", "total", "pass rate"])
    )
    stem = output / "onnx-backend-tests"
    click.echo(f"results: {stem}.json, tables: {stem}.md, {stem}.rst")


#: What the plugin adds to ``edgeai``.
COMMANDS = (grid_cmd, matrix_cmd, onnx_backend_tests_cmd)
