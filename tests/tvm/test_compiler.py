"""The tvm compiler: outputs and accuracy against ONNX Runtime, QDQ int8, batch, opt level, metadata, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.errors import ArtifactError, EdgeaiError, ParameterError


def _accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == targets))


def test_float_matches_onnxruntime(
    tvm_float: Any, onnx_float: Any, test_split: Any, run_tvm: Any, ort_reference: Any
):
    x = test_split.input
    tvm_out = run_tvm(tvm_float, x)
    ort_out = ort_reference(onnx_float.path, x)
    assert tvm_out.shape == ort_out.shape == (len(x), 10)
    assert np.max(np.abs(tvm_out - ort_out)) <= 1e-4
    tvm_acc, ort_acc = _accuracy(tvm_out, test_split.targets), _accuracy(ort_out, test_split.targets)
    assert ort_acc > 0.93
    assert abs(tvm_acc - ort_acc) <= 0.005


def test_qdq_int8_compiles_and_keeps_accuracy(
    tvm_int8: Any, tvm_float: Any, onnx_int8: Any, test_split: Any, run_tvm: Any, ort_reference: Any
):
    x = test_split.input
    int8_acc = _accuracy(run_tvm(tvm_int8, x), test_split.targets)
    float_acc = _accuracy(run_tvm(tvm_float, x), test_split.targets)
    assert float_acc - int8_acc <= 0.015, (float_acc, int8_acc)
    # the same QDQ graph on ONNX Runtime (fused integer kernels) predicts nearly the same classes
    ort_acc = _accuracy(ort_reference(onnx_int8.path, x), test_split.targets)
    assert abs(int8_acc - ort_acc) <= 0.01
    assert tvm_int8.metadata["quantized_qdq"] > 0 and tvm_float.metadata["quantized_qdq"] == 0


def test_artifact_and_metadata(tvm_float_b1: Any, tvm_float: Any, onnx_float: Any):
    import tvm

    for artifact in (tvm_float_b1, tvm_float):
        assert artifact.format == "tvm" and artifact.path.name == "model.so"
        assert artifact.producer == "compiler:tvm"
        loaded = Artifact.load(artifact.path)  # the sidecar round-trips
        assert loaded.io == artifact.io
        meta = loaded.metadata
        assert meta["target"] == {"kind": "llvm", "opt-level": 3}
        assert meta["target_preset"] == "llvm" and meta["opt_level"] == 3 and meta["tuning"] is None
        assert meta["tvm"] == tvm.__version__ == loaded.versions["tvm"]
        assert meta["cross_compiled"] is False and meta["entry"] == "main"
        # the source's facts (training, export, any input normalization) travel on
        assert {k: meta[k] for k in onnx_float.metadata} == dict(onnx_float.metadata)
    assert tvm_float_b1.metadata["batch"] == 1
    assert tvm_float_b1.io.inputs[0].shape == (1, 1, 8, 8) and tvm_float_b1.io.outputs[0].shape == (1, 10)
    assert tvm_float.metadata["batch"] == "dynamic"
    assert tvm_float.io.inputs[0].shape == (None, 1, 8, 8) and tvm_float.io.outputs[0].shape == (None, 10)
    assert tvm_float.io.inputs[0].layout == "NCHW"


def test_static_batch_runs_only_its_batch(tvm_float_b1: Any, tvm_float: Any, test_split: Any, run_tvm: Any):
    from edgeai_core.errors import RuntimeFailure

    x = test_split.input[:7]
    assert run_tvm(tvm_float, x).shape == (7, 10)
    one = run_tvm(tvm_float_b1, x[:1])
    np.testing.assert_allclose(one, run_tvm(tvm_float, x[:1]), atol=1e-6)
    with pytest.raises(
        RuntimeFailure, match=r"input 'input' expects shape \(1, 1, 8, 8\), got \(7, 1, 8, 8\)"
    ):
        run_tvm(tvm_float_b1, x)


def test_batch_four_and_opt_level_zero(
    build: Any, onnx_float: Any, tvm_float: Any, test_split: Any, run_tvm: Any
):
    x = test_split.input[:4]
    four = build("compiler", "tvm", batch=4).compile(onnx_float, None)
    assert four.io.inputs[0].shape[0] == 4
    np.testing.assert_allclose(run_tvm(four, x), run_tvm(tvm_float, x), atol=1e-5)
    plain = build("compiler", "tvm", opt_level=0).compile(onnx_float, None)
    assert plain.metadata["opt_level"] == 0 and "graph_passes_s" not in plain.metadata
    assert plain.metadata["target"]["opt-level"] == 0
    np.testing.assert_allclose(run_tvm(plain, x[:1]), run_tvm(tvm_float, x[:1]), atol=1e-4)


def test_tiny_graph_and_target_options(build: Any, tiny: Any, tmp_path: Path, run_tvm: Any):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    x = np.random.default_rng(1).standard_normal((3, 16)).astype(np.float32)
    out = build("compiler", "tvm", batch="dynamic", target_options={"mcpu": "x86-64-v2"}).compile(
        artifact, None
    )
    assert out.metadata["target"]["mcpu"] == "x86-64-v2"
    np.testing.assert_allclose(run_tvm(out, x), tiny.reference(x), rtol=1e-5, atol=1e-5)


# -- errors ---------------------------------------------------------------------------------------------


def test_bad_batch_is_a_parameter_error(host: Any):
    with pytest.raises(ParameterError) as caught:
        host.get("compiler", "tvm").create({"batch": "many"}, where="steps[0]")
    assert caught.value.field == "tvm.batch" and "'dynamic'" in str(caught.value)
    with pytest.raises(ParameterError, match="must be one of llvm, aarch64, armv7"):
        host.get("compiler", "tvm").create({"target": "x86"}, where="steps[0]")
    with pytest.raises(ParameterError, match=r"opt_level: must be an integer >= 0 and <= 3"):
        host.get("compiler", "tvm").create({"opt_level": 4}, where="steps[0]")


def test_fixed_batch_graph_needs_that_batch(build: Any, tiny: Any, tmp_path: Path):
    artifact = tiny.artifact(tmp_path / "fixed.onnx", batch=1)
    with pytest.raises(ParameterError) as caught:
        build("compiler", "tvm", batch=2).compile(artifact, None)
    assert caught.value.field == "tvm.batch" and "fixed batch of 1" in str(caught.value)
    assert "set batch = 1" in str(caught.value)
    assert build("compiler", "tvm").compile(artifact, None).io.inputs[0].shape == (1, 16)


def test_wrong_format_and_garbage(build: Any, tmp_path: Path):
    text = tmp_path / "model.txt"
    text.write_text("not a model")
    with pytest.raises(ArtifactError, match="compiler tvm takes onnx models, not keras"):
        build("compiler", "tvm").compile(Artifact(text, "keras", IOSpec((), ())), None)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x01garbage\xff\xff")
    io = IOSpec((TensorSpec("x", (None, 4), "float32"),), (TensorSpec("y", (None, 4), "float32"),))
    with pytest.raises(ArtifactError, match=r"garbage\.onnx"):
        build("compiler", "tvm").compile(Artifact(garbage, "onnx", io), None)


def _single_node_model(path: Path, op: str, domain: str = "") -> Artifact:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(op, ["x"], ["y"], domain=domain)
    graph = helper.make_graph(
        [node],
        "one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.save(model, str(path))
    io = IOSpec((TensorSpec("x", (1, 4), "float32"),), (TensorSpec("y", (1, 4), "float32"),))
    return Artifact(path, "onnx", io).save()


def test_qoperator_and_unknown_operators_are_named(build: Any, tmp_path: Path):
    qop = _single_node_model(tmp_path / "qop.onnx", "QLinearConv")
    with pytest.raises(ArtifactError) as caught:
        build("compiler", "tvm").compile(qop, None)
    assert "QLinearConv" in str(caught.value) and 'quant_format = "qdq"' in str(caught.value)
    custom = _single_node_model(tmp_path / "custom.onnx", "FancyOp", domain="com.example")
    with pytest.raises(ArtifactError, match="does not support: FancyOp"):
        build("compiler", "tvm").compile(custom, None)


def test_io_spec_must_match_the_graph(build: Any, tiny: Any, tmp_path: Path):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    wrong = Artifact(
        artifact.path, "onnx", IOSpec((TensorSpec("image", (None, 16), "float32"),), artifact.io.outputs)
    )
    with pytest.raises(ArtifactError, match=r"IO spec's inputs \(image\) do not match the graph's \(x\)"):
        build("compiler", "tvm").compile(wrong, None)
    dynamic = Artifact(
        artifact.path, "onnx", IOSpec((TensorSpec("x", (None, None), "float32"),), artifact.io.outputs)
    )
    with pytest.raises(ArtifactError, match="input 'x' has a dynamic dimension 1"):
        build("compiler", "tvm").compile(dynamic, None)


def test_target_options_tvm_rejects(build: Any, tiny: Any, tmp_path: Path):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    with pytest.raises(ParameterError) as caught:
        build("compiler", "tvm", target_options={"no-such-key": 1}).compile(artifact, None)
    assert caught.value.field == "tvm.target_options" and "no-such-key" in str(caught.value)


def test_missing_host_linker(build: Any, tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(
        EdgeaiError, match="needs a C\\+\\+ compiler and none is on PATH: apt-get install g\\+\\+"
    ):
        build("compiler", "tvm").compile(artifact, None)


def test_a_model_with_external_data_compiles(build: Any, tiny: Any, tmp_path: Path, run_tvm: Any):
    import onnx

    single = tiny.artifact(tmp_path / "single.onnx")
    folder = tmp_path / "external"
    folder.mkdir()
    path = folder / "tiny.onnx"
    onnx.save_model(onnx.load(str(single.path)), str(path), save_as_external_data=True,
                    location="tiny.onnx.data", size_threshold=0)  # fmt: skip
    artifact = Artifact(path, "onnx", single.io, files=("tiny.onnx.data",)).save()
    out = build("compiler", "tvm", batch="dynamic").compile(artifact, None)
    assert out.metadata["size_before"] == artifact.size_bytes > path.stat().st_size
    x = np.random.default_rng(2).standard_normal((3, 16)).astype(np.float32)
    np.testing.assert_allclose(run_tvm(out, x), tiny.reference(x), rtol=1e-5, atol=1e-5)
    (folder / "tiny.onnx.data").unlink()
    lonely = Artifact(path, "onnx", single.io)
    with pytest.raises(ArtifactError) as err:
        build("compiler", "tvm").compile(lonely, None)
    assert (
        str(err.value) == f"{path} needs its external data file {folder / 'tiny.onnx.data'}, which is missing"
    )
