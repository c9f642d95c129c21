"""The torch runtime: eager and traced outputs equal the model, bind() times only the forward pass, threads apply."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.errors import ArtifactError, RuntimeFailure


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("mode", ["eager", "traced"])
@pytest.mark.parametrize("architecture", ["digits-cnn", "mobilenetv2"])
def test_outputs_equal_the_model(
    make: Callable[..., Any],
    checkpoint: Callable[..., Any],
    reference: Callable[..., Any],
    mode: str,
    architecture: str,
) -> None:
    artifact = checkpoint(architecture)
    runtime = make("runtime", "torch", mode=mode)
    runtime.load(artifact)
    assert runtime.io == artifact.io
    shape = artifact.io.inputs[0].shape[1:]
    rng = np.random.default_rng(0)
    for batch in (1, 5, 1):  # traced mode traces per batch size and reuses the first trace afterwards
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
        (out,) = runtime.infer([x])
        assert out.dtype == np.float32 and out.shape == (batch, 10)
        np.testing.assert_allclose(out, reference(artifact, x), atol=1e-5, rtol=0)
    if mode == "traced":
        assert sorted(runtime._traced) == [(1, *shape), (5, *shape)]
    runtime.close()


@pytest.mark.parametrize("mode", ["eager", "traced"])
def test_bind_returns_the_forward_pass_alone(
    make: Callable[..., Any], checkpoint: Callable[..., Any], mode: str
) -> None:
    artifact = checkpoint("digits-cnn")
    runtime = make("runtime", "torch", mode=mode)
    runtime.load(artifact)
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)
    call = runtime.bind([x])
    first, second = np.asarray(call()), np.asarray(call())  # zero arguments, callable repeatedly
    np.testing.assert_array_equal(first, runtime.infer([x])[0])
    np.testing.assert_array_equal(first, second)
    # the inputs were converted once, before the callable was returned: the tensor shares x's memory
    x[:] = 0
    np.testing.assert_array_equal(np.asarray(call()), runtime.infer([x])[0])


def test_threads_are_applied(make: Callable[..., Any], checkpoint: Callable[..., Any]) -> None:
    torch.set_num_threads(2)
    runtime = make("runtime", "torch", threads=1)
    runtime.load(checkpoint("digits-cnn"))
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)  # something else changed the process-wide setting: inference restores it
    runtime.infer([np.zeros((1, 1, 8, 8), np.float32)])
    assert torch.get_num_threads() == 1
    assert runtime.versions() == {"torch": torch.__version__}


def test_bad_inputs_and_artifacts_fail_clearly(
    make: Callable[..., Any], checkpoint: Callable[..., Any], tmp_path: Path
) -> None:
    runtime = make("runtime", "torch")
    with pytest.raises(RuntimeFailure, match="call load"):
        runtime.infer([np.zeros((1, 1, 8, 8), np.float32)])
    io = IOSpec((TensorSpec("input", (None, 4), "float32"),), (TensorSpec("logits", (None, 2), "float32"),))
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"")
    with pytest.raises(RuntimeFailure, match="loads 'torch' artifacts, not 'onnx'"):
        runtime.load(Artifact(onnx_file, "onnx", io))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(ArtifactError, match="weights_only=True"):
        runtime.load(Artifact(bad, "torch", io))
    runtime.load(checkpoint("digits-cnn"))
    with pytest.raises(
        RuntimeFailure, match=r"input of shape \(1, 3, 8, 8\) does not fit the model's input \('N', 1, 8, 8\)"
    ):
        runtime.infer([np.zeros((1, 3, 8, 8), np.float32)])
    with pytest.raises(RuntimeFailure, match="takes 1 input"):
        runtime.bind([np.zeros((1, 1, 8, 8), np.float32)] * 2)


def test_pipeline_with_the_torch_runtime(host: Any, trained_cnn: Any, tmp_path: Path) -> None:
    """The runner benchmarks bind()'s callable and evaluates infer(): accuracy equals the training's."""
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import LocalRunner

    artifact, _ = trained_cnn
    raw = {
        "dataset": {"name": "digits"},
        "model": {"name": "digits-cnn", "checkpoint": str(artifact.path)},
        "runtime": {"name": "torch", "mode": "traced"},
        "benchmark": {"warmup": 5, "min_count": 50, "min_duration_s": 0},
    }
    doc = LocalRunner(plan_pipeline(parse_config(raw), host), tmp_path / "run", host=host).run()
    assert doc["status"] == "complete"
    assert doc["latency"]["stats"]["count"] >= 50
    assert doc["quality"]["accuracy"] == pytest.approx(artifact.metadata["test_accuracy"])
    assert doc["provenance"]["frameworks"]["torch"] == torch.__version__
