"""Test plugin for tests/compat: a second runtime that loads ``onnx`` artifacts, ``onnx-reference`` (ONNX's
reference evaluator), so ``edgeai grid --runtime`` has a choice. Importable by name, like the testkit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeai_core.api import Artifact, Runtime, RuntimeRecord, hookimpl


class ReferenceRuntime(Runtime):
    def load(self, artifact: Artifact) -> None:
        from onnx.reference import ReferenceEvaluator

        self.evaluator: Any = ReferenceEvaluator(str(artifact.path))
        self.names = list(self.evaluator.input_names)

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(self.evaluator.run(None, dict(zip(self.names, inputs, strict=True))))


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    return [
        RuntimeRecord(
            name="onnx-reference",
            summary="ONNX's reference evaluator (onnx.reference) as a runtime",
            factory="edgeai_compat_reference_runtime:ReferenceRuntime",
            formats=("onnx",),
        )
    ]
