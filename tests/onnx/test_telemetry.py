"""ONNX Runtime's telemetry stays off in edgeai processes: no event store in the home folder, no uploads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = """
import sys
if sys.argv[1] == "edgeai":
    import edgeai_core  # what every edgeai process imports first
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
assert session.run(None, {"x": np.ones(1, np.float32)})[0][0] == 1.0
"""


CI_VARIABLES = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL")


def _store_after(tmp_path: Path, who: str, **extra: str) -> bool:
    home = tmp_path / who
    home.mkdir()
    # ONNX Runtime also keeps quiet under a CI variable: leave those out, so the test means the same in CI
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", *CI_VARIABLES)}
    env.update(HOME=str(home), **extra)
    done = subprocess.run(
        [sys.executable, "-c", RUN, who], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return (home / ".cache" / "Microsoft").exists()


@pytest.mark.subprocess
def test_importing_edgeai_turns_onnxruntime_telemetry_off(tmp_path: Path) -> None:
    if not _store_after(tmp_path, "bare"):
        pytest.skip("this ONNX Runtime keeps no telemetry store, so there is nothing to turn off")
    assert not _store_after(tmp_path, "edgeai")


@pytest.mark.subprocess
def test_a_users_explicit_choice_is_kept(tmp_path: Path) -> None:
    if not _store_after(tmp_path, "bare"):
        pytest.skip("this ONNX Runtime keeps no telemetry store")
    assert _store_after(tmp_path, "edgeai", ORT_DISABLE_TELEMETRY="0")
