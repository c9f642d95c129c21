"""The report's complexity table (results.json ``complexity``) and model-memory table (``memory``).

Whole-process figures (the resource series) are labelled "process RSS"; the figures of ``memory`` (what
loading and running the model added to that process) are labelled "model memory".
"""

from __future__ import annotations

from typing import Any

from edgeai_report.compare import Comparison
from edgeai_report.document import Callout, Heading, Paragraph, Table, text
from edgeai_report.load import Run
from edgeai_report.units import human_size


def _count(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _bytes(value: Any) -> str:
    return "-" if value is None else f"{human_size(value)} ({int(value):,} bytes)"


def _section(run: Run, key: str) -> dict[str, Any] | None:
    section = run.doc.get(key)
    return section if isinstance(section, dict) else None


def _weights(summary: dict[str, Any]) -> str:
    by_dtype = summary.get("weight_bytes") or {}
    total = summary.get("total_weight_bytes", sum(by_dtype.values()))
    parts = ", ".join(f"{dtype} {human_size(size)}" for dtype, size in sorted(by_dtype.items()))
    return f"{_bytes(total)}{f': {parts}' if parts else ''}"


def _shape(shapes: Any) -> str:
    return "; ".join("x".join(str(d) for d in s) or "scalar" for s in shapes or []) or "-"


def _layer_rows(layers: list[dict[str, Any]]) -> list[list[str]]:
    return [
        [
            str(layer.get("name")),
            str(layer.get("op_type")),
            _shape(layer.get("output_shapes")),
            _count(layer.get("params")),
            _count(layer.get("macs")) if layer.get("macs") is not None else "unknown",
            _count(layer.get("flops")) if layer.get("flops") is not None else "unknown",
            _count(layer.get("activation_bytes")),
        ]
        for layer in layers
    ]


LAYER_HEADER = ["layer", "operator", "output shape", "params", "MACs", "FLOPs", "activation bytes"]


def complexity_blocks(run: Run, level: int) -> list[Any]:
    """Totals of the analysed artifact and its top layers by MACs and by activation memory."""
    blocks: list[Any] = [Heading(level, "Complexity", f"{run.slug}-complexity")]
    section = _section(run, "complexity")
    if section is None:
        blocks.append(Paragraph(text("The file records no complexity analysis.")))
        return blocks
    if not section.get("available"):
        blocks.append(Paragraph(text(f"No complexity analysis: {section.get('reason') or 'not available'}.")))
        return blocks
    summary = section.get("summary") or {}
    lower = bool(summary.get("lower_bound"))
    unknown = ", ".join(summary.get("unknown_ops") or [])
    assumed = summary.get("assumed_dims") or {}
    rows = [
        ["analysed artifact", f"{section.get('format')} from step {section.get('step', '-')}"],
        ["analyzer", str(summary.get("analyzer", "-"))],
        ["parameters", _count(summary.get("params"))],
        ["MACs", _count(summary.get("macs")) + (" (lower bound)" if lower else "")],
        ["FLOPs", _count(summary.get("flops")) + (" (lower bound)" if lower else "")],
        ["weights", _weights(summary)],
        ["peak activations", _bytes(summary.get("peak_activation_bytes"))],
        ["lower bound", f"yes: not counted {unknown}" if lower else "no: every operator counted"],
        ["layers", _count(section.get("layer_count"))],
        ["assumed dims", ", ".join(f"{k}={v}" for k, v in assumed.items()) or "none (static shapes)"],
    ]
    blocks.append(
        Table(f"{run.slug}-complexity", "Complexity (totals)", ["field", "value"], rows, [False, False])
    )
    if section.get("note"):
        blocks.append(Callout("info", "Not the final artifact.", text(str(section["note"]) + ".")))
    top = section.get("top_layers") or {}
    numeric = [False, False, False, True, True, True, True]
    for key, caption in (
        ("macs", "Top layers by MACs"),
        ("activation_bytes", "Top layers by activation memory"),
    ):
        layers = top.get(key) or []
        if layers:
            blocks.append(Table(f"{run.slug}-top-{key}", caption, LAYER_HEADER, _layer_rows(layers), numeric))
    if section.get("layers_file"):
        blocks.append(
            Paragraph(text(f"The per-layer table is in {section['layers_file']} next to the results."))
        )
    return blocks


def memory_blocks(run: Run, level: int) -> list[Any]:
    """The model memory (load and inference peak) apart from the whole-process RSS."""
    memory = _section(run, "memory")
    if memory is None:
        return []
    where = "the target's `edgeai serve` process" if memory.get("where") == "target" else "this run's process"
    rows = [
        ["model memory: load", _bytes(memory.get("load_bytes"))],
        ["model memory: inference peak", _bytes(memory.get("peak_inference_bytes"))],
        ["process RSS before loading", _bytes(memory.get("before_load_rss_bytes"))],
        ["process RSS after loading", _bytes(memory.get("after_load_rss_bytes"))],
        ["process RSS peak", _bytes(memory.get("peak_rss_bytes"))],
        ["peak from", f"{memory.get('peak_source') or '-'}, {memory.get('peak_window') or '-'}"],
    ]
    blocks: list[Any] = [
        Heading(level + 1, "Model memory", f"{run.slug}-model-memory"),
        Paragraph(
            text(
                f"Measured in {where}: model memory is what loading the model (load) and running it "
                "(inference peak) added to the process RSS before loading; the process RSS holds the "
                "interpreter and every framework too."
            )
        ),
        Table(f"{run.slug}-model-memory", "Model memory", ["field", "value"], rows, [False, False]),
    ]
    if memory.get("note"):
        blocks.append(Callout("info", "Peak from RSS readings.", text(str(memory["note"]) + ".")))
    return blocks


def complexity_comparison_table(comp: Comparison) -> Table | None:
    """One row per run: totals of the complexity analysis and the model memory."""
    rows = []
    for run in comp.runs:
        section, memory = _section(run, "complexity") or {}, _section(run, "memory") or {}
        summary = section.get("summary") or {}
        if not summary and not memory:
            continue
        lower = " (lower bound)" if summary.get("lower_bound") else ""
        rows.append(
            [
                run.name,
                _count(summary.get("params")),
                _count(summary.get("macs")) + lower if summary else "-",
                human_size(summary.get("total_weight_bytes")),
                human_size(summary.get("peak_activation_bytes")),
                human_size(memory.get("load_bytes")),
                human_size(memory.get("peak_inference_bytes")),
            ]
        )
    if not rows:
        return None
    header = ["run", "params", "MACs", "weights", "peak activations", "model memory: load",
              "model memory: inference peak"]  # fmt: skip
    return Table("complexity", "Complexity and model memory", header, rows, [False] + [True] * 6)


__all__ = ["complexity_blocks", "complexity_comparison_table", "memory_blocks"]
