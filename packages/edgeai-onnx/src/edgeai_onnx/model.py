"""The ``onnx-file`` model: a user's own pre-trained ``.onnx`` file brought into an edgeai pipeline.

The file is validated with the full ONNX checker, copied into the run's work directory (with its external
data files, if any) and described by an IO spec read from the graph. Parameters select, reorder and pin the
graph's inputs and outputs and record the input normalization the model was trained with
(``metadata["input_normalization"]``, applied to dataset inputs by the core runner).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

import onnx

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Dataset,
    EdgeaiError,
    IOSpec,
    Model,
    ParameterError,
    TensorSpec,
    input_normalization,
)
from edgeai_onnx._util import shape_text
from edgeai_onnx.checks import external_data_files, io_spec_from_model, validate_onnx

log = logging.getLogger(__name__)

FORMAT = "onnx"


class OnnxFile(Model):
    """Loads (never trains) a model from ``path``."""

    def versions(self) -> dict[str, str]:
        return {"onnx": onnx.__version__}

    def train(self, dataset: Dataset) -> Artifact:
        raise EdgeaiError(
            "model onnx-file loads a pre-trained .onnx file and cannot be trained; use `edgeai run` with "
            "model.path set"
        )

    def prepare(self, dataset: Dataset | None) -> Artifact:
        source = Path(self.params["path"]).expanduser()
        if not source.is_file():
            what = "is not a file" if source.exists() else "does not exist"
            raise ArtifactError(f"model.path: {source} {what}; give the path of your .onnx model file")
        model = validate_onnx(source)  # a missing external data file is one error naming it
        workdir = Path(self.context.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / source.name
        # validate_onnx loads external data inline: read where it lives from the file itself
        external = external_data_files(onnx.load(str(source), load_external_data=False))
        copied = self._copy(source, target, external)
        io_spec = self._io_spec(io_spec_from_model(model))
        metadata: dict[str, Any] = {
            "source": str(source),
            "ir_version": int(model.ir_version),
            "opsets": {(o.domain or "ai.onnx"): int(o.version) for o in model.opset_import},
            "producer_name": model.producer_name or None,
            "producer_version": model.producer_version or None,
        }
        if copied:
            metadata["external_data"] = copied
        normalization = self._normalization(io_spec)
        if normalization is not None:
            metadata["input_normalization"] = normalization
        return self.save_artifact(target, FORMAT, io_spec, metadata, files=copied)

    # -- files ---------------------------------------------------------------------------------------

    @staticmethod
    def _copy(source: Path, target: Path, external: list[str]) -> list[str]:
        """Copy the model and the external data files it names (kept at the same relative paths)."""
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        for location in external:
            relative = PurePosixPath(location)
            if relative.is_absolute() or ".." in relative.parts:
                raise ArtifactError(
                    f"model.path: {source} keeps tensor data in '{location}', outside its folder; "
                    "save the model with its external data next to it (or as a single file)"
                )
            data = source.parent / relative
            if not data.is_file():
                raise ArtifactError(
                    f"model.path: {source} needs its external data file {data}, which is missing"
                )
            destination = target.parent / relative
            if data.resolve() != destination.resolve():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(data, destination)
        return external

    # -- IO spec -------------------------------------------------------------------------------------

    def _io_spec(self, graph: IOSpec) -> IOSpec:
        p = self.params
        inputs = _select(graph.inputs, p["input_names"], "input_names", "input")
        outputs = _select(graph.outputs, p["output_names"], "output_names", "output")
        first = inputs[0]
        if p["input_shape"] is not None:
            first = replace(first, shape=_override_shape(first, p["input_shape"]))
        if p["layout"] is not None:
            if len(first.shape) != 4:
                raise ParameterError(
                    "model.layout",
                    f"{p['layout']} describes 4-d image inputs, but input '{first.name}' has shape "
                    f"{shape_text(first.shape)}",
                )
            first = replace(first, layout=p["layout"])
        return IOSpec(inputs=(first, *inputs[1:]), outputs=outputs)

    def _normalization(self, io_spec: IOSpec) -> dict[str, Any] | None:
        p = self.params
        return input_normalization(io_spec.inputs[0], p["layout"], p["mean"], p["std"])


def _select(
    tensors: tuple[TensorSpec, ...], names: list[str] | None, param: str, kind: str
) -> tuple[TensorSpec, ...]:
    """The graph's tensors named in ``names``, in that order (all of them when ``names`` is None)."""
    if names is None:
        return tensors
    if not names:
        raise ParameterError(f"model.{param}", f"must name at least one {kind}")
    by_name = {t.name: t for t in tensors}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ParameterError(
            f"model.{param}",
            f"the graph has no {kind} named {', '.join(repr(n) for n in unknown)} "
            f"(its {kind}s: {', '.join(by_name)})",
        )
    if len(set(names)) != len(names):
        raise ParameterError(f"model.{param}", "names a tensor twice")
    return tuple(by_name[n] for n in names)


def _override_shape(spec: TensorSpec, shape: list[int]) -> tuple[int, ...]:
    """``input_shape`` in place of the graph's shape; it may pin symbolic dimensions but not change fixed ones."""
    if len(shape) != len(spec.shape):
        raise ParameterError(
            "model.input_shape",
            f"has {len(shape)} dimensions, but input '{spec.name}' has rank {len(spec.shape)} "
            f"(shape {shape_text(spec.shape)}); include the batch dimension",
        )
    clashes = [
        i
        for i, (fixed, given) in enumerate(zip(spec.shape, shape, strict=True))
        if fixed not in (None, given)
    ]
    if clashes:
        raise ParameterError(
            "model.input_shape",
            f"{shape_text(tuple(shape))} contradicts the fixed dimension(s) {clashes} of input '{spec.name}' "
            f"{shape_text(spec.shape)}",
        )
    return tuple(shape)
