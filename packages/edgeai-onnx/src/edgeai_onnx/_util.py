"""Small helpers shared by the implementation modules; imports neither ``onnx`` nor ``onnxruntime``."""

from __future__ import annotations

import re

from edgeai_core.api import MAX_MESSAGE, shape_text
from edgeai_core.api import condense as _condense

__all__ = ["MAX_MESSAGE", "ORT_DTYPES", "condense", "shape_text"]

#: ONNX Runtime's type strings (``NodeArg.type``) as numpy dtype names used in IO specs.
ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(bfloat16)": "bfloat16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint64)": "uint64",
    "tensor(uint32)": "uint32",
    "tensor(uint16)": "uint16",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}

_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*")
# "/onnxruntime_src/onnxruntime/core/graph/model.cc:256 onnxruntime::Model::Model(onnx::ModelProto&&, ...) ":
# where in ONNX Runtime's C++ sources the error was raised; noise for a user
_CPP_LOCATION = re.compile(r"(?:/[^\s:]+)+\.(?:cc|cpp|h):\d+\s+[\w:~<>]+\([^()]*\)\s*")


def condense(message: object, limit: int = MAX_MESSAGE) -> str:
    """One line from a framework's (often multi-line) error message, for errors that must stay one line.

    ONNX Runtime's ``[ONNXRuntimeError] : 7 : INVALID_PROTOBUF :`` prefix is dropped: the error class
    already says what kind of failure it was.
    """
    return _condense(message, limit, drop=(_ORT_PREFIX, _CPP_LOCATION))
