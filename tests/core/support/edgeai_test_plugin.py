"""A third-party-style plugin used by the core tests (registered in-process, or put on sys.path).

It adds a real converter (npz-mlp -> mlp-json: the weights as JSON) and a runtime for that format, so
the planner's automatic converter insertion is exercised end to end, plus a runtime that fails on
purpose after a number of calls, to test that nothing measured is lost.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from edgeai_core import ConverterRecord, DemoVariant, Param, RuntimeRecord, hookimpl
from edgeai_core.artifacts import Artifact, IOSpec
from edgeai_core.builtins.mlp import NumpyRuntime, _layers, forward, read_npz
from edgeai_core.components import Converter, Runtime
from edgeai_core.errors import RuntimeFailure


class NpzToJson(Converter):
    def convert(self, artifact: Artifact) -> Artifact:
        layers = _layers(read_npz(artifact.path))
        path = self.context.workdir / "model.json"
        path.write_text(json.dumps([[w.tolist(), b.tolist()] for w, b in layers]))
        return Artifact(path, "mlp-json", artifact.io, producer="converter:npz-to-json").save()


class JsonMlpRuntime(Runtime):
    def load(self, artifact: Artifact) -> None:
        data = json.loads(artifact.path.read_text())
        self._layers = [(np.array(w, np.float32), np.array(b, np.float32)) for w, b in data]
        self._io = artifact.io

    @property
    def io(self) -> IOSpec:
        return self._io

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [forward(self._layers, np.asarray(inputs[0], np.float32))]


class FlakyRuntime(NumpyRuntime):
    """Fails with RuntimeFailure on call number ``fail_after`` (counting every call)."""

    calls = 0

    def bind(self, inputs):  # type: ignore[no-untyped-def]
        call = super().bind(inputs)

        def run() -> object:
            self.calls += 1
            if self.calls >= self.params["fail_after"]:
                raise RuntimeFailure("the device stopped answering")
            return call()

        return run


_R = TypeVar("_R")


def _record(kind: type[_R], name: str, summary: str, impl: str, **fields: Any) -> _R:
    """A record of ``kind`` whose factory is the class ``impl`` of this module."""
    return kind(name=name, summary=summary, factory=f"edgeai_test_plugin:{impl}", **fields)


@hookimpl
def edgeai_register_converters() -> list[ConverterRecord]:
    fields = {"input_format": "npz-mlp", "output_format": "mlp-json"}
    return [_record(ConverterRecord, "npz-to-json", "npz-mlp weights as JSON lists", "NpzToJson", **fields)]


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    fail_after = Param("fail_after", "int", default=50, minimum=1, help="fail on this call")
    return [
        _record(RuntimeRecord, "json-mlp", "Runs mlp-json models", "JsonMlpRuntime", formats=("mlp-json",)),
        _record(
            RuntimeRecord,
            "flaky",
            "Fails after a number of calls",
            "FlakyRuntime",
            formats=("npz-mlp",),
            params=(fail_after,),
        ),
    ]


_BLOBS = {"name": "gaussian-blobs", "classes": 3, "features": 6, "samples": 300, "separation": 2.5}
_MLP = {"name": "numpy-mlp", "epochs": 15, "hidden": [96]}
_FAST = {"warmup": 2, "min_count": 20, "min_duration_s": 0.0}


@hookimpl
def edgeai_register_demo_variants() -> list[DemoVariant]:
    return [
        DemoVariant(
            name="mlp-int8", summary="int8 weights", order=20,
            config={"dataset": _BLOBS, "model": _MLP, "steps": [{"name": "weight-int8"}], "runtime": "numpy",
                    "benchmark": _FAST},
        ),
        DemoVariant(
            name="mlp-float", summary="float", order=10,
            config={"dataset": _BLOBS, "model": _MLP, "runtime": {"name": "numpy"}, "benchmark": _FAST},
        ),
        DemoVariant(
            name="mlp-json", summary="through the JSON converter", order=30,
            config={"dataset": _BLOBS, "model": _MLP, "runtime": {"name": "json-mlp"}, "benchmark": _FAST},
        ),
        DemoVariant(
            name="needs-missing", summary="a runtime nobody installed", order=40,
            config={"dataset": _BLOBS, "model": _MLP, "runtime": {"name": "vendor-npu"}},
        ),
    ]  # fmt: skip


class RemoteDemo:
    """A demo variant run through a local `edgeai serve` (register it explicitly: it starts a subprocess)."""

    @hookimpl
    def edgeai_register_demo_variants(self) -> list[DemoVariant]:
        return [
            DemoVariant(
                name="mlp-remote", summary="int8 weights on a local target over TCP", order=25, serve=True,
                config={"dataset": _BLOBS, "model": _MLP, "steps": [{"name": "weight-int8"}],
                        "runtime": {"name": "numpy"}, "benchmark": _FAST},
            ),
        ]  # fmt: skip
