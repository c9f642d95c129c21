"""Read what edgeai needs from an ``.onnx`` file without the ``onnx`` package.

An ONNX model is a protobuf ``ModelProto``. This module walks the protobuf wire format directly (varints and
length-delimited fields, skipping everything else by its length) and returns the header facts (IR version,
producer, opsets), the main graph's inputs and outputs with their element types and dimensions, the names of
its initializers, and the external data files its tensors name (subgraphs included). Weights are never
decoded, so a 2 GB model is read in milliseconds and no framework is imported: a target device with only
ONNX Runtime installed can still load a user's ``.onnx`` file, and ``edgeai bench`` starts as fast as a bare
ONNX Runtime script. Full validation (the ONNX checker) stays with :func:`edgeai_onnx.checks.validate_onnx`.

Field numbers are those of ``onnx.proto`` (IR version 3 and later); the tests compare every fact with the
``onnx`` package's own parse.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from edgeai_core.api import DTYPES, ArtifactError, IOSpec, TensorSpec, existing_file

#: TensorProto.DataType values -> numpy dtype names (those an edgeai IO spec can carry, and a few more so that
#: an unsupported type is named in the error).
ELEM_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    14: "complex64",
    15: "complex128",
    16: "bfloat16",
}
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: ``elem_type`` is None for non-tensor values (sequences, maps), ``dims`` is None
    when the tensor has no shape, and a dim is an int (fixed), a str (symbolic) or None (unknown)."""

    name: str
    elem_type: int | None
    dims: tuple[int | str | None, ...] | None
    kind: str = "tensor"

    @property
    def dtype(self) -> str:
        return ELEM_TYPES.get(self.elem_type or 0, f"type {self.elem_type}")


@dataclass(frozen=True)
class OnnxHeader:
    """The facts :func:`read_header` returns."""

    ir_version: int = 0
    producer_name: str = ""
    producer_version: str = ""
    opsets: dict[str, int] = field(default_factory=dict)
    inputs: tuple[ValueInfo, ...] = ()
    outputs: tuple[ValueInfo, ...] = ()
    initializers: frozenset[str] = frozenset()
    external_data: tuple[str, ...] = ()
    has_graph: bool = False


def _varint(buf: memoryview | bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise ProtoError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint longer than 10 bytes")


def _fields(buf: memoryview | bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(field number, wire type, value or start, end)``: for varints and fixed-size fields the value
    (end = -1), for length-delimited fields the slice ``[start, end)``."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, -1
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise ProtoError(f"field {number} runs past the end of its message")
            yield number, wire, pos, pos + length
            pos += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise ProtoError(f"field {number} runs past the end of its message")
            yield number, wire, int.from_bytes(buf[pos : pos + size], "little"), -1
            pos += size
        else:
            raise ProtoError(f"wire type {wire} of field {number} is not used by ONNX")


def _text(buf: memoryview | bytes, start: int, end: int) -> str:
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtoError("a string field is not UTF-8") from None


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _dims(buf: memoryview | bytes, start: int, end: int) -> tuple[int | str | None, ...]:
    dims: list[int | str | None] = []
    for number, wire, a, b in _fields(buf, start, end):
        if number != 1 or wire != 2:
            continue
        dim: int | str | None = None
        for n, w, x, y in _fields(buf, a, b):
            if n == 1 and w == 0:
                value = _signed(x)
                dim = value if value > 0 else None
            elif n == 2 and w == 2:
                dim = _text(buf, x, y) or None
        dims.append(dim)
    return tuple(dims)


_TYPE_KINDS = {1: "tensor", 4: "sequence", 5: "map", 8: "sparse tensor", 9: "optional"}


def _value_info(buf: memoryview | bytes, start: int, end: int) -> ValueInfo:
    name, elem_type, dims, kind = "", None, None, "no type"
    for number, wire, a, b in _fields(buf, start, end):
        if number == 1 and wire == 2:
            name = _text(buf, a, b)
        elif number == 2 and wire == 2:
            for n, w, x, y in _fields(buf, a, b):
                if w != 2 or n not in _TYPE_KINDS:
                    continue
                kind = _TYPE_KINDS[n]
                if n != 1:
                    continue
                for n2, w2, p, q in _fields(buf, x, y):
                    if n2 == 1 and w2 == 0:
                        elem_type = p
                    elif n2 == 2 and w2 == 2:
                        dims = _dims(buf, p, q)
    return ValueInfo(name=name, elem_type=elem_type, dims=dims, kind=kind)


def _tensor(buf: memoryview | bytes, start: int, end: int) -> tuple[str, str | None]:
    """A TensorProto's name and, when its data is external, the file it lives in."""
    name, location, external = "", None, False
    for number, wire, a, b in _fields(buf, start, end):
        if number == 8 and wire == 2:
            name = _text(buf, a, b)
        elif number == 14 and wire == 0:
            external = a == _EXTERNAL
        elif number == 13 and wire == 2:
            key = value = ""
            for n, w, x, y in _fields(buf, a, b):
                if n == 1 and w == 2:
                    key = _text(buf, x, y)
                elif n == 2 and w == 2:
                    value = _text(buf, x, y)
            if key == "location":
                location = value
    return name, location if external else None


def _graph_tensors(buf: memoryview | bytes, start: int, end: int, found: list[str]) -> None:
    """Collect external data locations of a graph's initializers and of tensors in node attributes
    (subgraphs of If/Loop/Scan included)."""

    def note(a: int, b: int) -> None:
        _name, location = _tensor(buf, a, b)
        if location and location not in found:
            found.append(location)

    for number, wire, a, b in _fields(buf, start, end):
        if wire != 2:
            continue
        if number == 5:  # initializer
            note(a, b)
        elif number == 1:  # node -> attribute
            for n, w, x, y in _fields(buf, a, b):
                if n != 5 or w != 2:
                    continue
                for n2, w2, p, q in _fields(buf, x, y):
                    if w2 != 2:
                        continue
                    if n2 in (5, 10):  # t, tensors
                        note(p, q)
                    elif n2 in (6, 11):  # g, graphs
                        _graph_tensors(buf, p, q, found)


def parse_header(buf: memoryview | bytes) -> OnnxHeader:
    """Parse the bytes of a ``ModelProto``; :class:`ProtoError` when they are not one."""
    end = len(buf)
    ir_version, producer, producer_version = 0, "", ""
    opsets: dict[str, int] = {}
    inputs: list[ValueInfo] = []
    outputs: list[ValueInfo] = []
    initializers: set[str] = set()
    external: list[str] = []
    has_graph = False
    for number, wire, a, b in _fields(buf, 0, end):
        if number == 1 and wire == 0:
            ir_version = a
        elif number == 2 and wire == 2:
            producer = _text(buf, a, b)
        elif number == 3 and wire == 2:
            producer_version = _text(buf, a, b)
        elif number == 8 and wire == 2:
            domain, version = "", 0
            for n, w, x, y in _fields(buf, a, b):
                if n == 1 and w == 2:
                    domain = _text(buf, x, y)
                elif n == 2 and w == 0:
                    version = _signed(x)
            opsets[domain or "ai.onnx"] = version
        elif number == 7 and wire == 2:
            has_graph = True
            for n, w, x, y in _fields(buf, a, b):
                if w != 2:
                    continue
                if n == 11:
                    inputs.append(_value_info(buf, x, y))
                elif n == 12:
                    outputs.append(_value_info(buf, x, y))
                elif n == 5:
                    initializers.add(_tensor(buf, x, y)[0])
            _graph_tensors(buf, a, b, external)
    return OnnxHeader(
        ir_version=ir_version,
        producer_name=producer,
        producer_version=producer_version,
        opsets=opsets,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        initializers=frozenset(initializers),
        external_data=tuple(external),
        has_graph=has_graph,
    )


def read_header(path: str | os.PathLike[str]) -> OnnxHeader:
    """The header facts of the ``.onnx`` file at ``path``; one :class:`ArtifactError` line naming the file
    when it cannot be read or is not an ONNX model."""
    path = existing_file(path)
    try:
        with Path(path).open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                raise ArtifactError(f"{path} is not a valid ONNX model: the file is empty")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                view = memoryview(mapped)
                try:
                    header = parse_header(view)
                finally:
                    view.release()
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except ProtoError as exc:
        raise ArtifactError(
            f"{path} is not a valid ONNX model: the file does not parse as an ONNX protobuf ({exc}); "
            "it is truncated, corrupt or not ONNX"
        ) from None
    if not header.has_graph or header.ir_version == 0:
        raise ArtifactError(
            f"{path} is not a valid ONNX model: it has no {'graph' if header.ir_version else 'IR version'}; "
            "it is truncated, corrupt or not ONNX"
        )
    return header


def check_external_locations(path: Path, files: tuple[str, ...] | list[str]) -> list[str]:
    """``files`` (external data locations read from the model at ``path``), each checked to be a file inside
    the model's folder; else one :class:`ArtifactError` naming the file the model needs."""
    for location in files:
        relative = PurePosixPath(location)
        if relative.is_absolute() or ".." in relative.parts or "\\" in location:
            raise ArtifactError(
                f"{path} keeps tensor data in '{location}', outside its folder; save the model with its "
                "external data next to it (or as a single file)"
            )
        data = path.parent / relative
        if not data.is_file():
            raise ArtifactError(f"{path} needs its external data file {data}, which is missing")
    return list(files)


def _spec(value: ValueInfo, where: str) -> TensorSpec:
    if value.kind != "tensor":
        raise ArtifactError(
            f"{where} is a {value.kind}, not a tensor; edgeai runs models with tensor inputs and outputs"
        )
    dtype = value.dtype
    if dtype not in DTYPES:
        raise ArtifactError(f"{where} has element type {dtype}; edgeai IO specs support {', '.join(DTYPES)}")
    if value.dims is None:
        raise ArtifactError(f"{where} has no shape (not even a rank); re-export the model with shapes")
    shape = tuple(d if isinstance(d, int) else None for d in value.dims)
    return TensorSpec(name=value.name, shape=shape, dtype=dtype)


def io_spec_from_header(header: OnnxHeader) -> IOSpec:
    """The IO spec of the main graph (inputs that are not initializers, then every output), by the same rules
    and with the same messages as :func:`edgeai_onnx.checks.io_spec_from_model`."""
    inputs = tuple(_spec(v, f"input '{v.name}'") for v in header.inputs if v.name not in header.initializers)
    outputs = tuple(_spec(v, f"output '{v.name}'") for v in header.outputs)
    if not inputs:
        raise ArtifactError("the graph has no inputs besides its initializers")
    if not outputs:
        raise ArtifactError("the graph has no outputs")
    return IOSpec(inputs=inputs, outputs=outputs)
