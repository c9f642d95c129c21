"""torch-to-onnx: single-file ONNX with a dynamic batch, equal to torch in ONNX Runtime, checked and recorded."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec  # noqa: E402
from edgeai_core.errors import ArtifactError, EdgeaiError  # noqa: E402


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def _check_export(
    onnx_artifact: Artifact, source: Artifact, reference: Callable[..., Any], shape: tuple
) -> None:
    path = onnx_artifact.path
    assert onnx_artifact.format == "onnx"
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "model.onnx",
        "model.onnx.edgeai.json",
    ]  # one file
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    meta = onnx_artifact.metadata
    assert meta["opset"] == opset
    assert meta["onnx_version"] == onnx.__version__
    assert meta["verified"] is True and meta["verify_max_abs_diff"] <= 1e-4
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["logits"]
    assert onnx_artifact.io.inputs[0].shape == (None, *shape)
    assert onnx_artifact.io.outputs[0].shape == (None, 10)
    rng = np.random.default_rng(42)
    for batch in (1, 7):  # the batch axis is dynamic
        x = rng.standard_normal((batch, *shape)).astype(np.float32)
        got = _run(path, x)
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, reference(source, x), atol=1e-4, rtol=0)


def test_torchscript_export_of_the_cnn(
    make: Callable[..., Any], checkpoint: Callable[..., Any], reference: Callable[..., Any]
) -> None:
    source = checkpoint("digits-cnn")
    converter = make("converter", "torch-to-onnx")
    result = converter.convert(source)
    _check_export(result, source, reference, (1, 8, 8))
    assert result.metadata["exporter"] == "torchscript"
    assert result.metadata["opset"] == 17
    assert result.producer == "converter:torch-to-onnx"
    assert result.metadata["architecture"] == "digits-cnn"
    assert converter.versions()["onnx"] == onnx.__version__
    assert Artifact.load(result.path).io == result.io


def test_dynamo_export_of_the_cnn(
    make: Callable[..., Any], checkpoint: Callable[..., Any], reference: Callable[..., Any], capsys: Any
) -> None:
    pytest.importorskip("onnxscript")
    source = checkpoint("digits-cnn")
    result = make("converter", "torch-to-onnx", exporter="dynamo", opset=18).convert(source)
    _check_export(result, source, reference, (1, 8, 8))
    assert result.metadata["exporter"] == "dynamo"
    assert result.metadata["opset"] == 18
    assert "[torch.onnx]" not in capsys.readouterr().out  # the exporter's progress lines stay off stdout


def test_export_of_mobilenetv2_with_batchnorm_and_residuals(
    make: Callable[..., Any], checkpoint: Callable[..., Any], reference: Callable[..., Any]
) -> None:
    source = checkpoint("mobilenetv2", image_size=32, width=0.35)
    result = make("converter", "torch-to-onnx").convert(source)
    _check_export(result, source, reference, (3, 32, 32))
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert "Add" in ops  # the residual connections survive
    assert "BatchNormalization" not in ops  # folded into the convolutions for inference


def test_trained_cnn_keeps_its_accuracy_in_onnx(make: Callable[..., Any], trained_cnn: Any) -> None:
    artifact, data = trained_cnn
    result = make("converter", "torch-to-onnx").convert(artifact)
    test = data.split("test")
    accuracy = float(np.mean(np.argmax(_run(result.path, test.input), axis=1) == test.targets))
    assert accuracy == pytest.approx(artifact.metadata["test_accuracy"])
    assert result.metadata["test_accuracy"] == artifact.metadata["test_accuracy"]  # training facts carried


def test_verification_failure_names_the_difference(
    make: Callable[..., Any], checkpoint: Callable[..., Any]
) -> None:
    from edgeai_torch.checkpoint import load_checkpoint

    converter = make("converter", "torch-to-onnx", tolerance=1e-6)
    result = converter.convert(checkpoint("digits-cnn", seed=0))
    other = load_checkpoint(
        checkpoint("digits-cnn", seed=1).path
    ).module  # weights that do not match the file
    with pytest.raises(EdgeaiError, match=r"differ by max abs [0-9.e-]+ > tolerance 1e-06"):
        converter._verify(other, result.path, result.io)


def test_without_onnxruntime_the_export_is_checked_but_not_run(
    make: Callable[..., Any], checkpoint: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    result = make("converter", "torch-to-onnx").convert(checkpoint("digits-cnn"))
    assert result.metadata["verified"] is False
    assert result.metadata["verify_skipped"] == "onnxruntime is not installed"
    unverified = make("converter", "torch-to-onnx", verify=False).convert(checkpoint("digits-cnn"))
    assert unverified.metadata["verified"] is False


def test_wrong_input_format_is_rejected(make: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    io = IOSpec((TensorSpec("input", (None, 4), "float32"),), (TensorSpec("logits", (None, 2), "float32"),))
    with pytest.raises(ArtifactError, match="takes 'torch' artifacts, not 'onnx'"):
        make("converter", "torch-to-onnx").convert(Artifact(path, "onnx", io))


def test_a_large_model_exports_external_data_listed_with_the_artifact(
    make: Callable[..., Any],
    checkpoint: Callable[..., Any],
    reference: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("onnxscript")
    import edgeai_torch.export

    # a model over the threshold, as a 2 GB one would be: the exporter writes model.onnx.data
    monkeypatch.setattr(edgeai_torch.export, "EXTERNAL_DATA_BYTES", 1024)
    source = checkpoint("digits-cnn")
    result = make("converter", "torch-to-onnx", exporter="dynamo", opset=18).convert(source)
    assert result.files == ("model.onnx.data",)
    data = result.path.parent / "model.onnx.data"
    assert data.stat().st_size > 4 * result.path.stat().st_size
    assert result.size_bytes == result.path.stat().st_size + data.stat().st_size
    graph = onnx.load(str(result.path), load_external_data=False)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.graph.initializer)
    assert Artifact.load(result.path).files == ("model.onnx.data",)
    assert result.metadata["verified"] is True
    x = np.random.default_rng(3).standard_normal((5, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(result.path, x), reference(source, x), atol=1e-4, rtol=0)
