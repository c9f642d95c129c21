"""Checks of what components return at each boundary the core crosses.

A plugin that returns the wrong thing fails here, with one line naming the plugin (its distribution), the
component, the method, what came back and what was expected, instead of an ``AttributeError`` three calls
later or a misleading evaluation error::

    plugin 'acme-edge' model 'my-net': Model.prepare returned PosixPath, expected an Artifact
    (edgeai_core.api.Artifact) with an IO spec

The checks are cheap (types, lengths, formats); none runs inside the timed benchmark loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edgeai_core.errors import RuntimeFailure

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact, IOSpec
    from edgeai_core.components import Split
    from edgeai_core.records import Registration

ARTIFACT_EXPECTED = "an Artifact (edgeai_core.api.Artifact) with an IO spec"


class ContractError(RuntimeFailure):
    """A component returned something its contract does not allow (exit code 1)."""

    def __init__(self, record: Registration, method: str, got: str, expected: str) -> None:
        self.plugin = record.provider or "unknown"
        self.kind = record.kind
        self.component = record.name
        self.method = method
        self.got = got
        self.expected = expected
        super().__init__(
            f"plugin '{self.plugin}' {self.kind} '{self.component}': {method} returned {got}, expected {expected}"
        )


def _type(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def check_artifact(
    record: Registration, method: str, value: Any, output_format: str | None = None
) -> Artifact:
    """``value`` is an Artifact with an IO spec (in ``output_format`` when given); returned as such."""
    from edgeai_core.artifacts import Artifact, IOSpec

    if not isinstance(value, Artifact):
        raise ContractError(record, method, _type(value), ARTIFACT_EXPECTED)
    if not isinstance(value.io, IOSpec):
        raise ContractError(record, method, f"an Artifact whose io is {_type(value.io)}", ARTIFACT_EXPECTED)
    if output_format is not None and value.format != output_format:
        raise ContractError(
            record,
            method,
            f"an Artifact in format '{value.format}'",
            f"format '{output_format}' (the output format its record declares)",
        )
    return value


def check_split(record: Registration, name: str, value: Any) -> Split:
    """``value`` is a Split whose inputs and targets are arrays of the same length."""
    from edgeai_core.components import Split

    method = f"Dataset.split({name!r})"
    expected = "a Split (edgeai_core.api.Split) whose targets align with its inputs"
    if not isinstance(value, Split):
        raise ContractError(record, method, _type(value), expected)
    if not isinstance(value.inputs, Mapping) or not value.inputs:
        raise ContractError(record, method, f"a Split whose inputs are {_type(value.inputs)}", expected)
    parts: dict[str, Any] = {f"input '{k}'": v for k, v in value.inputs.items()}
    parts["targets"] = value.targets
    for part, array in parts.items():
        if not getattr(array, "shape", None):
            raise ContractError(record, method, f"a Split whose {part} is {_type(array)}", expected)
    targets = len(value.targets)
    for key, array in value.inputs.items():
        inputs = len(array)
        if inputs != targets:
            what = (
                _count(inputs, "input")
                if list(value.inputs) == ["input"]
                else (f"{_count(inputs, 'sample')} of input '{key}'")
            )
            raise ContractError(
                record,
                method,
                f"a Split with {what} and {_count(targets, 'target')}",
                expected,
            )
    return value


def check_outputs(record: Registration, value: Any, io: IOSpec, batch: int) -> list[Any]:
    """``value`` (what ``Runtime.infer`` returned for ``batch`` samples) is a list with one array per output
    of ``io``, the first with one row per sample."""
    method = "Runtime.infer"
    outputs = len(io.outputs)
    expected = f"a list with one array per output ({_count(outputs, 'output')})" if outputs else "a list"
    if not isinstance(value, (list, tuple)):
        raise ContractError(record, method, _type(value), expected)
    if outputs and len(value) != outputs:
        raise ContractError(record, method, f"a list of {_count(len(value), 'item')}", expected)
    for i, array in enumerate(value):
        if not isinstance(getattr(array, "shape", None), tuple):
            raise ContractError(record, method, f"a list whose item {i} is {_type(array)}", expected)
    rows = value[0].shape[0] if value and value[0].shape else None
    if value and rows != batch:  # the first output is what evaluation reads, one row per sample
        name = io.outputs[0].name if outputs else "0"
        got = f"{rows} rows" if rows is not None else "a scalar"
        raise ContractError(
            record, method, f"output '{name}' with {got} for a batch of {batch} samples", "one row per sample"
        )
    return list(value)
