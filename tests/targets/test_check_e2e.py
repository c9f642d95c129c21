"""``edgeai check`` with the ONNX analyzer of edgeai-onnx (analyzer ``onnx``): a hand-built ONNX graph and the
torch plugin's MobileNetV2 exported with the torch-to-onnx converter, against the shipped profiles.

These run once edgeai-onnx ships its analyzer (``edgeai_onnx.analyzer:OnnxAnalyzer``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("edgeai_onnx.analyzer", exc_type=ImportError)
pytest.importorskip("edgeai_targets", exc_type=ImportError)

from edgeai_core.cli import cli

OWN = """
[targets.no-gemm]
summary = "a runtime without Gemm"
arch = "aarch64"
cores = 1
ram_bytes = "1 GiB"
runtimes = ["tiny"]
operators = { tiny = { onnx = ["Conv", "Relu", "GlobalAveragePool", "Flatten"] } }
"""


@pytest.fixture
def onnx_host(first_party_host: Callable[..., Any]) -> Any:
    import edgeai_targets.plugin

    return first_party_host(
        "onnx", optional=("torch",), extra=((edgeai_targets.plugin, "targets", "edgeai-targets"),)
    )


def small_onnx(path: Path) -> Path:
    """Conv 1->4 (3x3, pad 1) on 1x1x8x8, Relu, GlobalAveragePool, Flatten, Gemm 4->10: float32."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = [
        numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b"),
        numpy_helper.from_array(np.ones((10, 4), np.float32), "fc_w"),
        numpy_helper.from_array(np.zeros(10, np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def check(host: Any, *args: str) -> Any:
    return CliRunner().invoke(cli, ["check", *args], obj={"host": host})


def test_a_float_onnx_model_fits_a_board_and_is_flagged_on_the_int8_only_target(
    onnx_host: Any, tmp_path: Path
) -> None:
    model = small_onnx(tmp_path / "small.onnx")
    result = check(
        onnx_host, str(model), "--target", "raspberry-pi-4", "--target", "coral-devboard", "--json"
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["model"]["params"] == 4 * 9 + 4 + 40 + 10
    assert data["model"]["weight_bytes"] == 4 * (4 * 9 + 4 + 40 + 10)
    pi, coral = data["targets"]
    assert pi["fits"] is True
    assert pi["ram"]["parts"]["weights"] == 360
    assert coral["fits"] is False
    assert coral["unsupported_dtypes"]["float32"] >= 1
    assert any(r.startswith("computes in float32") for r in coral["reasons"])


def test_an_operator_allow_list_names_what_is_missing(onnx_host: Any, tmp_path: Path) -> None:
    own = tmp_path / "own.toml"
    own.write_text(OWN, encoding="utf-8")
    model = small_onnx(tmp_path / "small.onnx")
    result = check(onnx_host, str(model), "--target", "no-gemm", "--targets", str(own))
    assert result.exit_code == 1, result.output
    assert "no-gemm  does not fit: tiny lacks 1 operator(s): Gemm" in result.output


@pytest.mark.slow
def test_mobilenetv2_fits_a_cortex_a_board_but_not_a_256k_cortex_m4(onnx_host: Any, tmp_path: Path) -> None:
    pytest.importorskip("torch", exc_type=ImportError)
    import torch

    from edgeai_core.artifacts import Artifact
    from edgeai_core.components import Context
    from edgeai_torch.checkpoint import io_spec, save_checkpoint
    from edgeai_torch.nets import build

    params = {"channels": 3, "image_size": 224, "classes": 1000, "width": 1.0, "dropout": 0.2}
    torch.manual_seed(0)
    module = build("mobilenetv2", params).eval()
    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(path, "mobilenetv2", params, module)
    source = Artifact(path, "torch", io_spec(params), producer="model:mobilenetv2").save()
    (tmp_path / "export").mkdir()
    converter = onnx_host.get("converter", "torch-to-onnx").create(
        {}, where="converter", context=Context(workdir=tmp_path / "export", seed=0)
    )
    exported = converter.convert(source)

    result = check(
        onnx_host, str(exported.path), "--target", "raspberry-pi-4", "--target", "cortex-m4", "--json"
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["model"]["params"] > 3_000_000
    assert data["model"]["macs"] > 250_000_000
    pi, m4 = data["targets"]
    assert pi["fits"] is True
    assert pi["ram"]["needed_bytes"] == data["model"]["weight_bytes"] + data["model"]["peak_activation_bytes"]
    assert m4["fits"] is False
    assert m4["ram"]["needed_bytes"] == data["model"]["peak_activation_bytes"]  # weights stay in flash
    assert m4["ram"]["margin_bytes"] == 256 * 1024 - m4["ram"]["needed_bytes"] < 0
    assert m4["storage"]["needed_bytes"] == exported.size_bytes + 16 * 1024
    assert m4["reasons"][0].startswith("needs ") and "RAM, has 256 KiB (-" in m4["reasons"][0]
    assert "storage, has 1 MiB (-" in m4["reasons"][1]

    text = check(onnx_host, str(exported.path), "--target", "cortex-m4")
    assert text.exit_code == 1
    assert "cortex-m4  does not fit: needs " in text.output
