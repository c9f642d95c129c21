"""The ``onnx`` analyzer: MACs, parameters and peak activation memory against hand-worked graphs, the digits
CNN (float, QDQ int8, external data), unknown operators and subgraphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeai_core.api import AnalysisError, ModelComplexity
from edgeai_onnx.analyzer import analyze_file

F = TensorProto.FLOAT


def _init(name: str, *shape: int, dtype: Any = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ones(shape, dtype), name)


def _save(testkit: Any, path: Path, nodes: list[Any], inputs: list[Any], outputs: list[Any], inits: list[Any],
          value_info: list[Any] | None = None) -> Path:  # fmt: skip
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, inits, value_info=value_info or [])
    return testkit.save_model(graph, path)


def _layer(result: ModelComplexity, name: str) -> Any:
    return next(layer for layer in result.layers if layer.name == name)


def test_conv_depthwise_gemm_matmul_match_hand_counts(testkit: Any, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "wd"], ["c2"], name="depthwise", pads=[1, 1, 1, 1], group=4),
        helper.make_node("Flatten", ["c2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["g"], name="gemm", transB=1),
        helper.make_node("MatMul", ["g", "wm"], ["y"], name="matmul"),
    ]
    inits = [_init("w1", 4, 3, 3, 3), _init("b1", 4), _init("wd", 4, 1, 3, 3), _init("wg", 16, 256),
             _init("bg", 16), _init("wm", 16, 8)]  # fmt: skip
    path = _save(
        testkit,
        tmp_path / "four.onnx",
        nodes,
        [helper.make_tensor_value_info("x", F, ["n", 3, 8, 8])],
        [helper.make_tensor_value_info("y", F, ["n", 8])],
        inits,
    )
    result = analyze_file(path)
    # conv: 4x8x8 outputs x 3 channels x 3x3 = 6912; depthwise: 256 x 1 x 9 = 2304; gemm 16 x 256; matmul 8 x 16
    expected = {"conv": 6912, "depthwise": 2304, "flatten": 0, "gemm": 4096, "matmul": 128}
    assert {layer.name: layer.macs for layer in result.layers} == expected
    assert result.macs == 13440
    assert {layer.name: layer.params for layer in result.layers} == {
        "conv": 108 + 4, "depthwise": 36, "flatten": 0, "gemm": 4096 + 16, "matmul": 128
    }  # fmt: skip
    assert result.params == 4388 and result.weight_bytes == {"float32": 4388 * 4}
    # FLOPs: 2 per MAC, plus one per output element for each bias
    assert _layer(result, "conv").flops == 2 * 6912 + 256
    assert _layer(result, "gemm").flops == 2 * 4096 + 16
    assert result.flops == 2 * 13440 + 256 + 16
    assert _layer(result, "depthwise").output_shapes == ((1, 4, 8, 8),)
    assert _layer(result, "conv").input_shapes == ((1, 3, 8, 8), (4, 3, 3, 3), (4,))
    assert _layer(result, "flatten").activation_bytes == 256 * 4
    assert result.assumed_dims == {"x:n": 1} and not result.lower_bound and result.unknown_ops == ()
    assert result.op_types == ("Conv", "Flatten", "Gemm", "MatMul") and result.dtypes == ("float32",)
    batch4 = analyze_file(path, batch_size=4)
    assert batch4.macs == 4 * 13440 and batch4.assumed_dims == {"x:n": 4}
    assert ModelComplexity.from_json(result.to_json()) == result


def test_batched_matmul_conv_transpose_and_lstm(testkit: Any, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("MatMul", ["a", "b"], ["ab"], name="bmm"),
        helper.make_node("ConvTranspose", ["x", "wt"], ["up"], name="deconv"),
        helper.make_node("LSTM", ["s", "lw", "lr"], ["h"], name="lstm", hidden_size=4),
    ]
    path = _save(
        testkit,
        tmp_path / "more.onnx",
        nodes,
        [
            helper.make_tensor_value_info("a", F, [2, 3, 4, 5]),
            helper.make_tensor_value_info("b", F, [2, 3, 5, 6]),
            helper.make_tensor_value_info("x", F, [1, 2, 4, 4]),
            helper.make_tensor_value_info("s", F, [5, 2, 3]),
        ],
        [helper.make_tensor_value_info(n, F, None) for n in ("ab", "up", "h")],
        [_init("wt", 2, 3, 3, 3), _init("lw", 1, 16, 3), _init("lr", 1, 16, 4)],
    )
    result = analyze_file(path)
    macs = {layer.name: layer.macs for layer in result.layers}
    # bmm: 2x3x4x6 outputs x 5; deconv: 2x4x4 inputs x 3 channels x 3x3; lstm: 5 steps x 2 x 4 gates x 4 x (3+4)
    assert macs == {"bmm": 720, "deconv": 864, "lstm": 1120}
    assert _layer(result, "deconv").output_shapes == ((1, 3, 6, 6),)


def test_peak_activation_memory_of_a_branching_graph(testkit: Any, tmp_path: Path) -> None:
    # x(16) -> a = Relu(x), b = Sigmoid(x) -> c = Concat(a, b) (32) -> d = MatMul(c, w) (64) -> e = Relu(d)
    # -> g = Concat(e, a) (80). The skip keeps a (64 bytes) alive to the last node. Live bytes per node:
    # 0: x+a = 128; 1: x+a+b = 192; 2: a+b+c = 256; 3: a+c+d = 448; 4: a+d+e = 576; 5: a+e+g = 640.
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Sigmoid", ["x"], ["b"]),
        helper.make_node("Concat", ["a", "b"], ["c"], axis=1),
        helper.make_node("MatMul", ["c", "w"], ["d"]),
        helper.make_node("Relu", ["d"], ["e"]),
        helper.make_node("Concat", ["e", "a"], ["g"], axis=1),
    ]
    path = _save(
        testkit,
        tmp_path / "branches.onnx",
        nodes,
        [helper.make_tensor_value_info("x", F, [1, 16])],
        [helper.make_tensor_value_info("g", F, [1, 80])],
        [_init("w", 32, 64)],
    )
    result = analyze_file(path)
    assert result.peak_activation_bytes == 640
    assert [layer.activation_bytes for layer in result.layers] == [64, 64, 128, 256, 256, 320]
    assert [layer.name for layer in result.layers] == [
        "Relu_0", "Sigmoid_1", "Concat_2", "MatMul_3", "Relu_4", "Concat_5"
    ]  # fmt: skip
    assert result.top_layers("activation_bytes", 1)[0].name == "Concat_5"


def test_digits_cnn_layers_add_up_to_the_totals(cnn_onnx: Path) -> None:
    result = analyze_file(cnn_onnx)
    # conv1 8x8x8 outputs x 1 x 9; conv2 16x8x8 x 8 x 9; gemm 64 x 256; gemm 10 x 64
    assert result.macs == 4608 + 73728 + 16384 + 640 == 95360
    assert result.params == (72 + 8) + (1152 + 16) + (16384 + 64) + (640 + 10) == 18346
    assert sum(layer.macs or 0 for layer in result.layers) == result.macs
    assert sum(layer.flops or 0 for layer in result.layers) == result.flops
    assert sum(layer.params for layer in result.layers) == result.params
    assert sum(sum(layer.weight_bytes.values()) for layer in result.layers) == result.total_weight_bytes
    assert result.weight_bytes == {"float32": 18346 * 4}
    assert result.assumed_dims == {"input:batch": 1} and not result.lower_bound
    # the largest live set: the Relu after conv2, its input and output (16x8x8 each), float32
    assert result.peak_activation_bytes == (1024 + 1024) * 4
    assert [layer.name for layer in result.top_layers("macs", 2)] == ["Conv_2", "Gemm_6"]


def test_torch_export_of_the_digits_cnn_counts_the_same(cnn_dynamo: Path) -> None:
    """torch.onnx.export writes a Reshape whose int64 shape is metadata, not a parameter."""
    result = analyze_file(cnn_dynamo)
    assert (result.macs, result.params, result.weight_bytes) == (95360, 18346, {"float32": 18346 * 4})
    assert result.dtypes == ("float32",) and "Reshape" in result.op_types and not result.lower_bound


def test_qdq_int8_model_has_int8_weights(make: Any, testkit: Any, cnn_onnx: Path, digits: Any) -> None:
    source = testkit.artifact_for(cnn_onnx)
    quantized = make("compiler", "onnx-quantize", calibration_samples=20).compile(source, digits)
    result = make("analyzer", "onnx").analyze(quantized)
    assert result.unknown_ops == () and not result.lower_bound
    assert {"QuantizeLinear", "DequantizeLinear", "Conv", "Gemm"} <= set(result.op_types)
    # every weight matrix is int8 (biases are int32, scales float32)
    assert result.weight_bytes["int8"] >= 72 + 1152 + 16384 + 640
    assert result.weight_bytes["int8"] > 3 * result.weight_bytes.get("float32", 0)
    assert "int8" in result.dtypes
    assert result.macs == 95360  # the float Conv/Gemm between the DQ/Q pairs do the same work


def test_qoperator_model_counts_qlinear_ops(make: Any, testkit: Any, cnn_onnx: Path, digits: Any) -> None:
    source = testkit.artifact_for(cnn_onnx)
    quantized = make(
        "compiler", "onnx-quantize", quant_format="qoperator", activation_type="uint8", calibration_samples=20
    ).compile(source, digits)
    result = make("analyzer", "onnx").analyze(quantized)
    assert "QLinearConv" in result.op_types
    assert sum(layer.macs or 0 for layer in result.layers if layer.op_type == "QLinearConv") == 4608 + 73728
    assert result.macs == 95360 and not result.lower_bound


def test_unknown_custom_op_is_listed_and_totals_are_lower_bounds(testkit: Any, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Swizzle", ["r"], ["s"], name="custom", domain="com.example"),
        helper.make_node("MatMul", ["s", "w"], ["y"], name="matmul"),
    ]
    graph = helper.make_graph(
        nodes,
        "custom",
        [helper.make_tensor_value_info("x", F, [1, 8])],
        [helper.make_tensor_value_info("y", F, [1, 4])],
        [_init("w", 8, 4)],
        value_info=[helper.make_tensor_value_info("s", F, [1, 8])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
        ir_version=8,
    )
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    result = analyze_file(path)
    assert result.unknown_ops == ("com.example.Swizzle",) and result.lower_bound
    custom = _layer(result, "custom")
    assert (custom.macs, custom.flops) == (None, None)
    assert result.macs == 32 and _layer(result, "matmul").macs == 32
    assert result.to_json(layers=False)["lower_bound"] is True


def test_subgraphs_are_listed_as_unknown(testkit: Any, tmp_path: Path) -> None:
    def branch(name: str, op: str) -> Any:
        return helper.make_graph(
            [helper.make_node(op, ["x"], [f"{name}_out"])],
            name,
            [],
            [helper.make_tensor_value_info(f"{name}_out", F, [1, 8])],
        )

    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node(
            "If", ["cond"], ["y"], then_branch=branch("then", "Relu"), else_branch=branch("else", "Sigmoid")
        ),
    ]
    path = _save(
        testkit,
        tmp_path / "if.onnx",
        nodes,
        [
            helper.make_tensor_value_info("x", F, [1, 8]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", F, [1, 8]), helper.make_tensor_value_info("r", F, [1, 8])],
        [],
    )
    result = analyze_file(path)
    assert result.unknown_ops == ("If",) and result.lower_bound
    # x is read inside the subgraphs, so it lives until the If node: x + r + y (+ cond, 1 byte)
    assert result.peak_activation_bytes == 3 * 32 + 1


def test_external_data_is_not_read(cnn_onnx: Path, tmp_path: Path) -> None:
    path = tmp_path / "cnn.onnx"
    onnx.save_model(
        onnx.load(str(cnn_onnx)),
        str(path),
        save_as_external_data=True,
        location="cnn.onnx.data",
        size_threshold=0,
    )
    assert path.stat().st_size < 2000
    (tmp_path / "cnn.onnx.data").unlink()  # sizes come from the graph's metadata alone
    result = analyze_file(path)
    reference = analyze_file(cnn_onnx)
    assert (result.params, result.weight_bytes, result.macs) == (18346, {"float32": 18346 * 4}, 95360)
    assert result.to_json() == reference.to_json()


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x00not a model" * 10)
    with pytest.raises(AnalysisError, match=r"garbage\.onnx"):
        analyze_file(path)


def test_registration_names_the_analyzer() -> None:
    import edgeai_onnx.plugin as plugin

    (record,) = plugin.edgeai_register_analyzers()
    assert (record.name, record.formats, record.factory) == (
        "onnx",
        ("onnx",),
        "edgeai_onnx.analyzer:OnnxAnalyzer",
    )
    assert (record.install, record.modules) == ("edgeai-onnx[compile]", ("onnx",))


def test_pooling_normalization_softmax_and_elementwise_flops(testkit: Any, tmp_path: Path) -> None:
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["bn"], name="bn"),
        helper.make_node("MaxPool", ["bn"], ["mp"], name="maxpool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["bn"], ["gap"], name="gap"),
        helper.make_node("Add", ["mp", "mp"], ["sum"], name="add"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Softmax", ["flat"], ["y"], name="softmax", axis=1),
    ]
    path = _save(
        testkit,
        tmp_path / "misc.onnx",
        nodes,
        [helper.make_tensor_value_info("x", F, [1, 4, 8, 8])],
        [
            helper.make_tensor_value_info("y", F, [1, 4]),
            helper.make_tensor_value_info("sum", F, [1, 4, 4, 4]),
        ],
        [_init("s", 4), _init("b", 4), _init("m", 4), _init("v", 4)],
    )
    result = analyze_file(path)
    flops = {layer.name: layer.flops for layer in result.layers}
    # bn: 2 per element of 4x8x8; maxpool: 4x4x4 outputs x 2x2 window; gap: 1 per input element; add: 1 per
    # output element; softmax: 3 per element
    assert flops == {"bn": 512, "maxpool": 256, "gap": 256, "add": 64, "flatten": 0, "softmax": 12}
    assert result.macs == 0 and result.params == 16 and _layer(result, "bn").params == 16


def test_external_reshape_shape_is_read_for_shape_inference(cnn_dynamo: Path, tmp_path: Path) -> None:
    """Only the tiny int64 tensors (the Reshape's target shape) come from the data file, so the Gemm after the
    Reshape still has shapes; without the data file the Gemm's MACs are unknown and the totals lower bounds."""
    path = tmp_path / "dyn.onnx"
    onnx.save_model(
        onnx.load(str(cnn_dynamo)),
        str(path),
        save_as_external_data=True,
        location="dyn.data",
        size_threshold=0,
    )
    result = analyze_file(path)
    assert (result.macs, result.params, result.lower_bound) == (95360, 18346, False)
    (tmp_path / "dyn.data").unlink()
    blind = analyze_file(path)
    assert blind.lower_bound and blind.unknown_ops == ("Gemm", "Relu")  # shapes unknown after the Reshape
    assert blind.params == 18346 and blind.macs == 4608 + 73728  # the convolutions before the Reshape
