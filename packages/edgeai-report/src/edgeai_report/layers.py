"""Per-layer sections of the report: the ``profile`` section (where the time goes) and the ``layers`` entries of
fidelity steps (where the error comes from), for one run and across runs.

Across runs of the same source model (same model component and parameters in the plan) the layers are aligned
by the ONNX nodes they map to: nodes that any backend ran as one fused operator form one group, and each run's
time for a group is the sum of its operators in it. Operators without a known ONNX node are summed per run in
one "unknown mapping" row, said so rather than guessed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from edgeai_report.compare import Comparison
from edgeai_report.document import Heading, Image, Paragraph, Table, text
from edgeai_report.load import Run
from edgeai_report.plots import PlotFile
from edgeai_report.units import fixed

#: rows of the aligned cross-backend table and of a run's layer table
TOP_ROWS = 12
UNKNOWN = "(no ONNX node known)"
_QDQ_SUFFIXES = ("_QuantizeLinear", "_DequantizeLinear")


def profile_of(run: Run) -> dict[str, Any] | None:
    section = run.doc.get("profile")
    return section if isinstance(section, dict) else None


def _layers(run: Run) -> list[dict[str, Any]]:
    section = profile_of(run)
    if section is None or section.get("status") != "ok":
        return []
    return [layer for layer in section.get("layers") or () if isinstance(layer, dict)]


def _numerics(run: Run) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(fidelity step, its ``layers`` entry) for each step that recorded per-layer numerics."""
    section = run.doc.get("fidelity")
    if not isinstance(section, dict):
        return []
    found = []
    for step in section.get("steps") or ():
        layers = step.get("layers") if isinstance(step, dict) else None
        if isinstance(layers, dict):
            found.append((step, layers))
    return found


def _label(nodes: list[str]) -> str:
    kept = [n for n in nodes if not n.endswith(_QDQ_SUFFIXES)] or nodes
    return " + ".join(kept) if kept else UNKNOWN


def _cell(us: float | None, share: float | None) -> str:
    if us is None:
        return "-"
    return f"{us:.1f} us ({share:.0%})" if share is not None else f"{us:.1f} us"


# -- plots ------------------------------------------------------------------------------------------------


def plot_jobs(run: Run, img_dir: Path) -> list[Any]:
    from edgeai_report.content import PlotJob

    jobs = []
    layers = _layers(run)
    if layers:
        key = f"{run.slug}-layer-times"
        rows = [
            (f"{layer['name']} [{_label(list(layer.get('onnx_nodes') or []))}]", float(layer["mean_us"]),
             bool(layer.get("onnx_nodes")))
            for layer in layers
        ]  # fmt: skip
        section = profile_of(run) or {}
        jobs.append(
            PlotJob(
                key,
                "layer_times",
                {
                    "layers": rows,
                    "base": img_dir / key,
                    "key": key,
                    "title": f"{run.name}: per-layer time in {section.get('runtime')}",
                    "total_us": section.get("model_us"),
                },
            )
        )
    for i, (step, numerics) in enumerate(_numerics(run)):
        tensors = numerics.get("tensors") or []
        if numerics.get("status") != "ok" or not tensors:
            continue
        key = f"{run.slug}-error-growth-{i}"
        marked = [r["tensor"] for r in (numerics.get("ranking") or [])[:3]]
        jobs.append(
            PlotJob(
                key,
                "error_growth",
                {
                    "rows": [(t["tensor"], t["relative_error"], t["added_error"]) for t in tensors],
                    "marked": marked,
                    "base": img_dir / key,
                    "key": key,
                    "title": f"{run.name}: {step.get('step')} error growth",
                },
            )
        )
    return jobs


# -- one run ----------------------------------------------------------------------------------------------


def run_blocks(run: Run, plots: dict[str, PlotFile], level: int) -> list[Any]:
    """The run's per-layer profile and per-layer numerics; nothing when it recorded neither."""
    blocks: list[Any] = []
    section = profile_of(run)
    if section is not None:
        blocks.append(Heading(level, "Per-layer profile", f"{run.slug}-profile"))
        if section.get("status") != "ok":
            blocks.append(
                Paragraph(text(f"No per-layer profile ({section.get('status')}): {section.get('reason')}."))
            )
        else:
            coverage = section.get("coverage")
            blocks.append(
                Paragraph(
                    text(
                        f"{section.get('profiler')} over {section.get('runs')} runs on "
                        f"{'the target' if section.get('where') == 'target' else 'this machine'}, in a pass after "
                        "the timed benchmark (the latency above does not include it)"
                        + (
                            f"; the layers add up to {coverage:.0%} of the {section.get('model_us'):.1f} us "
                            "whole-model time of the profiled runs."
                            if isinstance(coverage, (int, float))
                            else "."
                        )
                    )
                )
            )
            if f"{run.slug}-layer-times" in plots:
                blocks.append(Image(plots[f"{run.slug}-layer-times"]))
            blocks.append(
                Table(
                    f"{run.slug}-profile",
                    "Top layers by time",
                    ["layer", "op type", "ONNX node(s)", "mapping", "mean", "share", "calls"],
                    [
                        [
                            str(layer["name"]),
                            str(layer.get("op_type", "")),
                            _label(list(layer.get("onnx_nodes") or [])),
                            str(layer.get("mapping")),
                            f"{float(layer['mean_us']):.1f} us",
                            f"{float(layer.get('share', 0)):.1%}",
                            fixed(layer.get("calls"), 1),
                        ]
                        for layer in _layers(run)[:TOP_ROWS]
                    ],
                    [False, False, False, False, True, True, True],
                )
            )
    for i, (step, numerics) in enumerate(_numerics(run)):
        name = str(step.get("step"))
        blocks.append(Heading(level, f"Per-layer numerics: {name}", f"{run.slug}-layers-{i}"))
        if numerics.get("status") != "ok":
            blocks.append(Paragraph(text(f"Model outputs only: {numerics.get('reason')}.")))
            continue
        against = (
            f"{numerics['reference_step']}'s float artifact (standing in for the reference)"
            if numerics.get("reference_step")
            else "the reference"
        )
        blocks.append(
            Paragraph(
                text(
                    f"Every intermediate tensor of {name} in {numerics.get('runtime')} against {against} in "
                    f"{numerics.get('reference_runtime')}, on {numerics.get('samples')} inputs. Added error: the "
                    "tensor's relative error minus the largest of its inputs'."
                )
            )
        )
        if f"{run.slug}-error-growth-{i}" in plots:
            blocks.append(Image(plots[f"{run.slug}-error-growth-{i}"]))
        ranking = numerics.get("ranking") or []
        if ranking:
            blocks.append(
                Table(
                    f"{run.slug}-layers-{i}",
                    "Layers that add the most error, and what to try",
                    ["rank", "node(s)", "op type", "added error", "relative error", "SNR dB", "try"],
                    [
                        [
                            str(r["rank"]),
                            " + ".join(r.get("nodes") or [r["node"]]),
                            str(r.get("op_type")),
                            fixed(r.get("added_error"), 4),
                            fixed(r.get("relative_error"), 4),
                            fixed(r.get("snr_db"), 1),
                            "; ".join(r.get("suggestions") or []),
                        ]
                        for r in ranking
                    ],
                    [True, False, False, True, True, True, False],
                )
            )
    return blocks


# -- across runs ------------------------------------------------------------------------------------------


def _source(run: Run) -> str:
    plan = run.doc.get("plan") or {}
    model = plan.get("model") if isinstance(plan, dict) else None
    return json.dumps(model, sort_keys=True, default=str) if model else run.name


class _Groups:
    """Union-find over ONNX node names: nodes any backend ran as one operator end up in one group."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, node: str) -> str:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def join(self, nodes: list[str]) -> None:
        roots = [self.find(n) for n in nodes]
        for root in roots[1:]:
            self.parent[root] = roots[0]


def aligned_table(runs: list[Run]) -> Table | None:
    """Layers of several runs of one source model side by side, aligned by ONNX node."""
    profiled = [r for r in runs if _layers(r)]
    if len(profiled) < 2:
        return None
    groups = _Groups()
    for run in profiled:
        for layer in _layers(run):
            nodes = [n for n in layer.get("onnx_nodes") or [] if not n.endswith(_QDQ_SUFFIXES)]
            if nodes:
                groups.join(nodes)
    members: dict[str, list[str]] = defaultdict(list)
    for node in list(groups.parent):
        members[groups.find(node)].append(node)
    times: dict[str, dict[str, float]] = defaultdict(dict)  # row -> run -> us
    totals = {}
    for run in profiled:
        total = sum(float(layer["mean_us"]) for layer in _layers(run)) or 1.0
        totals[run.name] = total
        for layer in _layers(run):
            nodes = [n for n in layer.get("onnx_nodes") or [] if not n.endswith(_QDQ_SUFFIXES)]
            row = " + ".join(members[groups.find(nodes[0])]) if nodes else UNKNOWN
            times[row][run.name] = times[row].get(run.name, 0.0) + float(layer["mean_us"])
    ranked = sorted(times, key=lambda row: -max(us / totals[name] for name, us in times[row].items()))[
        :TOP_ROWS
    ]
    rows = [
        [
            row,
            *(
                _cell(times[row].get(r.name), (times[row].get(r.name) or 0) / totals[r.name])
                for r in profiled
            ),
        ]
        for row in ranked
    ]
    header = ["ONNX node(s)", *(f"{r.name} ({(profile_of(r) or {}).get('runtime')})" for r in profiled)]
    return Table(
        f"layers-{profiled[0].slug}",
        "Top layers by time per backend, aligned by ONNX node (a + b: run as one fused operator somewhere)",
        header,
        rows,
        [False, *([True] * len(profiled))],
    )


def comparison_blocks(comp: Comparison, plots: dict[str, PlotFile]) -> list[Any]:
    """The cross-backend layer tables: one per source model profiled on two or more backends."""
    by_source: dict[str, list[Run]] = defaultdict(list)
    for run in comp.runs:
        if profile_of(run) is not None:
            by_source[_source(run)].append(run)
    if not by_source:
        return []
    blocks: list[Any] = [Heading(2, "Per-layer profiles", "layers")]
    tables = [t for t in (aligned_table(runs) for runs in by_source.values()) if t is not None]
    if not tables:
        blocks.append(
            Paragraph(
                text(
                    "No source model was profiled on two or more backends; see each run's per-layer profile."
                )
            )
        )
    blocks.extend(tables)
    unavailable = [r for r in comp.runs if (profile_of(r) or {}).get("status") not in (None, "ok")]
    for run in unavailable:
        section = profile_of(run) or {}
        blocks.append(Paragraph(text(f"{run.name}: no per-layer profile ({section.get('reason')}).")))
    return blocks
