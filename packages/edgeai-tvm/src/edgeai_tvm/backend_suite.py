"""The ``tvm`` backend of ``edgeai onnx-backend-tests``: ONNX's backend test data through edgeai-tvm's road.

Each case goes through the ``tvm`` compiler component (ONNX -> Relax frontend -> graph passes -> ``tvm.compile``
for this machine's ``llvm`` -> ``export_library`` linked by g++) and runs in the ``tvm`` runtime component
(Relax VM over the exported library), exactly as a pipeline would. One difference: the compiler's ``batch``
parameter fixes the first dimension of *every* input to one number, which suits models but not operator tests
whose inputs have different leading dimensions (``(2, 3) @ (3, 4)``); here every input keeps the exact shape of
the case's data instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import (
    DTYPES,
    Artifact,
    ArtifactError,
    BackendSession,
    Context,
    IOSpec,
    OnnxBackend,
    TensorSpec,
)
from edgeai_tvm.compiler import TvmCompiler
from edgeai_tvm.runtime import TvmRuntime


class _ExactShapeCompiler(TvmCompiler):
    """The ``tvm`` compiler with every input's shape taken as given (no batch dimension to set)."""

    def _shapes(self, inputs: Sequence[TensorSpec]) -> tuple[dict[str, list[Any]], dict[str, str]]:
        shapes: dict[str, list[Any]] = {}
        for spec in inputs:
            if not all(isinstance(d, int) and d >= 0 for d in spec.shape):
                raise ArtifactError(f"input '{spec.name}' has no fixed shape: {spec.shape}")
            shapes[spec.name] = list(spec.shape)
        return shapes, {spec.name: spec.dtype for spec in inputs}

    def _io_spec(self, mod: Any, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> IOSpec:
        io = super()._io_spec(mod, inputs, outputs)
        return IOSpec(tuple(inputs), io.outputs)


def _records() -> tuple[Any, Any]:
    from edgeai_tvm.plugin import edgeai_register_compilers, edgeai_register_runtimes

    compiler = next(r for r in edgeai_register_compilers() if r.name == "tvm")
    runtime = next(r for r in edgeai_register_runtimes() if r.name == "tvm")
    return compiler, runtime


def _io_spec(path: Path, inputs: Sequence[Any]) -> IOSpec:
    """The graph's inputs (initializers excluded) with the case's shapes and dtypes, and its outputs."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    names = [v.name for v in model.graph.input if v.name not in initializers]
    if len(names) != len(inputs):
        raise ArtifactError(f"the graph has {len(names)} input(s), the case gives {len(inputs)}")
    specs = []
    for name, value in zip(names, inputs, strict=True):
        if not isinstance(value, np.ndarray):
            raise ArtifactError(
                f"input '{name}' is a {type(value).__name__}, not a tensor; edgeai-tvm feeds tensors"
            )
        if value.dtype.name not in DTYPES:
            raise ArtifactError(
                f"input '{name}' has element type {value.dtype.name}, which edgeai-tvm cannot feed"
            )
        specs.append(TensorSpec(name, tuple(int(d) for d in value.shape), value.dtype.name))
    outputs = []
    for value in model.graph.output:
        tensor = value.type.tensor_type
        if value.type.WhichOneof("value") != "tensor_type":
            raise ArtifactError(f"output '{value.name}' is not a tensor; edgeai-tvm returns tensors")
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim)
        outputs.append(TensorSpec(value.name, shape, dtype if dtype in DTYPES else "float32"))
    return IOSpec(tuple(specs), tuple(outputs))


class _Session(BackendSession):
    def __init__(self, runtime: TvmRuntime) -> None:
        self.runtime = runtime

    def run(self, inputs: Sequence[Any]) -> list[Any]:
        return list(self.runtime.infer(list(inputs)))

    def bind(self, inputs: Sequence[Any]) -> Callable[[], Any]:
        return self.runtime.bind(list(inputs))

    def close(self) -> None:
        self.runtime.close()


class TvmBackend(OnnxBackend):
    """Compile with the ``tvm`` compiler (llvm, this machine) and run with the ``tvm`` runtime."""

    def versions(self) -> dict[str, str]:
        import tvm

        return {"tvm": str(tvm.__version__)}

    def prepare(self, path: Path, inputs: Sequence[Any]) -> BackendSession:
        compiler_record, runtime_record = _records()
        workdir = Path(self.context.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        io = _io_spec(path, inputs)
        compiler = _ExactShapeCompiler(
            record=compiler_record,
            params=compiler_record.params.validate(
                {"target": "llvm", "opt_level": self.params["opt_level"]}, "onnx backend tvm"
            ),
            context=Context(workdir=workdir / "compiler", seed=self.context.seed),
        )
        library = compiler.compile(Artifact(path, "onnx", io, producer="onnx-backend-tests"), None)
        runtime = TvmRuntime(
            record=runtime_record,
            params=runtime_record.params.validate({"threads": self.params["threads"]}, "onnx backend tvm"),
            context=Context(workdir=workdir / "runtime", seed=self.context.seed),
        )
        runtime.load(library)
        return _Session(runtime)
