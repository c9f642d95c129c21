"""The ``echo`` runtime: returns its inputs unchanged. A diagnostic for links and harnesses, not a model.

Format ``echo``: any file with a sidecar whose IO spec names the tensors; the file's bytes are never read.
``edgeai serve --runtime echo`` therefore measures the wire protocol itself: ``bench/protocol.py`` uses it
to compare INFER round trips with a raw TCP ping-pong of the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.components import Runtime
from edgeai_core.errors import RuntimeFailure

FORMAT = "echo"


def echo_artifact(path: Path, shapes: Sequence[Sequence[int | None]], dtype: str = "float32") -> Artifact:
    """Write an ``echo`` artifact at ``path`` (its file holds a short note) with inputs of ``shapes``."""
    path = Path(path)
    if not path.exists():
        path.write_bytes(b"edgeai echo model: outputs are the inputs\n")
    inputs = tuple(TensorSpec(f"input{i}", tuple(shape), dtype) for i, shape in enumerate(shapes))
    outputs = tuple(TensorSpec(f"output{i}", tuple(shape), dtype) for i, shape in enumerate(shapes))
    return Artifact(path, FORMAT, IOSpec(inputs, outputs), producer="runtime:echo").save()


class EchoRuntime(Runtime):
    """Outputs are the inputs (the same arrays: nothing is copied)."""

    _io: IOSpec

    @property
    def io(self) -> IOSpec:
        return self._io

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def load(self, artifact: Artifact) -> None:
        if artifact.format != FORMAT:
            raise RuntimeFailure(f"runtime echo loads {FORMAT} artifacts, not {artifact.format}")
        self._io = artifact.io

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return list(inputs)

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        outputs = list(inputs)
        return lambda: outputs
