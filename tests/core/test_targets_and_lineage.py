"""The runner runs a plan against a target object; artifact metadata is filed by the step that wrote it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.benchmark import BenchmarkResult, BenchmarkSettings
from edgeai_core.config import parse_config
from edgeai_core.document import (
    ArtifactRecord,
    ArtifactStep,
    Latency,
    NotApplicable,
    Quality,
    RunError,
    TargetLatency,
    UploadStep,
)
from edgeai_core.lineage import file_under_step, step_metadata
from edgeai_core.measurement import RunRecorder
from edgeai_core.planner import Plan, plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import Runner
from edgeai_core.targets import LocalTarget, Workspace

CONFIG = {
    "name": "t",
    "dataset": {"name": "gaussian-blobs", "classes": 3, "features": 6, "samples": 300, "separation": 2.5},
    "model": {"name": "numpy-mlp", "epochs": 10, "hidden": [8]},
    "steps": [{"name": "weight-int8"}],
    "runtime": {"name": "numpy"},
    "benchmark": {"warmup": 3, "min_count": 20, "min_duration_s": 0.0},
}


def _artifact(tmp_path: Path, name: str, metadata: dict[str, Any]) -> Artifact:
    path = tmp_path / name
    path.write_bytes(b"x")
    io = IOSpec((TensorSpec("x", ("batch", 2), "float32"),), (TensorSpec("y", ("batch", 2), "float32"),))
    return Artifact(path, "f", io, metadata=metadata)


def test_a_later_step_cannot_overwrite_an_earlier_steps_keys(tmp_path: Path) -> None:
    model = file_under_step(_artifact(tmp_path, "m", {"mode": "teacher", "classes": 10}), None, "my-net")
    # a quantizer that carries its input's keys and writes its own "mode" over the model's
    quantized = _artifact(tmp_path, "q", {**model.metadata, "mode": "dynamic", "size_after": 3})
    quantized = file_under_step(quantized, model, "onnx-quantize")
    assert quantized.metadata["mode"] == "dynamic", "the top level is what the step returned"
    assert step_metadata(quantized, "my-net") == {"mode": "teacher", "classes": 10}
    assert step_metadata(quantized, "onnx-quantize") == {"mode": "dynamic", "size_after": 3}
    # a step that drops everything it was given does not lose the history either
    compiled = file_under_step(_artifact(tmp_path, "c", {"target": "llvm"}), quantized, "tvm")
    assert list(compiled.metadata["by_step"]) == ["my-net", "onnx-quantize", "tvm"]
    assert step_metadata(compiled, "my-net")["mode"] == "teacher"
    again = file_under_step(_artifact(tmp_path, "c2", {"target": "llvm -O3"}), compiled, "tvm")
    assert step_metadata(again, "tvm#2") == {"target": "llvm -O3"}


def test_the_runner_files_metadata_by_step_and_the_document_keeps_each_steps_keys(
    core_host: PluginHost, tmp_path: Path
) -> None:
    doc = Runner(plan_pipeline(parse_config(CONFIG), core_host), tmp_path, host=core_host).run()
    model_step, int8_step = doc["steps"][1], doc["steps"][2]
    assert "by_step" not in model_step["metadata"] and "by_step" not in int8_step["metadata"]
    assert set(model_step["metadata"]) == {"hidden", "epochs", "final_loss", "train_accuracy"}
    sidecar = json.loads(Path(tmp_path / (int8_step["artifact"]["path"] + ".edgeai.json")).read_text())
    by_step = sidecar["metadata"]["by_step"]
    assert by_step["numpy-mlp"] == model_step["metadata"]
    assert set(by_step["weight-int8"]) == {"weights", "max_abs_weight_error"}


class CountingTarget(LocalTarget):
    """A local target that counts what the runner asks of it."""

    def __init__(self, plan: Plan, workspace: Workspace) -> None:
        super().__init__(plan, workspace)
        self.calls: dict[str, int] = {"load": 0, "bind": 0, "infer": 0, "close": 0}

    def load(self, artifact: Artifact, recorder: RunRecorder) -> dict[str, str]:
        self.calls["load"] += 1
        return {**super().load(artifact, recorder), "counting": "1.0"}

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        self.calls["bind"] += 1
        return super().bind(inputs)

    def infer(self, inputs: Sequence[np.ndarray]) -> Any:
        self.calls["infer"] += 1
        return super().infer(inputs)

    def close(self) -> None:
        self.calls["close"] += 1
        super().close()


def test_the_runner_measures_through_the_target_it_is_given(core_host: PluginHost, tmp_path: Path) -> None:
    made: list[CountingTarget] = []

    def factory(plan: Plan, workspace: Workspace) -> CountingTarget:
        made.append(CountingTarget(plan, workspace))
        return made[0]

    plan = plan_pipeline(parse_config(CONFIG), core_host)
    doc = Runner(plan, tmp_path, host=core_host, target=factory).run()
    calls = made[0].calls
    assert calls["load"] == 1 and calls["close"] == 1
    assert calls["bind"] == 3 + doc["latency"]["stats"]["count"], "one bound call per warm-up and sample"
    assert calls["infer"] == 1 + 2, "the fidelity batch, then 60 test samples in evaluation batches of 32"
    assert doc["provenance"]["frameworks"]["counting"] == "1.0"
    assert doc["steps"][-1]["kind"] == "runtime-load" and doc["status"] == "complete"


def test_typed_sections_give_the_documented_json(tmp_path: Path) -> None:
    artifact = _artifact(tmp_path, "m", {"k": np.float32(0.5), "p": Path("a/b")})
    step = ArtifactStep(
        name="m", kind="model", duration_s=0.25, artifact=ArtifactRecord.of(artifact, tmp_path),
        io=artifact.io.to_json(), metadata=artifact.metadata, output_format="f",
    )  # fmt: skip
    assert step.to_json() == {
        "name": "m", "kind": "model", "inserted": False, "duration_s": 0.25, "input_format": None,
        "output_format": "f", "artifact": {"path": "m", "format": "f", "size_bytes": 1},
        "io": artifact.io.to_json(), "metadata": {"k": 0.5, "p": "a/b"},
    }  # fmt: skip
    upload = UploadStep("tcp", 0.5, step.artifact, bytes=100, metadata={"target": "127.0.0.1:1"})
    assert upload.to_json()["throughput_bytes_per_s"] == 200.0
    assert (
        UploadStep("tcp", 0.0, step.artifact, bytes=100, metadata={}).to_json()["throughput_bytes_per_s"]
        is None
    )
    assert Quality({"task": "x", "applicable": True}, "test").to_json() == {
        "task": "x", "applicable": True, "split": "test"
    }  # fmt: skip
    assert NotApplicable(None, "no dataset").to_json() == {
        "task": None,
        "applicable": False,
        "reason": "no dataset",
    }
    assert RunError("model", "E", "m").to_json() == {"stage": "model", "type": "E", "message": "m"}
    settings = BenchmarkSettings.from_mapping({"warmup": 1, "min_count": 3, "min_duration_s": 0.0})
    result = BenchmarkResult(settings, [9], [4, 2, 3], "min_count_and_duration", 0.5)
    latency = Latency(result, TargetLatency([5], [1, 1, 2])).to_json()
    assert latency["samples_ns"] == [4, 2, 3] and latency["stats"]["median"] == 3
    assert latency["target"]["warmup"] == {"count": 1, "samples_ns": [5]}
    assert latency["target"]["samples_ns"] == [1, 1, 2] and latency["target"]["stats"]["median"] == 1
    assert "target" not in Latency(result).to_json()


@pytest.mark.subprocess
def test_start_local_server_serves_a_remote_run(core_host: PluginHost, tmp_path: Path) -> None:
    from edgeai_core.target_server import start_local_server

    with start_local_server("numpy", tmp_path / "srv", once=True) as server:
        assert server.address == f"127.0.0.1:{server.port}" and server.port > 0
        table = server.target_table()
        assert table == {"protocol": "tcp", "host": "127.0.0.1", "port": server.port,
                         "token_file": str(tmp_path / "srv" / "target.token"), "timeout_s": 30.0}  # fmt: skip
        plan = plan_pipeline(parse_config({**CONFIG, "target": table}), core_host)
        doc = Runner(plan, tmp_path / "out", host=core_host).run()
    assert server.process.returncode is not None, "stopped"
    assert [s["kind"] for s in doc["steps"]][-2:] == ["upload", "runtime-load"]
    assert doc["provenance"]["target"]["address"] == f"tcp {server.address}"
    assert len(doc["latency"]["target"]["samples_ns"]) == doc["latency"]["stats"]["count"]


@pytest.mark.subprocess
def test_start_local_server_names_the_log_when_it_cannot_start(tmp_path: Path) -> None:
    from edgeai_core.errors import EdgeaiError
    from edgeai_core.target_server import start_local_server

    with pytest.raises(
        EdgeaiError, match=r"the local target \(edgeai serve\) did not start: .*vendor-npu"
    ) as err:
        start_local_server("vendor-npu", tmp_path, timeout_s=60)
    assert f"(log: {tmp_path / 'target.log'})" in str(err.value)
