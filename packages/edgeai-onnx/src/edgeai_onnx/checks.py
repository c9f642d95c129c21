"""ONNX model validation and IO specs read from a graph (needs the ``onnx`` package: ``edgeai-onnx[compile]``).

Every component that accepts a user's or another plugin's ``.onnx`` file validates it here first, so a bad
file fails with one line naming the file and the checker's reason instead of a C++ stack from deep inside a
quantizer or a session.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
import onnx

from edgeai_core.api import DTYPES, ArtifactError, IOSpec, TensorSpec, existing_file
from edgeai_onnx._util import condense
from edgeai_onnx.protoread import check_external_locations

log = logging.getLogger(__name__)

_PROTOBUF_LIMIT = 2**31 - 1  # bytes: protobuf cannot serialize a larger message

__all__ = ["check_external_data", "external_data_files", "io_spec_from_model", "tensor_spec", "validate_onnx"]


def _invalid(path: Path, reason: object) -> ArtifactError:
    return ArtifactError(f"{path} is not a valid ONNX model: {condense(reason)}")


def validate_onnx(path: str | os.PathLike[str]) -> onnx.ModelProto:
    """Check ``path`` with the full ONNX checker (strict shape inference included) and return the model with
    inferred shapes in ``graph.value_info``.

    Raises :class:`ArtifactError` with one line ``"<path> is not a valid ONNX model: <reason>"`` for garbage
    bytes, truncated files and graphs the checker rejects. External data next to the file is loaded.
    """
    path = existing_file(path)
    try:
        # parse first: for unparsable bytes the checker only says "Unable to parse proto from file"
        model = onnx.load(str(path), load_external_data=False)
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read: {condense(exc)}") from None
    except Exception as exc:  # protobuf's DecodeError (its module ships no type information)
        reason = re.sub(r"^Error parsing message with type '[\w.]+':\s*", "", condense(exc, 120))
        raise _invalid(
            path,
            f"the file does not parse as an ONNX protobuf ({reason}); it is truncated, corrupt or not ONNX",
        ) from None
    large = model.ByteSize() >= _PROTOBUF_LIMIT
    external = bool(check_external_data(path, model))
    try:
        # models with external data or over 2 GB are checked by path, which the checker handles itself
        onnx.checker.check_model(str(path) if external or large else model, full_check=True)
        if external:
            from onnx.external_data_helper import load_external_data_for_model

            load_external_data_for_model(model, str(path.parent))
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise _invalid(path, exc) from None
    except (OSError, ValueError) as exc:  # external data that went missing between check and load
        raise _invalid(path, exc) from None
    if large or model.ByteSize() >= _PROTOBUF_LIMIT:  # infer_shapes cannot serialize it; the checker passed
        log.info("%s is over 2 GB; skipping the in-memory shape inference", path)
        return model
    try:
        return onnx.shape_inference.infer_shapes(model, check_type=True)
    except (onnx.shape_inference.InferenceError, ValueError) as exc:
        raise _invalid(path, exc) from None


def check_external_data(path: Path, model: onnx.ModelProto) -> list[str]:
    """The external data files ``model`` (read from ``path`` without them) names; each must be a file inside
    the model's folder, else one :class:`ArtifactError` naming the file it needs."""
    return check_external_locations(path, external_data_files(model))


def external_data_files(model: onnx.ModelProto) -> list[str]:
    """The relative file names a model keeps tensor data in (empty for single-file models)."""
    files: list[str] = []
    for tensor in _tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            location = next((e.value for e in tensor.external_data if e.key == "location"), "")
            if location and location not in files:
                files.append(location)
    return files


def _tensors(graph: onnx.GraphProto) -> list[onnx.TensorProto]:
    """Initializers and tensor attributes of ``graph`` and of its subgraphs (If/Loop bodies)."""
    found = list(graph.initializer)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                found.append(attr.t)
            found.extend(attr.tensors)
            if attr.HasField("g"):
                found.extend(_tensors(attr.g))
            for sub in attr.graphs:
                found.extend(_tensors(sub))
    return found


def _dtype_name(elem_type: int, where: str) -> str:
    try:
        name = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        name = (
            onnx.TensorProto.DataType.Name(elem_type)
            if elem_type in onnx.TensorProto.DataType.values()
            else "?"
        )
        raise ArtifactError(
            f"{where} has element type {name}, which edgeai IO specs do not support"
        ) from None
    if name not in DTYPES:
        raise ArtifactError(f"{where} has element type {name}; edgeai IO specs support {', '.join(DTYPES)}")
    return name


def tensor_spec(value: onnx.ValueInfoProto, where: str = "") -> TensorSpec:
    """A graph input or output as a :class:`TensorSpec`: symbolic or unknown dimensions become ``None``."""
    where = where or f"tensor '{value.name}'"
    if value.type.WhichOneof("value") != "tensor_type":
        kind = value.type.WhichOneof("value") or "no type"
        raise ArtifactError(
            f"{where} is a {kind}, not a tensor; edgeai runs models with tensor inputs and outputs"
        )
    tensor = value.type.tensor_type
    dtype = _dtype_name(tensor.elem_type, where)
    if not tensor.HasField("shape"):
        raise ArtifactError(f"{where} has no shape (not even a rank); re-export the model with shapes")
    shape = tuple(
        dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None for dim in tensor.shape.dim
    )
    return TensorSpec(name=value.name, shape=shape, dtype=dtype)


def io_spec_from_model(model: onnx.ModelProto) -> IOSpec:
    """The IO spec of a model's main graph: inputs that are not initializers, then every output."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = tuple(
        tensor_spec(v, f"input '{v.name}'") for v in model.graph.input if v.name not in initializers
    )
    outputs = tuple(tensor_spec(v, f"output '{v.name}'") for v in model.graph.output)
    if not inputs:
        raise ArtifactError("the graph has no inputs besides its initializers")
    if not outputs:
        raise ArtifactError("the graph has no outputs")
    return IOSpec(inputs=inputs, outputs=outputs)
