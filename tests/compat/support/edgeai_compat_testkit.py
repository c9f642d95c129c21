"""Test plugin for tests/compat: a grid suite and an ONNX backend that misbehave on purpose.

Importable by name (tests/compat/conftest.py puts this folder on sys.path), so the grid's and the backend suite's
worker processes, which rebuild the plugin host from module names, load it too.

* grid suite ``testkit`` (framework ``numpy``): numpy models exported with onnx.helper. ``relu`` is correct,
  ``wrong-export`` exports the wrong function, ``export-fails`` raises, ``crash`` kills its process with
  SIGSEGV during export and ``hang`` sleeps through the grid's timeout. Import back is ONNX's reference
  evaluator.
* ONNX backend ``reference``: ONNX's reference evaluator (``onnx.reference``), which crashes (SIGSEGV) on the
  case named in its ``crash_on`` parameter.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import (
    BackendSession,
    GridModel,
    GridSuite,
    GridSuiteRecord,
    OnnxBackend,
    OnnxBackendRecord,
    Param,
    Prepared,
    hookimpl,
)

IR_VERSION = 8  # onnx 1.23 writes IR 14 by default, which onnxruntime 1.31 rejects
OPSET = 17
SHAPE = (2, 3, 4)

#: In this order, so a model runs right after each crash and hang (in a fresh worker)
MODELS = {
    "crash": "an exporter that kills its process (SIGSEGV)",
    "relu": "relu, exported as Relu",
    "hang": "an exporter that never returns",
    "wrong-export": "relu, exported as Sigmoid (the numbers disagree)",
    "export-fails": "an exporter that raises",
}


def _write(op: str, path: Path) -> None:
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, *SHAPE[1:]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, *SHAPE[1:]])
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"])], "testkit", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    save(model, str(path))


class NumpySuite(GridSuite):
    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def models(self) -> list[GridModel]:
        return [GridModel(name, summary, "layer") for name, summary in MODELS.items()]

    def build(self, name: str, seed: int) -> Prepared:
        x = np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)
        return Prepared(name, [x])

    def run(self, prepared: Prepared, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.maximum(inputs[0], 0)]

    def export(self, prepared: Prepared, path: Path) -> dict[str, Any]:
        name = prepared.native
        if name == "export-fails":
            raise RuntimeError("the testkit exporter has no rule for this model\nsecond line of the error")
        if name == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if name == "hang":
            time.sleep(600)
        _write("Sigmoid" if name == "wrong-export" else "Relu", path)
        return {"exporter": "onnx.helper"}

    def import_onnx(self, path: Path, prepared: Prepared) -> Any:
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(str(path))

    def run_imported(
        self, imported: Any, prepared: Prepared, inputs: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        return list(imported.run(None, {"x": inputs[0]}))


class _ReferenceSession(BackendSession):
    def __init__(self, evaluator: Any) -> None:
        self.evaluator = evaluator
        self.names = list(evaluator.input_names)

    def run(self, inputs: Sequence[Any]) -> list[Any]:
        return list(self.evaluator.run(None, dict(zip(self.names, inputs, strict=True))))


class ReferenceBackend(OnnxBackend):
    def versions(self) -> dict[str, str]:
        import onnx

        return {"onnx": onnx.__version__}

    def prepare(self, path: Path, inputs: Sequence[Any]) -> BackendSession:
        from onnx.reference import ReferenceEvaluator

        if self.params["crash_on"] and Path(self.context.workdir).name == self.params["crash_on"]:
            os.kill(os.getpid(), signal.SIGSEGV)
        return _ReferenceSession(ReferenceEvaluator(str(path)))


def _named(name: str, summary: str, impl: str) -> dict[str, str]:
    """The name, summary and factory (the class ``impl`` of this module) of a record."""
    return {"name": name, "summary": summary, "factory": f"edgeai_compat_testkit:{impl}"}


@hookimpl
def edgeai_register_grid_suites() -> list[GridSuiteRecord]:
    named = _named("testkit", "numpy models that misbehave on purpose", "NumpySuite")
    return [GridSuiteRecord(**named, framework="numpy", converter="testkit-to-onnx")]


@hookimpl
def edgeai_register_onnx_backends() -> list[OnnxBackendRecord]:
    crash_on = Param("crash_on", "str", default=None, help="crash (SIGSEGV) when preparing this case")
    named = _named("reference", "ONNX's reference evaluator (onnx.reference)", "ReferenceBackend")
    return [OnnxBackendRecord(**named, uses=(), params=(crash_on,))]
