"""Shared fixtures of the edgeai-tvm tests: a plugin host with the real first-party plugins, the digits CNN as
ONNX (float and static QDQ int8) and its TVM libraries, each built once per session.

The full TVM (compiler) is imported first, at session start: the runtime imports TVM's runtime library alone
when TVM is not loaded yet, after which a process cannot compile any more.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tvm")
pytest.importorskip("onnx")

REQUIRED_PLUGINS = ("edgeai_datasets", "edgeai_torch", "edgeai_onnx")


@pytest.fixture(scope="session", autouse=True)
def full_tvm() -> Iterator[None]:
    """Import the compiler (full TVM) before any test could import TVM's runtime library alone."""
    import edgeai_tvm.compiler  # noqa: F401

    yield


def _register(host: Any, name: str, module: Any) -> None:
    host.register(module, name=name, distribution=f"edgeai-{name}", version="0.1.0")


@pytest.fixture(scope="session")
def host() -> Any:
    """A plugin host with the core's built-ins, edgeai-tvm and (when installed) datasets, torch and onnx."""
    import importlib

    import edgeai_core.plugin
    import edgeai_tvm.plugin
    from edgeai_core.plugins import PluginHost

    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    _register(host, "tvm", edgeai_tvm.plugin)
    for short in ("datasets", "torch", "onnx"):
        try:
            _register(host, short, importlib.import_module(f"edgeai_{short}.plugin"))
        except ImportError:
            continue
    return host


def needs_plugins() -> None:
    for module in REQUIRED_PLUGINS:
        pytest.importorskip(module, reason=f"needs {module.replace('_', '-')} (the digits CNN road)")
    pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def build(host: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``build(kind, name, **params)``: a component with its own work folder."""
    from edgeai_core.components import Context

    counter = iter(range(10_000))

    def make(kind: str, name: str, *, seed: int = 0, **params: Any) -> Any:
        work = tmp_path_factory.mktemp(f"{next(counter):03d}-{kind}-{name}")
        return host.get(kind, name).create(params, where=kind, context=Context(workdir=work, seed=seed))

    return make


@pytest.fixture(scope="session")
def digits(build: Any) -> Any:
    needs_plugins()
    dataset = build("dataset", "digits")
    dataset.prepare()
    return dataset


@pytest.fixture(scope="session")
def checkpoint(build: Any, digits: Any) -> Any:
    """The demo's CNN: digits-cnn trained 30 epochs on the digits (about 0.97 test accuracy)."""
    return build("model", "digits-cnn", epochs=30).prepare(digits)


@pytest.fixture(scope="session")
def onnx_float(build: Any, checkpoint: Any) -> Any:
    return build("converter", "torch-to-onnx").convert(checkpoint)


@pytest.fixture(scope="session")
def onnx_int8(build: Any, onnx_float: Any, digits: Any) -> Any:
    return build("compiler", "onnx-quantize", mode="static").compile(onnx_float, digits)


@pytest.fixture(scope="session")
def tvm_float(build: Any, onnx_float: Any) -> Any:
    """The float CNN compiled for this machine, dynamic batch (evaluates the whole test split in one call)."""
    return build("compiler", "tvm", batch="dynamic").compile(onnx_float, None)


@pytest.fixture(scope="session")
def tvm_float_b1(build: Any, onnx_float: Any) -> Any:
    """The float CNN compiled with the default static batch of 1 (what the demo runs)."""
    return build("compiler", "tvm").compile(onnx_float, None)


@pytest.fixture(scope="session")
def tvm_int8(build: Any, onnx_int8: Any) -> Any:
    return build("compiler", "tvm", batch="dynamic").compile(onnx_int8, None)


@pytest.fixture(scope="session")
def test_split(digits: Any) -> Any:
    return digits.split("test")


def ort_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    """ONNX Runtime's logits for ``x`` (1 thread, all optimizations): the reference."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0])


@pytest.fixture(scope="session")
def ort_reference() -> Any:
    return ort_outputs


@pytest.fixture
def run_tvm(build: Any) -> Any:
    """``run_tvm(artifact, inputs, **params)``: outputs of the tvm runtime (loaded, run once, closed)."""

    def run(artifact: Any, x: np.ndarray, **params: Any) -> np.ndarray:
        runtime = build("runtime", "tvm", **params)
        runtime.load(artifact)
        try:
            return runtime.infer([x])[0]
        finally:
            runtime.close()

    return run


def tiny_onnx(
    path: Path, batch: int | str = "batch", ops: tuple[str, ...] = ("MatMul", "Add", "Relu")
) -> Path:
    """``y = relu(x @ W + b)`` with x of shape (batch, 16): a graph small enough to tune in seconds."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "B")
    nodes, current = [], "x"
    for i, op in enumerate(ops):
        inputs = [current, "W"] if op == "MatMul" else [current, "B"] if op == "Add" else [current]
        current = "y" if i == len(ops) - 1 else f"t{i}"
        nodes.append(helper.make_node(op, inputs, [current]))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8])],
        [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def tiny_artifact(
    path: Path, batch: int | None = None, ops: tuple[str, ...] = ("MatMul", "Add", "Relu")
) -> Any:
    from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec

    tiny_onnx(path, batch if batch is not None else "batch", ops)
    io = IOSpec((TensorSpec("x", (batch, 16), "float32"),), (TensorSpec("y", (batch, 8), "float32"),))
    return Artifact(path, "onnx", io).save()


def tiny_reference(x: np.ndarray) -> np.ndarray:
    """What the tiny graph computes, in numpy (the same seeded weights)."""
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((16, 8)).astype(np.float32)
    bias = rng.standard_normal(8).astype(np.float32)
    return np.maximum(x @ weights + bias, 0.0)


@pytest.fixture(scope="session")
def tiny() -> Any:
    """The tiny-graph helpers: ``tiny.artifact(path, batch)``, ``tiny.reference(x)``."""

    class Tiny:
        artifact = staticmethod(tiny_artifact)
        reference = staticmethod(tiny_reference)
        onnx = staticmethod(tiny_onnx)

    return Tiny
