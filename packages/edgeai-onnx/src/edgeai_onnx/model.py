"""The ``onnx-file`` model: a user's own pre-trained ``.onnx`` file brought into an edgeai pipeline.

The file is validated (``check``: the full ONNX checker where the ``onnx`` package is installed, else, or with
``check = "structure"``, a read of its protobuf structure without any framework; ONNX Runtime then validates the
graph when it loads it), copied into the run's work directory (with its external data files, if any) and
described by an IO spec read from the graph. Parameters select, reorder and pin the
graph's inputs and outputs and record the input normalization the model was trained with
(``metadata["input_normalization"]``, applied to dataset inputs by the core runner).

``task`` and ``postprocess`` declare a detector or segmenter (:func:`edgeai_core.api.declared_task`): the
declaration is checked against the graph's outputs before anything runs and lands in
``metadata["postprocess"]``, which the runner's evaluation decodes the outputs with.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Dataset,
    EdgeaiError,
    IOSpec,
    Model,
    ParameterError,
    TensorSpec,
    declared_task,
    input_normalization,
)
from edgeai_onnx._util import shape_text
from edgeai_onnx.protoread import check_external_locations, io_spec_from_header, read_header

log = logging.getLogger(__name__)

FORMAT = "onnx"


class OnnxFile(Model):
    """Loads (never trains) a model from ``path``."""

    def versions(self) -> dict[str, str]:
        try:
            return {"onnx": importlib.metadata.version("onnx")}
        except importlib.metadata.PackageNotFoundError:
            return {}

    def _full_check(self) -> bool:
        check = self.params["check"]
        if check == "full" and importlib.util.find_spec("onnx") is None:
            raise ParameterError(
                "model.check", "'full' runs the ONNX checker, which needs the onnx package: pip install onnx"
            )
        return check == "full" or (check == "auto" and importlib.util.find_spec("onnx") is not None)

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
        header = read_header(source)  # names the file when it is not ONNX at all
        check_external_locations(source, header.external_data)  # a missing data file: one error naming it
        if self._full_check():
            from edgeai_onnx.checks import io_spec_from_model, validate_onnx

            graph_io = io_spec_from_model(validate_onnx(source))
        else:
            graph_io = io_spec_from_header(header)
        io_spec = self._io_spec(graph_io)
        # task and postprocess: a declaration that does not fit the outputs stops the run here (exit 2)
        p = self.params
        dataset_task = dataset.task if dataset is not None else None
        declared = declared_task(p["task"], p["postprocess"], dataset_task, io_spec, str(source))
        workdir = Path(self.context.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / source.name
        copied = self._copy(source, target, list(header.external_data))
        metadata: dict[str, Any] = {
            "source": str(source),
            "ir_version": header.ir_version,
            "opsets": dict(header.opsets),
            "producer_name": header.producer_name or None,
            "producer_version": header.producer_version or None,
            "check": "onnx checker" if self._full_check() else "structure",
        }
        if copied:
            metadata["external_data"] = copied
        normalization = self._normalization(io_spec)
        if normalization is not None:
            metadata["input_normalization"] = normalization
        metadata.update(declared)
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
