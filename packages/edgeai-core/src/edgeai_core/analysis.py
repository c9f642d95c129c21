"""The run's ``complexity`` section: the final artifact analysed by the installed analyzer for its format.

After the last step, the runner hands the artifacts the run made (the model's, then each step's) to
:func:`analyze`. It picks the analyzer (a component of kind ``analyzer``,
:class:`~edgeai_core.components.ModelAnalyzer`) that reads the final artifact's format; when none does, the
latest earlier artifact that one reads (a TFLite run's ONNX export, say) is analysed instead and the section
says which step made it. With no analyzer for any of them, or when the analysis fails, the section says
``available: false`` with the reason: analysis never fails a run.

The section (:class:`~edgeai_core.document.ComplexitySection`) holds the whole-model summary
(:meth:`ModelComplexity.to_json` without layers), the ten layers with the most MACs and the most activation
memory, and the per-layer table: inline as ``layers`` when the model has at most :data:`INLINE_LAYERS`
layers, else in :data:`COMPLEXITY_FILE` next to ``results.json`` (``layers_file`` names it), so results.json
stays small for large graphs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeai_core.artifacts import write_json_atomic
from edgeai_core.document import ComplexitySection

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact
    from edgeai_core.components import Context
    from edgeai_core.plugins import PluginHost

log = logging.getLogger(__name__)

#: per-layer tables up to this many layers go into results.json itself
INLINE_LAYERS = 200
#: where a larger per-layer table goes, next to results.json
COMPLEXITY_FILE = "complexity.json"


def _pick(host: PluginHost, made: Sequence[tuple[str, Artifact]]) -> tuple[int, Any] | None:
    """The index of the latest artifact an installed analyzer reads, and that analyzer's record."""
    records = host.records("analyzer")
    for index in range(len(made) - 1, -1, -1):
        fmt = made[index][1].format
        for record in records:
            if fmt in getattr(record, "formats", ()):
                return index, record
    return None


def analyze(
    host: PluginHost,
    made: Sequence[tuple[str, Artifact]],
    context: Context,
    *,
    batch_size: int = 1,
    output_dir: Path | None = None,
) -> ComplexitySection:
    """Analyse the final artifact of ``made`` (``(step name, artifact)`` in run order); never raises: a
    missing analyzer or a failed analysis gives a section that says why."""
    try:
        return _analyze(host, made, context, batch_size=batch_size, output_dir=output_dir)
    except Exception as exc:  # analysis is a by-product of the run: it never ends one
        log.warning("complexity analysis failed: %s", exc, exc_info=True)
        return ComplexitySection(False, made[-1][1].format, reason=f"complexity analysis failed: {exc}")


def _analyze(
    host: PluginHost,
    made: Sequence[tuple[str, Artifact]],
    context: Context,
    *,
    batch_size: int = 1,
    output_dir: Path | None = None,
) -> ComplexitySection:
    step, final = made[-1]
    picked = _pick(host, made)
    if picked is None:
        formats = sorted({f for r in host.records("analyzer") for f in getattr(r, "formats", ())})
        known = f"installed analyzers read {', '.join(formats)}" if formats else "no analyzer is installed"
        return ComplexitySection(
            False,
            final.format,
            reason=f"no analyzer reads {final.format} artifacts ({known}; edgeai-onnx analyses onnx)",
        )
    index, record = picked
    step, artifact = made[index]
    note = None
    if index != len(made) - 1:
        later = ", ".join(name for name, _ in made[index + 1 :])
        note = (
            f"the final artifact is {final.format}, which no installed analyzer reads; this is the "
            f"{artifact.format} artifact of step {step}, before {later}"
        )
    where = output_dir if output_dir is not None and artifact.path.is_relative_to(output_dir) else None
    shown = str(artifact.path.relative_to(where)) if where is not None else str(artifact.path)
    params = {"batch_size": batch_size} if "batch_size" in record.params.names else {}
    try:
        analyzer = record.create(params, where=f"analyzer {record.name}", context=context)
        result = analyzer.analyze(artifact)
    except Exception as exc:  # a missing framework, an unreadable graph: recorded, the run goes on
        log.info("complexity analysis of %s failed: %s", artifact.path, exc)
        return ComplexitySection(
            False,
            artifact.format,
            reason=f"analyzer {record.name} failed on {artifact.path.name}: {exc}",
            step=step,
            artifact=shown,
            note=note,
        )
    layers_file = None
    if output_dir is not None and len(result.layers) > INLINE_LAYERS:
        try:
            write_json_atomic(output_dir / COMPLEXITY_FILE, result.to_json())
            layers_file = COMPLEXITY_FILE
        except OSError as exc:  # the table then goes into results.json
            log.warning("could not write %s: %s", output_dir / COMPLEXITY_FILE, exc)
    return ComplexitySection(
        True, artifact.format, step=step, artifact=shown, note=note, result=result, layers_file=layers_file
    )


def complexity_line(section: ComplexitySection) -> str:
    """One progress line."""
    result = section.result
    if result is None:
        return f"not available: {section.reason}"
    bound = " (lower bounds: unknown operators)" if result.lower_bound else ""
    return (
        f"{result.params} parameters, {result.macs} MACs, peak activations "
        f"{result.peak_activation_bytes} bytes{bound}"
    )


__all__ = ["COMPLEXITY_FILE", "INLINE_LAYERS", "ComplexitySection", "analyze", "complexity_line"]
