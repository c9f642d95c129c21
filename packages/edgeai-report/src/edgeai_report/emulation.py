"""Runs measured on an emulated target (edgeai-emulator): their latency is labelled emulated time.

``provenance.target.emulated`` says the target server ran under an emulator (QEMU user mode); its timings are
20-80x native and say nothing about a real device. The report marks every latency figure of such a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeai_core.api import EMULATED_TIME_LABEL, is_emulated

if TYPE_CHECKING:
    from edgeai_report.load import Run


def emulated(run: Run) -> bool:
    return is_emulated(run.doc)


def isa(run: Run) -> str | None:
    target = (run.doc.get("provenance") or {}).get("target") or {}
    value = target.get("isa")
    return None if value is None else str(value)


def side_label(run: Run, label: str) -> str:
    """A latency side's label, with the emulated-time mark on emulated runs."""
    return f"{label}, {EMULATED_TIME_LABEL}" if emulated(run) else label


def target_text(run: Run, name: str) -> str:
    """The summary's target cell: ``tcp (emulated aarch64)`` on emulated runs."""
    return f"{name} (emulated {isa(run) or 'target'})" if emulated(run) else name


def cross_architecture_text(fidelity: dict[str, Any]) -> str | None:
    """One sentence for ``fidelity.cross_architecture``: same answers on the target's ISA as on the host."""
    cross = fidelity.get("cross_architecture")
    if not isinstance(cross, dict):
        return None
    where = f"{cross.get('target_isa')}{' (emulated)' if cross.get('emulated') else ''}"
    if cross.get("top1_agreement") is None and cross.get("max_abs_diff") is None:
        return f"Cross-architecture: the final runtime on {where} was not compared ({cross.get('status')})."
    parts = []
    if cross.get("top1_agreement") is not None:
        parts.append(f"top-1 agreement {cross['top1_agreement']:.3f}")
    if cross.get("max_abs_diff") is not None:
        parts.append(f"max abs diff {cross['max_abs_diff']:.3g}")
    return (
        f"Cross-architecture: the final runtime on {where} against the reference on the host "
        f"({cross.get('host_isa')}): {', '.join(parts)}."
    )


NOTE_TITLE = f"Latency is {EMULATED_TIME_LABEL}."
NOTE_TEXT = (
    "The target ran under an emulator (QEMU user mode): its timings are typically 20-80 times those of native "
    "code and say nothing about a real device. Accuracy and outputs are those of the target's instruction set."
)

__all__ = [
    "NOTE_TEXT",
    "NOTE_TITLE",
    "cross_architecture_text",
    "emulated",
    "isa",
    "side_label",
    "target_text",
]
