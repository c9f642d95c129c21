"""Guest instructions per inference: the optional ``instructions`` section of ``results.json``.

An emulator that counts executed instructions (QEMU's TCG plugin API, ``edgeai target count`` of
edgeai-emulator) reports one total per process: the interpreter's start, the imports and the model's loading
are in it along with the inferences. So each repeat runs two processes that differ only in the number of
inferences, ``count_low`` and ``count_high``, and the instructions per inference are the difference of the two
totals over the difference of the counts: ``(total_high - total_low) / (count_high - count_low)``. Whatever
both processes do the same cancels out. The section gives the mean over the repeats and the ``spread``, the
(max - min) / mean of the repeats' values.

A count is a deterministic, hardware-independent cost figure of the model on the target's instruction set; it
is not a cycle count (no caches, no pipeline) and it includes the runtime's own work per inference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class InstructionCountError(ValueError):
    """Run lengths from which no instructions per inference follow (one line, what is wrong)."""


@dataclass(frozen=True)
class InstructionRun:
    """One repeat: two processes' instruction totals and their inference counts."""

    count_low: int
    total_low: int
    count_high: int
    total_high: int

    def __post_init__(self) -> None:
        if self.count_low < 0 or self.count_high <= self.count_low:
            raise InstructionCountError(
                f"inference counts {self.count_low} and {self.count_high}: the second must exceed the first "
                "(and both be >= 0)"
            )
        if self.total_low <= 0 or self.total_high <= 0:
            raise InstructionCountError(
                f"instruction totals {self.total_low} and {self.total_high}: both must be > 0"
            )
        if self.total_high <= self.total_low:
            raise InstructionCountError(
                f"the process with {self.count_high} inferences executed {self.total_high} instructions, "
                f"not more than the one with {self.count_low} ({self.total_low}): the runs are not comparable"
            )

    @property
    def per_inference(self) -> float:
        return (self.total_high - self.total_low) / (self.count_high - self.count_low)

    def to_json(self) -> dict[str, Any]:
        return {
            "count_low": self.count_low,
            "total_low": self.total_low,
            "count_high": self.count_high,
            "total_high": self.total_high,
            "per_inference": self.per_inference,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstructionRun:
        return cls(
            count_low=int(data["count_low"]),
            total_low=int(data["total_low"]),
            count_high=int(data["count_high"]),
            total_high=int(data["total_high"]),
        )


@dataclass(frozen=True)
class InstructionsSection:
    """The ``instructions`` section: guest instructions per inference, their spread and the runs."""

    runs: tuple[InstructionRun, ...]
    method: str
    isa: str
    emulator: str
    runtime: str
    batch_size: int = 1
    artifact: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "runs", tuple(self.runs))
        if not self.runs:
            raise InstructionCountError("no runs: instructions per inference need at least one repeat")

    @property
    def values(self) -> list[float]:
        return [run.per_inference for run in self.runs]

    @property
    def per_inference(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / mean of the repeats' instructions per inference (0.0 for a single repeat)."""
        values = self.values
        return (max(values) - min(values)) / self.per_inference

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "per_inference": self.per_inference,
            "spread": self.spread,
            "repeats": len(self.runs),
            "runs": [run.to_json() for run in self.runs],
            "method": self.method,
            "isa": self.isa,
            "emulator": self.emulator,
            "runtime": self.runtime,
            "batch_size": self.batch_size,
        }
        if self.artifact is not None:
            data["artifact"] = self.artifact
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstructionsSection:
        return cls(
            runs=tuple(InstructionRun.from_json(run) for run in data["runs"]),
            method=str(data["method"]),
            isa=str(data["isa"]),
            emulator=str(data["emulator"]),
            runtime=str(data["runtime"]),
            batch_size=int(data.get("batch_size", 1)),
            artifact=None if data.get("artifact") is None else str(data["artifact"]),
        )


def per_inference(runs: Sequence[InstructionRun]) -> tuple[float, float]:
    """``(mean, spread)`` of the runs' instructions per inference; spread is (max - min) / mean."""
    section = InstructionsSection(runs=tuple(runs), method="", isa="", emulator="", runtime="")
    return section.per_inference, section.spread


__all__ = ["InstructionCountError", "InstructionRun", "InstructionsSection", "per_inference"]
