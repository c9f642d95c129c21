"""The fit logic on hand-built complexity figures: memory with exact margins, element types, operator
allow-lists, lower bounds, and the analyzer lookup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeai_core.artifacts import Artifact, IOSpec
from edgeai_core.complexity import LayerComplexity, ModelComplexity
from edgeai_core.fit import NoAnalyzerError, analyze_artifact, check_fit
from edgeai_core.targetprofiles import TargetProfile

MIB = 1024 * 1024


def board(**fields: Any) -> TargetProfile:
    base: dict[str, Any] = {"name": "board", "summary": "a board", "arch": "aarch64", "cores": 4}
    return TargetProfile(**{**base, **fields})


def model(**fields: Any) -> ModelComplexity:
    base: dict[str, Any] = {
        "format": "onnx",
        "analyzer": "test",
        "op_types": ("Conv",),
        "dtypes": ("float32",),
    }
    return ModelComplexity(**{**base, **fields})


def test_a_model_that_fits_with_its_margin() -> None:
    fit = check_fit(
        model(weight_bytes={"float32": 1_000_000}, peak_activation_bytes=500_000), board(ram_bytes=4 * MIB)
    )
    assert fit.fits is True
    assert fit.reasons == ()
    assert fit.ram is not None
    assert (fit.ram.needed_bytes, fit.ram.available_bytes, fit.ram.margin_bytes) == (
        1_500_000,
        4 * MIB,
        2_694_304,
    )
    assert fit.ram.margin_percent == pytest.approx(100 * 2_694_304 / (4 * MIB))
    assert fit.ram.parts == {"weights": 1_000_000, "activations": 500_000}
    assert fit.ram.uncounted == ("runtime",)
    assert fit.storage is None
    assert fit.verdict == "fits (RAM margin 2.6 MiB, 64.2%)"


def test_a_microcontroller_it_does_not_fit_names_ram_and_flash_with_the_shortfall() -> None:
    m4 = board(
        name="m4",
        arch="armv7e-m",
        cores=1,
        ram_bytes=256 * 1024,
        storage_bytes=MIB,
        runtimes=("tflite-micro",),
        dtypes=("float32", "int8"),
        weights_in="flash",
        runtime_storage_bytes={"tflite-micro": 16 * 1024},
    )
    fit = check_fit(
        model(
            weight_bytes={"int8": 900_000, "int32": 4_000}, peak_activation_bytes=3_565_200, dtypes=("int8",)
        ),
        m4,
        artifact_bytes=1_100_000,
    )
    assert fit.fits is False
    assert fit.ram is not None and fit.storage is not None
    assert fit.ram.parts == {"activations": 3_565_200}  # the weights stay in flash
    assert fit.ram.margin_bytes == 256 * 1024 - 3_565_200 == -3_303_056
    assert fit.storage.parts == {"model file": 1_100_000, "runtime tflite-micro": 16_384}
    assert fit.storage.margin_bytes == MIB - 1_116_384 == -67_808
    assert fit.reasons == (
        "needs 3.4 MiB RAM, has 256 KiB (-3.2 MiB)",
        "needs 1.1 MiB storage, has 1 MiB (-66.2 KiB)",
    )
    assert fit.verdict == (
        "does not fit: needs 3.4 MiB RAM, has 256 KiB (-3.2 MiB); needs 1.1 MiB storage, has 1 MiB (-66.2 KiB)"
    )
    assert fit.to_json()["ram"]["margin_percent"] == pytest.approx(-1260.016, abs=0.001)
    assert "weights stay in flash" in fit.notes[0]


def test_the_runtime_overhead_counts_where_the_profile_knows_it() -> None:
    profile = board(ram_bytes=10 * MIB, runtimes=("onnxruntime", "tflite"), runtime_ram_bytes={"tflite": MIB})
    fit = check_fit(
        model(weight_bytes={"float32": MIB}, peak_activation_bytes=MIB), profile, runtime="tflite"
    )
    assert fit.ram is not None
    assert fit.ram.parts == {"weights": MIB, "activations": MIB, "runtime tflite": MIB}
    assert fit.ram.margin_bytes == 7 * MIB
    unknown = check_fit(model(weight_bytes={"float32": MIB}), profile, runtime="onnxruntime")
    assert unknown.ram is not None and unknown.ram.uncounted == ("runtime",)


def test_an_int8_only_target_flags_a_float_model_and_counts_its_layers() -> None:
    tpu = board(name="tpu", ram_bytes=1 << 30, dtypes=("int8", "uint8"))
    layers = (
        LayerComplexity(name="conv", op_type="Conv", dtypes=("float32",)),
        LayerComplexity(name="shape", op_type="Shape", dtypes=("int64",)),
        LayerComplexity(name="fc", op_type="Gemm", dtypes=("float32",)),
    )
    fit = check_fit(model(layers=layers, dtypes=("float32", "int64")), tpu)
    assert fit.fits is False
    assert fit.unsupported_dtypes == {"float32": 2}  # index types are never flagged
    assert fit.reasons == ("computes in float32 (in 2 of 3 layers); the target computes in int8, uint8 only",)
    quantized = check_fit(model(layers=layers[1:2], dtypes=("int8", "int32", "int64")), tpu)
    assert quantized.fits is True
    qdq = check_fit(
        model(op_types=("DequantizeLinear", "Conv", "QuantizeLinear"), dtypes=("float32", "int8")), tpu
    )
    assert qdq.fits is False
    assert qdq.notes[0].startswith("the model is quantized with QuantizeLinear/DequantizeLinear pairs")


def test_operators_missing_from_every_runtime_allow_list_do_not_fit() -> None:
    tpu = board(ram_bytes=1 << 30, runtimes=("edgetpu",), operators={"edgetpu": {"onnx": ("Conv", "Relu")}})
    fit = check_fit(model(op_types=("Conv", "Erf", "Relu", "Softmax")), tpu)
    assert fit.fits is False
    assert fit.missing_operators == {"edgetpu": ("Erf", "Softmax")}
    assert fit.reasons == ("edgetpu lacks 2 operator(s): Erf, Softmax",)
    assert "operators (edgetpu): lacks Erf, Softmax" in fit.details()

    supported = check_fit(model(op_types=("Conv", "Relu")), tpu)
    assert supported.fits is True and supported.missing_operators == {"edgetpu": ()}

    # a runtime without an allow-list runs it: a note, not a verdict
    both = board(
        ram_bytes=1 << 30, runtimes=("edgetpu", "tflite"), operators={"edgetpu": {"onnx": ("Conv", "Relu")}}
    )
    mixed = check_fit(model(op_types=("Conv", "Erf")), both)
    assert mixed.fits is True
    assert "some runtimes lack operators of the model, others run it" in mixed.notes


def test_allow_lists_in_another_vocabulary_are_not_checked_and_say_so() -> None:
    mcu = board(
        ram_bytes=MIB, runtimes=("tflite-micro",), operators={"tflite-micro": {"tflite": ("CONV_2D",)}}
    )
    fit = check_fit(model(op_types=("Conv", "Erf")), mcu)
    assert fit.fits is True
    assert fit.missing_operators == {}
    assert "operators not checked: the allow-lists name tflite operators, the model is onnx" in fit.notes


def test_unknown_operators_make_the_figures_lower_bounds() -> None:
    fit = check_fit(model(unknown_ops=("MyOp",), op_types=("Conv", "MyOp")), board(ram_bytes=MIB))
    assert fit.lower_bound is True
    assert fit.verdict.endswith(", figures are lower bounds")
    assert "the analysis does not know MyOp: its figures are lower bounds" in fit.notes
    assert fit.to_json()["model"]["unknown_ops"] == ["MyOp"]


def test_a_format_the_target_does_not_load_is_a_note() -> None:
    fit = check_fit(model(), board(ram_bytes=MIB, formats=("tflite",)))
    assert fit.fits is True
    assert fit.notes == (
        "the target's runtimes load tflite: convert the onnx model first (sizes change a little)",
    )


def test_no_analyzer_for_the_format_is_one_line_naming_the_install(core_host: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(b"\x08\x07")
    with pytest.raises(NoAnalyzerError) as caught:
        analyze_artifact(core_host, Artifact(path, "onnx", IOSpec((), ())))
    assert str(caught.value) == (
        "no analyzer for onnx artifacts is installed, so the fit was not checked: pip install edgeai-onnx"
    )
    with pytest.raises(
        NoAnalyzerError, match="no analyzer for tvm artifacts is installed, so the fit was not"
    ):
        analyze_artifact(core_host, Artifact(path, "tvm", IOSpec((), ())))


def test_the_analyzer_of_the_format_is_found_and_built(targets_host: Any, mlp_file: Path) -> None:
    complexity = analyze_artifact(targets_host, Artifact.load(mlp_file))
    assert complexity.analyzer == "npz-mlp"
    assert complexity.params == 64 * 128 + 128 + 128 * 10 + 10 == 9610
    assert complexity.macs == 64 * 128 + 128 * 10
    assert complexity.weight_bytes == {"float32": 9610 * 4}
    assert complexity.peak_activation_bytes == 4 * (64 + 128)
