"""The ``tflite-file`` model: a user's own ``.tflite`` file brought into an edgeai pipeline, without TensorFlow.

The file is opened with the TFLite interpreter (which validates the flatbuffer), copied into the run's work
directory and described by an IO spec read from the interpreter, quantization parameters included. ``mean`` and
``std`` record the input normalization the model was trained with (applied to the dataset by the core runner).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from edgeai_core.api import Artifact, ArtifactError, Dataset, EdgeaiError, Model, declared_task
from edgeai_tflite import TFLITE
from edgeai_tflite._util import condense, default_layout, input_normalization, with_layout
from edgeai_tflite.interpreters import Backend, load_backend
from edgeai_tflite.iospec import io_spec

log = logging.getLogger(__name__)


def read_io_spec(path: Path, backend: Backend | None = None) -> Any:
    """The IO spec of a ``.tflite`` file; a file the interpreter rejects is an ArtifactError."""
    backend = backend or load_backend("auto")
    try:
        interpreter = backend.interpreter_class(
            model_path=str(path), experimental_op_resolver_type=backend.op_resolver(False)
        )
    except Exception as exc:
        raise ArtifactError(f"{path} is not a valid TFLite model: {condense(exc)}") from None
    return io_spec(interpreter)


class TfliteFile(Model):
    """Loads (never trains) a model from ``path``."""

    _backend: Backend | None = None

    def versions(self) -> dict[str, str]:
        return {self._backend.name: self._backend.version} if self._backend else {}

    def train(self, dataset: Dataset) -> Artifact:
        raise EdgeaiError(
            "model tflite-file loads a converted .tflite file and cannot be trained; use `edgeai run` with "
            "model.path set"
        )

    def prepare(self, dataset: Dataset | None) -> Artifact:
        p = self.params
        source = Path(p["path"]).expanduser()
        if not source.is_file():
            what = "is not a file" if source.exists() else "does not exist"
            raise ArtifactError(f"model.path: {source} {what}; give the path of your .tflite model file")
        self._backend = load_backend("auto")
        spec = read_io_spec(source, self._backend)
        layout = default_layout(spec, p["layout"])
        spec = with_layout(spec, layout)
        # task and postprocess: a declaration that does not fit the outputs stops the run here (exit 2)
        dataset_task = dataset.task if dataset is not None else None
        declared = declared_task(p["task"], p["postprocess"], dataset_task, spec, str(source))
        workdir = Path(self.context.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / (source.name if source.suffix == ".tflite" else f"{source.name}.tflite")
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        metadata: dict[str, Any] = {"source": str(source)}
        normalization = (
            input_normalization(spec.inputs[0], layout, p["mean"], p["std"]) if spec.inputs else None
        )
        if normalization is not None:
            metadata["input_normalization"] = normalization
        metadata.update(declared)
        return self.save_artifact(target, TFLITE, spec, metadata)
