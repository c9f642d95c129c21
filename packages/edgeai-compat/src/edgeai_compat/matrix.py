"""The framework matrix (``edgeai matrix``): every compiler x runtime road the installed plugins allow for a model.

The combinations are enumerated from registration records alone: every runtime, preceded by no compiler, one
compiler or a chain of two different compilers, each at its default parameters. A ``choice`` parameter named
``mode`` is expanded over its choices (``onnx-quantize`` static/dynamic/float16, the ``torch`` runtime's
eager/traced), since a mode is a different road, not a tuning knob. Compilers with a required parameter are left
out (they need a choice only the user can make). The planner then decides: a combination it rejects (no
converter path, a compiler that needs a dataset the run lacks) is not allowed by the installed plugins and is
listed with the reason; the rest run, after converters are inserted where the formats do not chain. Two
combinations that plan to the same pipeline run once.

Every allowed combination runs like an ``edgeai demo`` variant (``edgeai_core.variants``): the model is trained
once on the dataset, each combination loads that checkpoint, is benchmarked, and is evaluated on the test split.
Same seed and training, same checkpoint: a combination's accuracy equals that of the demo variant with the same
road.

A load-only model (``--model onnx-file --set model.path=M``, ``keras-file``, ``tflite-file``) is not trained:
every combination loads the user's file. The plan leaves out the roads whose components' frameworks are not
installed (with the missing package as the reason; nothing is imported to find out), and every row records the
fidelity of its final runtime against the model file (the ``fidelity`` section of its ``results.json``) next to
its latency.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeai_compat.reports import provenance, write_documents
from edgeai_compat.tables import markdown_table, rst_heading, rst_table
from edgeai_core.api import (
    EdgeaiError,
    NullProgress,
    Progress,
    Registration,
    UnknownComponentError,
    UsageError,
    Variant,
    apply_overrides,
    check_plan_inputs,
    check_plan_installed,
    parse_config,
    plan_pipeline,
    run_planned,
    train_shared,
)

SCHEMA = "edgeai-matrix/1"
#: A smaller budget than the demo's: accuracy does not depend on it, and a matrix has many rows.
MATRIX_BENCHMARK = {"warmup": 20, "min_count": 300, "min_duration_s": 0.3}
EXPANDED_PARAM = "mode"


@dataclass(frozen=True)
class Setting:
    """A record at one parameter setting (``{}`` for the defaults, ``{"mode": "dynamic"}``)."""

    record: Registration
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        mode = dict(self.params).get(EXPANDED_PARAM)
        return f"{self.record.name}.{mode}" if mode is not None else self.record.name

    def table(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.record.name, **dict(self.params)}
        if self.record.kind == "compiler":
            data["kind"] = "compiler"
        return data


def settings(record: Registration, expand: bool = True) -> tuple[list[Setting], str | None]:
    """The settings of ``record`` to try, or ``([], reason)`` when it has required parameters."""
    required = [p.name for p in record.params if p.required]
    if required:
        return [], f"{record.qualified_name} needs {', '.join(required)} (no default to use)"
    if expand and EXPANDED_PARAM in record.params.names:
        param = record.params[EXPANDED_PARAM]
        if param.type == "choice" and param.choices:
            ordered = [param.default, *[c for c in param.choices if c != param.default]]
            return [Setting(record, ((EXPANDED_PARAM, c),)) for c in ordered], None
    return [Setting(record)], None


def combinations(
    host: Any, *, max_steps: int = 2, expand: bool = True
) -> tuple[list[tuple[tuple[Setting, ...], Setting]], list[dict[str, Any]]]:
    """Every (compiler chain, runtime) candidate, and the records left out with the reason."""
    left_out: list[dict[str, Any]] = []

    def settings_of(kind: str) -> list[Setting]:
        every: list[Setting] = []
        for record in host.records(kind):
            found, reason = settings(record, expand)
            every += found
            if reason:
                left_out.append({"combination": record.qualified_name, "reason": reason})
        return every

    steps, runtimes = settings_of("compiler"), settings_of("runtime")
    chains: list[tuple[Setting, ...]] = [()]
    if max_steps >= 1:
        chains += [(s,) for s in steps]
    if max_steps >= 2:
        chains += [(a, b) for a in steps for b in steps if a.record.name != b.record.name]
    return [(chain, runtime) for chain in chains for runtime in runtimes], left_out


def combination_name(chain: Sequence[Setting], runtime: Setting) -> str:
    return "+".join([*(s.label for s in chain), runtime.label])


def _signature(plan: Any) -> str:
    import json

    data = plan.to_json()
    return json.dumps({"steps": data["steps"], "runtime": data["runtime"]}, sort_keys=True, default=str)


@dataclass(frozen=True)
class MatrixOptions:
    """How the matrix plans its combinations: at most ``max_steps`` compile/convert steps, ``mode``
    parameters ``expand``-ed over their choices, the ``seed`` and ``benchmark`` table of every combination and
    ``--set`` ``overrides`` applied to each."""

    max_steps: int = 2
    expand: bool = True
    seed: int = 0
    benchmark: Mapping[str, Any] | None = None
    overrides: Sequence[str] = ()

    @property
    def benchmark_table(self) -> dict[str, Any]:
        return dict(self.benchmark or MATRIX_BENCHMARK)


def plan_matrix(
    host: Any, model: Mapping[str, Any], dataset: Mapping[str, Any], options: MatrixOptions | None = None
) -> tuple[list[tuple[Variant, dict[str, Any]]], list[dict[str, Any]]]:
    """The allowed combinations as planned variants, and the rejected ones with the planner's reason."""
    options = options or MatrixOptions()
    host.get("model", model["name"], where="--model")
    host.get("dataset", dataset["name"], where="--dataset")
    candidates, rejected = combinations(host, max_steps=options.max_steps, expand=options.expand)
    planned: list[tuple[Variant, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    inputs_checked = False
    for chain, runtime in candidates:
        name = combination_name(chain, runtime)
        raw: dict[str, Any] = {
            "name": name,
            "seed": options.seed,
            "dataset": dict(dataset),
            "model": dict(model),
            "steps": [s.table() for s in chain],
            "runtime": runtime.table(),
            "benchmark": options.benchmark_table,
        }
        raw = apply_overrides(raw, options.overrides)
        try:
            plan = plan_pipeline(parse_config(raw), host)
            check_plan_installed(plan)  # frameworks installed, dimensions a static build can take
        except EdgeaiError as exc:
            rejected.append({"combination": name, "reason": str(exc)})
            continue
        signature = _signature(plan)
        if signature in seen:
            rejected.append(
                {"combination": name, "reason": f"plans to the same pipeline as {seen[signature]}"}
            )
            continue
        seen[signature] = name
        if not inputs_checked:  # the same model and dataset on every road: their inputs are checked once
            check_plan_inputs(plan)  # a mismatch is the whole matrix's usage error (exit 2)
            inputs_checked = True
        road = [f"{s.record.name}" + (" (inserted)" if s.inserted else "") for s in plan.steps]
        summary = " -> ".join([plan.model.record.name, *road, f"runtime {plan.runtime.record.name}"])
        planned.append(
            (
                Variant(name, summary, raw, extra={"road": road, "final_format": plan.final_format}),
                raw,
            )
        )
    return planned, rejected


def run_matrix(
    host: Any,
    output: Path,
    *,
    model: Mapping[str, Any],
    dataset: Mapping[str, Any],
    options: MatrixOptions | None = None,
    only: Sequence[str] = (),
    progress: Progress | None = None,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Plan, train once, run every allowed combination; write ``matrix.{json,md,rst}``; return the document."""
    progress = progress or NullProgress()
    output = Path(output)
    options = options or MatrixOptions()
    planned, rejected = plan_matrix(host, model, dataset, options)
    if only:
        known = {v.name for v, _ in planned}
        missing = [n for n in only if n not in known]
        if missing:
            raise UnknownComponentError("matrix combination", missing[0], known, "--only")
        planned = [(v, raw) for v, raw in planned if v.name in only]
    if not planned:
        raise UsageError(
            f"no compiler x runtime combination can run model {model['name']} with the installed plugins"
        )
    started = time.perf_counter()
    trainable = is_trainable(host, model)
    checkpoints = train_shared(host, planned, output / "_trained", progress) if trainable else {}
    rows = run_planned(host, planned, output, checkpoints, progress=progress, command=command)
    for row, (variant, _raw) in zip(rows, planned, strict=True):
        row["combination"] = row.pop("variant")
        row["road"] = variant.extra["road"]
        row["steps"] = [
            s["name"] + (f" ({s['mode']})" if "mode" in s else "") for s in variant.config["steps"]
        ]
        row["runtime"] = variant.config["runtime"]["name"] + (
            f" ({variant.config['runtime']['mode']})" if "mode" in variant.config["runtime"] else ""
        )
        row["format"] = variant.extra["final_format"]
        row["fidelity"] = row_fidelity(Path(row["results"])) if row["results"] else None
        row["results"] = str(Path(row["results"]).relative_to(output)) if row["results"] else None
    document = {
        **provenance(SCHEMA),
        "model": dict(model),
        "dataset": dict(dataset),
        "seed": options.seed,
        "trained": trainable,
        "max_steps": options.max_steps,
        "benchmark": options.benchmark_table,
        "checkpoints": [str(p) for p in checkpoints.values()],
        "combinations": rows,
        "rejected": rejected,
        "duration_s": round(time.perf_counter() - started, 3),
    }
    write_matrix(document, output)
    return document


def is_trainable(host: Any, model: Mapping[str, Any]) -> bool:
    """Whether the matrix trains ``model`` (False for load-only models: a user's file)."""
    return bool(getattr(host.get("model", model["name"], where="--model"), "trainable", True))


def row_fidelity(results: Path) -> dict[str, Any] | None:
    """The fidelity of a combination's final runtime against the reference, from its ``results.json``:
    ``{"status", "precision", "max_abs_diff", "cosine_similarity", "top1_agreement"}``, None if not measured."""
    import json

    try:
        doc = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    entries = [e for e in (doc.get("fidelity") or {}).get("steps") or [] if isinstance(e, dict)]
    if not entries:
        return None
    last = entries[-1]
    keys = ("step", "status", "precision", "max_abs_diff", "cosine_similarity", "top1_agreement")
    return {k: last.get(k) for k in keys}


def fidelity_text(fidelity: Mapping[str, Any] | None) -> str | None:
    """``"int8 cos 0.99951"`` or ``"float32 max|d| 2.4e-07"`` (``" over"`` appended when over tolerance)."""
    if not fidelity or fidelity.get("max_abs_diff") is None:
        return None
    precision = fidelity.get("precision") or ""
    if precision in ("float32", "float64", ""):
        text = f"{precision or 'max'} max|d| {fidelity['max_abs_diff']:.2g}".strip()
    else:
        text = f"{precision} cos {fidelity['cosine_similarity']:.5f}"
    return text + (" over" if fidelity.get("status") == "over_tolerance" else "")


def _table(document: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    header = ["combination", "road", "format", "status", "accuracy", "fidelity", "median us", "size KiB"]
    header.append("note")
    rows = []
    for row in document["combinations"]:
        size = row["size_bytes"] / 1024 if row["size_bytes"] is not None else None
        rows.append(
            [
                row["combination"],
                " -> ".join(row["road"]) or "(none)",
                row["format"],
                row["status"],
                f"{row['accuracy']:.4f}" if row["accuracy"] is not None else None,
                fidelity_text(row.get("fidelity")),
                f"{row['median_us']:.1f}" if row["median_us"] is not None else None,
                f"{size:.1f}" if size is not None else None,
                row["note"] or None,
            ]
        )
    return header, rows


def _intro(document: Mapping[str, Any]) -> str:
    bench = ", ".join(f"{k} {v}" for k, v in document["benchmark"].items())
    return (
        f"model {document['model']['name']} on dataset {document['dataset']['name']} (test split), seed "
        f"{document['seed']}, {'trained once' if document.get('trained', True) else 'loaded from its file'}; "
        f"benchmark {bench}; edgeai {document['edgeai_version']}, Python "
        f"{document['python']} ({document['machine']}), {document['created']}. {len(document['combinations'])} "
        f"combinations ran; {len(document['rejected'])} were not allowed by the installed plugins."
    )


def render_markdown(document: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            f"# Framework matrix: {document['model']['name']}\n",
            _intro(document) + "\n",
            markdown_table(*_table(document)),
        ]
    )


def render_rst(document: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            rst_heading(f"Framework matrix: {document['model']['name']}"),
            _intro(document) + "\n",
            rst_table(*_table(document)),
        ]
    )


def write_matrix(document: Mapping[str, Any], output: Path) -> list[Path]:
    """Write ``matrix.json``, ``matrix.md`` and ``matrix.rst``; return their paths."""
    return write_documents(document, output, "matrix", render_markdown, render_rst)
