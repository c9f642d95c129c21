"""Tensors on the wire: a compact binary header per tensor, then its raw bytes. Never pickle.

A tensor list is ``u32 count, u32 reserved`` and then, per tensor, ``u8 dtype, u8 ndim, u16 reserved,
u32 dims[ndim]`` padded with zeros to a multiple of 8 bytes, followed by the data (C order, little-endian)
padded to a multiple of 8 bytes. Every tensor's data therefore starts 8-byte aligned when the payload does,
which lets a microcontroller read floats in place and lets numpy wrap them without copying.

Encoding returns a list of buffers for scatter-gather sends (the array's own memory is one of them);
decoding returns arrays that view the payload buffer (``copy=True`` detaches them).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from edgeai_core.wire.framing import ErrorCode, WireError

#: dtype codes (u8) and their numpy names. Gaps are reserved (4 for bfloat16).
DTYPE_CODES: dict[int, str] = {
    1: "float32",
    2: "float64",
    3: "float16",
    5: "int8",
    6: "int16",
    7: "int32",
    8: "int64",
    9: "uint8",
    10: "uint16",
    11: "uint32",
    12: "uint64",
    13: "bool",
}
_CODE_OF: dict[np.dtype, int] = {np.dtype(name).newbyteorder("<"): code for code, name in DTYPE_CODES.items()}
_DTYPE_OF: dict[int, np.dtype] = {
    code: np.dtype(name).newbyteorder("<") for code, name in DTYPE_CODES.items()
}
for _code, _name in DTYPE_CODES.items():  # native-order lookups too (the same on little-endian machines)
    _CODE_OF.setdefault(np.dtype(_name), _code)

#: At most this many tensors in one message, and this many dimensions per tensor.
MAX_TENSORS = 64
MAX_NDIM = 8

_LIST_HEAD = struct.Struct("<II")
_TENSOR_HEAD = struct.Struct("<BBH")
_U32 = struct.Struct("<I")
_ZEROS = bytes(8)
_DIMS = [struct.Struct(f"<{n}I") for n in range(MAX_NDIM + 1)]
_LIST_HEADS = [_LIST_HEAD.pack(n, 0) for n in range(MAX_TENSORS + 1)]


def _header_size(ndim: int) -> int:
    return (4 + 4 * ndim + 7) & ~7


def _byte_view(array: np.ndarray) -> memoryview:
    if array.ndim:
        return array.data.cast("B")
    return array.reshape(-1).view(np.uint8).data


#: Tensor headers by (dtype, shape): a runtime returns the same shapes call after call.
_HEAD_CACHE: dict[tuple[np.dtype, tuple[int, ...]], tuple[bytes, bytes, int]] = {}


def _tensor_head(dtype: np.dtype, shape: tuple[int, ...]) -> tuple[bytes, bytes, int]:
    """(header bytes, data padding bytes, data bytes) of a tensor, cached."""
    key = (dtype, shape)
    cached = _HEAD_CACHE.get(key)
    if cached is not None:
        return cached
    ndim = len(shape)
    if ndim > MAX_NDIM:
        raise ValueError(f"at most {MAX_NDIM} dimensions per tensor, got shape {shape}")
    head = _TENSOR_HEAD.pack(_CODE_OF[dtype], ndim, 0) + _DIMS[ndim].pack(*shape)
    if ndim % 2 == 0:
        head += b"\0\0\0\0"
    nbytes = dtype.itemsize
    for d in shape:
        nbytes *= d
    if len(_HEAD_CACHE) > 4096:
        _HEAD_CACHE.clear()
    cached = _HEAD_CACHE[key] = (head, _ZEROS[: (8 - (nbytes & 7)) & 7], nbytes)
    return cached


def encode_tensors(arrays: Sequence[np.ndarray]) -> list[bytes | memoryview]:
    """Buffers whose concatenation is the tensor list (the arrays' data is referenced, not copied).

    Arrays are made C-contiguous and little-endian first (a copy only when they are not already).
    """
    count = len(arrays)
    if count > MAX_TENSORS:
        raise ValueError(f"at most {MAX_TENSORS} tensors per message, got {count}")
    parts: list[bytes | memoryview] = []
    append = parts.append
    small = _LIST_HEADS[count]  # bytes waiting to be sent: headers and padding are joined, data is not
    for raw in arrays:
        array = raw if type(raw) is np.ndarray else np.asarray(raw)
        cached = _HEAD_CACHE.get((array.dtype, array.shape))
        if cached is None or not array.flags.c_contiguous:
            if array.dtype not in _CODE_OF:
                array = _convert(array)
            if not array.flags.c_contiguous:
                array = np.ascontiguousarray(array)
            cached = _tensor_head(array.dtype, array.shape)
        head, pad, nbytes = cached
        small += head
        if nbytes:
            append(small)
            append(array.data.cast("B") if array.ndim else _byte_view(array))
            small = pad
    if small:
        append(small)
    return parts


def _convert(array: np.ndarray) -> np.ndarray:
    dtype = array.dtype
    if dtype.byteorder == ">":
        little = dtype.newbyteorder("<")
        if little in _CODE_OF:
            return array.astype(little)
    raise ValueError(
        f"dtype {dtype} cannot travel on the wire (supported: {', '.join(sorted(set(DTYPE_CODES.values())))})"
    )


def encoded_size(parts: Sequence[bytes | memoryview]) -> int:
    return sum(len(p) for p in parts)


def decode_tensors(
    payload: bytes | bytearray | memoryview, offset: int = 0, *, copy: bool = False
) -> list[np.ndarray]:
    """Arrays from a tensor list starting at ``offset``; the list must end exactly at the payload's end.

    Raises :class:`WireError` (``BAD_PAYLOAD``) naming what is wrong. Without ``copy`` the arrays view
    ``payload`` (writable when it is a bytearray).
    """
    view = payload if isinstance(payload, memoryview) else memoryview(payload)
    end = len(view)
    if end - offset < 8:
        raise WireError(ErrorCode.BAD_PAYLOAD, "tensor list: truncated before its 8-byte header")
    count, reserved = _LIST_HEAD.unpack_from(view, offset)
    if reserved:
        raise WireError(ErrorCode.BAD_PAYLOAD, "tensor list: reserved field is not 0")
    if count > MAX_TENSORS:
        raise WireError(ErrorCode.BAD_PAYLOAD, f"tensor list: {count} tensors, at most {MAX_TENSORS}")
    pos = offset + 8
    arrays: list[np.ndarray] = []
    for index in range(count):
        if end - pos < 4:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"tensor {index}: truncated header")
        code, ndim, reserved = _TENSOR_HEAD.unpack_from(view, pos)
        dtype = _DTYPE_OF.get(code)
        if dtype is None:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"tensor {index}: unknown dtype code {code}")
        if ndim > MAX_NDIM or reserved:
            raise WireError(
                ErrorCode.BAD_PAYLOAD, f"tensor {index}: ndim {ndim} (at most {MAX_NDIM}) or reserved bits"
            )
        head = _header_size(ndim)
        if end - pos < head:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"tensor {index}: truncated dimensions")
        dims = _DIMS[ndim].unpack_from(view, pos + 4)
        if ndim % 2 == 0 and _U32.unpack_from(view, pos + 4 + 4 * ndim)[0]:
            raise WireError(ErrorCode.BAD_PAYLOAD, f"tensor {index}: header padding is not 0")
        pos += head
        count_items = 1
        for d in dims:
            count_items *= d
        nbytes = count_items * dtype.itemsize
        padded = (nbytes + 7) & ~7
        if padded > end - pos:
            raise WireError(
                ErrorCode.BAD_PAYLOAD,
                f"tensor {index}: shape {tuple(dims)} of {dtype.name} needs {nbytes} bytes, "
                f"{max(0, end - pos)} remain",
            )
        array = np.frombuffer(view, dtype, count_items, pos).reshape(dims)
        arrays.append(array.copy() if copy else array)
        pos += padded
    if pos != end:
        raise WireError(ErrorCode.BAD_PAYLOAD, f"tensor list: {end - pos} bytes after the last tensor")
    return arrays


class TensorLayout:
    """Where each tensor of a decoded list sits in its payload, so the next payload of the same layout
    (a benchmark sends one layout again and again) is wrapped without parsing: :meth:`matches` compares
    the header bytes, :meth:`arrays` makes the views."""

    __slots__ = ("arrays_at", "head", "head_end", "heads", "length", "single")

    def __init__(self, payload: bytes | bytearray | memoryview, arrays: list[np.ndarray]) -> None:
        view = payload if isinstance(payload, memoryview) else memoryview(payload)
        self.length = len(view)
        ranges = [(0, 8)]
        self.arrays_at: list[tuple[np.dtype, int, int, tuple[int, ...]]] = []
        pos = 8
        for array in arrays:
            head = _header_size(array.ndim)
            if ranges[-1][1] == pos:  # adjacent header bytes are compared in one go
                ranges[-1] = (ranges[-1][0], pos + head)
            else:
                ranges.append((pos, pos + head))
            pos += head
            self.arrays_at.append((array.dtype, array.size, pos, array.shape))
            pos += (array.nbytes + 7) & ~7
        self.heads = [(start, end, bytes(view[start:end])) for start, end in ranges[1:]]
        self.head_end = ranges[0][1]
        self.head = bytes(view[: self.head_end])  # the list header and the first tensor's, in one piece
        #: (dtype, count, offset, shape) when the list holds one tensor: the common case, checked inline
        self.single = self.arrays_at[0] if len(self.arrays_at) == 1 else None

    def matches(self, payload: memoryview) -> bool:
        if len(payload) != self.length or payload[: self.head_end] != self.head:
            return False
        return all(payload[start:end] == head for start, end, head in self.heads)

    def arrays(self, payload: memoryview) -> list[np.ndarray]:
        frombuffer = np.frombuffer
        return [frombuffer(payload, dtype, n, pos).reshape(shape) for dtype, n, pos, shape in self.arrays_at]
