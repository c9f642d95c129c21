"""The ``tflite`` runtime and the ``tflite-file`` model on tiny models written without TensorFlow.

These tests need only an interpreter package: they also run in the numpy<2 profile (``nox -s tflite_runtime``),
where every test runs once per interpreter package that works there (ai-edge-litert and tflite-runtime).
"""

from __future__ import annotations

import ctypes.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.errors import ArtifactError, MissingDependencyError, ParameterError, RuntimeFailure
from edgeai_tflite.interpreters import available_backends, load_backend

RNG = np.random.default_rng(7)
W = RNG.standard_normal((3, 4)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)
X = RNG.random((6, 4), dtype=np.float32)
REFERENCE = X @ W.T + B
IN_Q, OUT_Q = (1 / 255, -128), (0.05, 3)

# TensorFlow's interpreter works too, but importing TensorFlow costs seconds; the compile tests cover it
BACKENDS = [b for b in available_backends() if b != "tensorflow"] or ["tensorflow"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def models(testkit: Any, tmp_path: Path) -> dict[str, Any]:
    """float (dynamic batch), int8 (quantized IO) and fixed-batch float artifacts."""
    return {
        "float": testkit.write_artifact(tmp_path / "float", testkit.dense_model(W, B)),
        "int8": testkit.write_artifact(tmp_path / "int8", testkit.dense_model(W, B, int8=(IN_Q, OUT_Q))),
        "fixed": testkit.write_artifact(tmp_path / "fixed", testkit.dense_model(W, B, dynamic_batch=False)),
    }


def runtime(make: Any, backend: str, artifact: Any, **params: Any) -> Any:
    rt = make("runtime", "tflite", interpreter=backend, **params)
    rt.load(artifact)
    return rt


def test_float_model_matches_numpy(make: Any, models: dict[str, Any], backend: str) -> None:
    rt = runtime(make, backend, models["float"])
    (out,) = rt.infer([X])
    assert out.dtype == np.float32 and out.shape == (6, 3)
    np.testing.assert_allclose(out, REFERENCE, atol=1e-5)
    assert rt.versions() == {backend: load_backend(backend).version}
    assert rt.io == models["float"].io


def test_io_spec_carries_quantization(models: dict[str, Any]) -> None:
    (inp,), (out,) = models["int8"].io.inputs, models["int8"].io.outputs
    assert (inp.name, inp.shape, inp.dtype, inp.zero_point) == ("input", (None, 4), "int8", -128)
    assert inp.scale == pytest.approx(1 / 255, rel=1e-6)
    assert (out.name, out.shape, out.dtype, out.zero_point) == ("output", (None, 3), "int8", 3)
    assert out.scale == pytest.approx(0.05, rel=1e-6)
    assert not models["float"].io.inputs[0].quantized


def test_int8_model_quantizes_inputs_and_dequantizes_outputs(
    make: Any, models: dict[str, Any], backend: str
) -> None:
    rt = runtime(make, backend, models["int8"])
    (out,) = rt.infer([X])
    assert out.dtype == np.float32
    # input steps of 1/255 and int8 weights: within one output step (0.05) of the float result
    assert np.max(np.abs(out - REFERENCE)) <= 0.05
    # integers go in unchanged: the same values quantized by hand give the same outputs
    q = np.clip(np.rint(X * 255) - 128, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(rt.infer([q])[0], out)


def test_bind_sets_inputs_and_returns_the_interpreters_invoke(
    make: Any, models: dict[str, Any], backend: str
) -> None:
    rt = runtime(make, backend, models["int8"])
    call = rt.bind([X[:1]])
    assert getattr(call, "__name__", "") == "invoke"
    assert getattr(call, "__self__", None) is rt._interpreter
    call()
    expected = rt.infer([X[:1]])[0]
    call = rt.bind([X[:1]])
    call()
    np.testing.assert_array_equal(rt.outputs()[0], expected)


def test_bind_reuses_converted_inputs_only_for_the_same_arrays(
    make: Any, models: dict[str, Any], backend: str
) -> None:
    rt = runtime(make, backend, models["int8"])
    expected = [rt.infer([X[i : i + 1]])[0] for i in range(3)]
    inputs = [X[0:1]]
    for _ in range(2):  # the same list again: its converted arrays are reused
        rt.bind(inputs)()
        np.testing.assert_array_equal(rt.outputs()[0], expected[0])
    inputs[0] = X[1:2]  # another array in that list: converted again
    rt.bind(inputs)()
    np.testing.assert_array_equal(rt.outputs()[0], expected[1])
    inputs.append(X[2:3])  # a list the model cannot take is checked again, too
    with pytest.raises(RuntimeFailure, match=r"takes 1 input\(s\)"):
        rt.bind(inputs)
    rt.bind([X[2:3]])()
    np.testing.assert_array_equal(rt.outputs()[0], expected[2])


def test_batches_resize_a_dynamic_model(make: Any, models: dict[str, Any], backend: str) -> None:
    rt = runtime(make, backend, models["float"])
    for n in (1, 6, 2, 6):
        np.testing.assert_allclose(rt.infer([X[:n]])[0], REFERENCE[:n], atol=1e-5)


def test_fixed_batch_model_runs_batch_one_and_refuses_more(
    make: Any, models: dict[str, Any], backend: str
) -> None:
    assert models["fixed"].io.inputs[0].shape == (1, 4)
    rt = runtime(make, backend, models["fixed"])
    np.testing.assert_allclose(rt.infer([X[:1]])[0], REFERENCE[:1], atol=1e-5)
    with pytest.raises(
        RuntimeFailure, match=r"input 'input' has the fixed shape \(1, 4\).*feed batches of 1"
    ):
        rt.infer([X])


def test_xnnpack_off_gives_the_same_outputs(make: Any, models: dict[str, Any], backend: str) -> None:
    on = runtime(make, backend, models["float"]).infer([X])[0]
    off = runtime(make, backend, models["float"], xnnpack=False, threads=2).infer([X])[0]
    np.testing.assert_allclose(off, on, atol=1e-6)


def test_missing_delegate_library_is_named(make: Any, models: dict[str, Any], backend: str) -> None:
    with pytest.raises(
        RuntimeFailure, match=r"runtime.delegates: cannot load delegate library 'libedgetpu.so.1'"
    ):
        runtime(make, backend, models["float"], delegates=["libedgetpu.so.1"])


def test_a_library_that_is_not_a_delegate_is_named(make: Any, models: dict[str, Any], backend: str) -> None:
    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no libm to load")
    with pytest.raises(RuntimeFailure, match=rf"runtime.delegates: '{libm}' loads, but is not a usable"):
        runtime(make, backend, models["float"], delegates=[libm])


def test_edgetpu_model_without_its_delegate(make: Any, testkit: Any, tmp_path: Path, backend: str) -> None:
    source = tmp_path / "model_edgetpu.tflite"
    source.write_bytes(testkit.edgetpu_model())
    artifact = make("model", "tflite-file", path=str(source)).prepare(None)  # the IO spec reads without it
    assert [t.shape for t in artifact.io.inputs] == [(None, 4)]
    with pytest.raises(RuntimeFailure, match=r"edgetpu-custom-op.*runtime.delegates = \['libedgetpu.so.1'\]"):
        runtime(make, backend, artifact)


def test_input_errors(make: Any, models: dict[str, Any], backend: str) -> None:
    rt = runtime(make, backend, models["float"])
    with pytest.raises(RuntimeFailure, match=r"takes 1 input\(s\) \(input\), got 2"):
        rt.infer([X, X])
    with pytest.raises(RuntimeFailure, match=r"input 'input' expects shape \(\?, 4\), got \(6, 5\)"):
        rt.infer([np.zeros((6, 5), np.float32)])
    with pytest.raises(RuntimeFailure, match="expects float32 values, got complex64"):
        rt.infer([X.astype(np.complex64)])
    fresh = make("runtime", "tflite", interpreter=backend)
    with pytest.raises(RuntimeFailure, match="no model loaded"):
        fresh.infer([X])


def test_bad_files(make: Any, models: dict[str, Any], tmp_path: Path, backend: str) -> None:
    import dataclasses

    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\0" * 64)
    with pytest.raises(ArtifactError, match="is not a valid TFLite model"):
        runtime(make, backend, dataclasses.replace(models["float"], path=broken))
    with pytest.raises(ArtifactError, match="does not exist"):
        runtime(make, backend, dataclasses.replace(models["float"], path=tmp_path / "none.tflite"))
    with pytest.raises(RuntimeFailure, match="loads tflite models, not onnx"):
        runtime(make, backend, dataclasses.replace(models["float"], format="onnx"))
    wrong = dataclasses.replace(models["float"], io=models["int8"].io)
    with pytest.raises(ArtifactError, match="is float32 in the model but int8 in its IO spec"):
        runtime(make, backend, wrong)


def test_tflite_file_model(make: Any, testkit: Any, tmp_path: Path) -> None:
    source = tmp_path / "mine.tflite"
    source.write_bytes(testkit.dense_model(W, B, int8=(IN_Q, OUT_Q), input_name="x", output_name="y"))
    artifact = make("model", "tflite-file", path=str(source)).prepare(None)
    assert artifact.format == "tflite" and artifact.path.read_bytes() == source.read_bytes()
    assert artifact.path != source and artifact.sidecar.is_file()
    assert [t.name for t in artifact.io.inputs] == ["x"] and artifact.io.outputs[0].zero_point == 3
    out = runtime(make, "auto", artifact).infer([X])[0]
    assert np.max(np.abs(out - REFERENCE)) <= 0.05


def test_tflite_file_model_errors(make: Any, testkit: Any, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"model.path: .*none.tflite does not exist"):
        make("model", "tflite-file", path=str(tmp_path / "none.tflite")).prepare(None)
    junk = tmp_path / "junk.tflite"
    junk.write_text("not a model")
    with pytest.raises(ArtifactError, match=r"junk\.tflite is not a valid TFLite model"):
        make("model", "tflite-file", path=str(junk)).prepare(None)
    good = tmp_path / "good.tflite"
    good.write_bytes(testkit.dense_model(W, B))
    with pytest.raises(ParameterError, match=r"model.layout: NHWC describes 4-d image inputs"):
        make("model", "tflite-file", path=str(good), layout="NHWC").prepare(None)
    with pytest.raises(ParameterError, match=r"model.layout: set NHWC or NCHW"):
        make("model", "tflite-file", path=str(good), mean=[0.5]).prepare(None)


def test_interpreter_choice_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeai_tflite.interpreters as interpreters

    if np.__version__.startswith(("0.", "1.")):
        pytest.skip("numpy<2: tflite-runtime can work here")
    monkeypatch.setattr(interpreters.importlib.util, "find_spec", lambda name: object())
    with pytest.raises(RuntimeFailure, match=r"runtime.interpreter: tflite-runtime .* needs numpy<2"):
        load_backend("tflite-runtime")


def test_missing_interpreter_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeai_tflite.interpreters as interpreters

    def absent(name: str) -> None:
        raise ImportError(name)

    monkeypatch.setattr(interpreters, "_load", absent)
    with pytest.raises(
        MissingDependencyError, match=r"runtime:tflite needs 'ai-edge-litert'.*pip install edgeai-tflite"
    ):
        load_backend("auto")
    with pytest.raises(MissingDependencyError, match=r"pip install 'edgeai-tflite\[tflite-runtime\]'"):
        load_backend("tflite-runtime")


@pytest.mark.parametrize("xnnpack", [True, False])
def test_a_dense_model_is_profiled_per_operator(
    make: Any, models: dict[str, Any], backend: str, xnnpack: bool
) -> None:
    from edgeai_core.profiling import profile_runtime

    pytest.importorskip("ai_edge_litert", reason="the per-operator profiler is LiteRT's C library")
    for kind in ("float", "int8"):
        rt = runtime(make, backend, models[kind], xnnpack=xnnpack)
        section = profile_runtime(rt, "tflite", [X], 20, "local")
        assert (section.status, section.runtime, section.profiler) == ("ok", "tflite", "litert-profiler"), (
            section
        )
        (layer,) = section.layers
        assert (layer.name, layer.op_type, layer.mapping, layer.onnx_nodes) == (
            "#0 output",
            "FULLY_CONNECTED",
            "unknown",
            (),
        )
        # a sub-microsecond kernel reads 0 or 1 us per event: its mean is small, never negative
        assert layer.calls >= 1.0 and layer.mean_us >= 0 and layer.share == (1.0 if layer.mean_us else 0.0)
        assert section.model_us is not None and section.model_us > 0
        assert 1 <= section.runs <= 20
        kernels = "XNNPACK" if xnnpack else "TFLite's builtin kernels"
        assert section.notes[0] == (
            f"LiteRT CompiledModel API, {kernels}, 1 thread(s); times are whole microseconds per event"
        )
        # the profile pass leaves the runtime as it was
        np.testing.assert_allclose(rt.infer([X])[0], REFERENCE, atol=0.1 if kind == "int8" else 1e-5)


def test_a_profile_is_unavailable_and_says_why(
    make: Any, models: dict[str, Any], backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgeai_tflite.litert_profile as litert_profile
    from edgeai_core.profiling import profile_runtime

    rt = runtime(make, backend, models["float"])
    monkeypatch.setattr(litert_profile, "library_path", lambda: None)
    litert_profile._library.cache_clear()
    try:
        section = profile_runtime(rt, "tflite", [X], 3, "local")
    finally:
        litert_profile._library.cache_clear()
    assert (section.status, section.runtime, section.layers) == ("unavailable", "tflite", ())
    assert section.reason == (
        "TFLite's per-operator profile needs LiteRT's C library (libLiteRt.so from the ai-edge-litert package), "
        "which is not installed here"
    )


def test_intermediate_tensors_are_read_and_dequantized(
    make: Any, models: dict[str, Any], backend: str
) -> None:
    for kind in ("float", "int8"):
        rt = runtime(make, backend, models[kind])
        capture = rt.layer_outputs([X])
        assert capture is not None
        (node,) = capture.nodes
        assert (node.name, node.op_type, node.inputs, node.outputs) == (
            "#0 FULLY_CONNECTED",
            "FULLY_CONNECTED",
            ("input",),
            ("output",),
        )
        assert capture.inputs == ("input",)
        # the captured output is the (dequantized) output the runtime returns; builtin kernels against XNNPACK's
        # round differently: float ulps, at most one int8 output step
        step = OUT_Q[0] if kind == "int8" else 1e-5
        np.testing.assert_allclose(capture.tensors["output"], rt.infer([X])[0], rtol=0, atol=step + 1e-6)
        assert capture.tensors["output"].dtype == np.float32
        assert "dequantized" in capture.notes[0]


def test_profiler_events_become_one_record_per_operator() -> None:
    """Two runs of a model whose partition 1 (XNNPACK) runs ops 0-2, op 3 runs builtin, partition 2 runs 4-5."""
    from edgeai_core.profiling import ProfileUnavailable
    from edgeai_tflite.litert_profile import DEFAULT_EVENT as D
    from edgeai_tflite.litert_profile import DELEGATE_OPERATOR_EVENT as K
    from edgeai_tflite.litert_profile import OPERATOR_EVENT as O
    from edgeai_tflite.litert_profile import Event, Operator, layers_of

    ops = [
        Operator(0, "CONV_2D", "c1"), Operator(1, "RESHAPE", "r"), Operator(2, "MAX_POOL_2D", "p"),
        Operator(3, "SHAPE", "s"), Operator(4, "FULLY_CONNECTED", "f"), Operator(5, "SOFTMAX", "y"),
    ]  # fmt: skip
    run = [
        Event("Invoke", D, 40, 0),
        Event("Convolution (NHWC, F32) IGEMM", K, 20, 0),  # the RESHAPE has no kernel: joins the conv
        Event("Max Pooling (NHWC, F32)", K, 4, 1),
        Event("SHAPE", O, 1, 3),
        Event("Static Reshape (NC)", K, 1, 0),  # matches no operator ahead of it: charged to the FC
        Event("Fully Connected (NC, F32) GEMM", K, 6, 1),
        Event("SoftMax (NC, F32)", K, 2, 2),
        Event("LiteRT::Run[Buffer sync]", D, 3, 0),
    ]
    layers, model_us, runs, notes = layers_of(run + run, ops)
    assert (model_us, runs) == (40.0, 2)
    assert [(layer.name, layer.op_type, layer.mean_us, layer.calls) for layer in layers] == [
        ("#0 r", "CONV_2D+RESHAPE", 20.0, 1.0),
        ("#2 p", "MAX_POOL_2D", 4.0, 1.0),
        ("#3 s", "SHAPE", 1.0, 1.0),
        ("#4 f", "FULLY_CONNECTED", 7.0, 2.0),
        ("#5 y", "SOFTMAX", 2.0, 1.0),
    ]
    assert all(layer.mapping == "unknown" for layer in layers)
    assert "1 operator(s) ran inside a neighbour's XNNPACK kernel and share its record" in notes
    # a builtin event that does not name its operator's type: the event layout is not the one read here
    with pytest.raises(ProfileUnavailable, match="another ProfiledEventData layout"):
        layers_of([Event("Invoke", D, 40, 0), Event("CONV_2D", O, 1, 3)], ops)


def test_xnnpack_gemm_kernels_of_pointwise_convolutions_stay_with_their_operators() -> None:
    """MobileNetV2's 1x1 convolutions run as XNNPACK "Fully Connected" GEMMs (the kernels LiteRT 2.3 reports)."""
    from edgeai_tflite.litert_profile import DEFAULT_EVENT as D
    from edgeai_tflite.litert_profile import DELEGATE_OPERATOR_EVENT as K
    from edgeai_tflite.litert_profile import Event, Operator, layers_of

    types = ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"]
    ops = [Operator(i, t, f"t{i}") for i, t in enumerate(types)]
    kernels = [
        ("Convolution (NHWC, F32) IGEMM", 5), ("Convolution (NHWC, F32) DWConv", 3),
        ("Fully Connected (NC, F32) GEMM", 2), ("Fully Connected (NC, F32) GEMM", 4), ("Add (ND)", 1),
        ("Mean (ND) Reduce2", 1), ("Static Reshape (NC)", 1), ("Fully Connected (NC, F32) GEMM", 6),
    ]  # fmt: skip
    run = [Event("Invoke", D, 30, 0), *(Event(tag, K, us, i) for i, (tag, us) in enumerate(kernels))]
    layers, _, _, _ = layers_of(run, ops)
    assert [(layer.op_type, layer.mean_us, layer.calls) for layer in layers] == [
        ("CONV_2D", 5.0, 1.0),
        ("DEPTHWISE_CONV_2D", 3.0, 1.0),
        ("CONV_2D", 2.0, 1.0),
        ("CONV_2D", 4.0, 1.0),
        ("ADD", 1.0, 1.0),
        (
            "MEAN",
            2.0,
            2.0,
        ),  # the reshape XNNPACK adds before the classifier is charged to the operator before it
        ("FULLY_CONNECTED", 6.0, 1.0),
    ]
