"""Per-layer profile records (edgeai_core.profiling), per-layer numerics (edgeai_core.layerwise) and the
target's STATS profile action, without any framework: the numpy runtime cannot profile, and says so."""

from __future__ import annotations

import math
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import serving, write_mlp

from edgeai_core.layerwise import LayerCapture, LayerNode, compare_captures, ranking, tensor_metrics
from edgeai_core.profiling import (
    LayerProfile,
    ModelProfile,
    ProfileSection,
    ProfileUnavailable,
    mapped,
    normalize,
    profile_runtime,
)
from edgeai_core.transports.tcp import TcpStream
from edgeai_core.wire import messages as msg
from edgeai_core.wire.client import Client, TargetError
from edgeai_core.wire.framing import ErrorCode


def test_mapped_layers_say_how_they_map() -> None:
    assert mapped("conv1", "Conv", 5.0, ["conv1"]).mapping == "exact"
    fused = mapped("r1_nchwc", "Conv", 5.0, ["conv1", "relu1", "conv1"])
    assert (fused.mapping, fused.onnx_nodes) == ("fused", ("conv1", "relu1"))
    assert mapped("ReorderOutput", "ReorderOutput", 1.0, []).mapping == "unknown"
    with pytest.raises(ValueError, match="mapping must be one of exact, fused, unknown"):
        LayerProfile("x", "X", 1.0, mapping="guessed")


def test_a_section_sorts_layers_and_round_trips() -> None:
    layers = (mapped("b", "Relu", 1.0, ["b"]), mapped("a", "Conv", 3.0, ["a"]))
    section = ProfileSection.of("rt", "local", ModelProfile("p", layers, 4, 5.0, ("note",)))
    assert [(layer.name, layer.share) for layer in section.layers] == [("a", 0.75), ("b", 0.25)]
    data = section.to_json()
    assert data["coverage"] == pytest.approx(0.8) and data["layers_us"] == 4.0
    assert data["layers"][0] == {
        "name": "a", "op_type": "Conv", "onnx_nodes": ["a"], "mapping": "exact", "fused": False,
        "mean_us": 3.0, "share": 0.75, "calls": 1.0,
    }  # fmt: skip
    assert ProfileSection.from_json(data) == section
    assert normalize(()) == ()


def test_a_runtime_that_cannot_or_fails_to_profile_is_recorded() -> None:
    class Refuses:
        def profile(self, inputs: Any, runs: int) -> Any:
            raise ProfileUnavailable("no profiler in this build")

    class Breaks:
        def profile(self, inputs: Any, runs: int) -> Any:
            raise OSError("disk full\nmore")

    assert profile_runtime(Refuses(), "r", [], 1, "target").to_json() == {
        "status": "unavailable", "runtime": "r", "where": "target", "reason": "no profiler in this build"
    }  # fmt: skip
    assert profile_runtime(Breaks(), "r", [], 1, "local").reason == "OSError: disk full"


def test_tensor_metrics() -> None:
    ref = np.array([3.0, 4.0])
    assert tensor_metrics(ref, ref) == {
        "cosine_similarity": 1.0, "snr_db": 200.0, "max_abs_error": 0.0, "relative_error": 0.0
    }  # fmt: skip
    got = tensor_metrics(ref, np.array([3.0, 4.5]))
    assert got["relative_error"] == pytest.approx(0.1)
    assert got["snr_db"] == pytest.approx(10 * math.log10(25 / 0.25))
    assert got["max_abs_error"] == pytest.approx(0.5)


def test_a_fused_away_tensor_charges_its_error_to_the_group() -> None:
    """x -> a (Conv) -> t1 -> b (Relu) -> t2 -> c (Conv) -> t3; the candidate has no t1 (Conv+Relu fused)."""
    nodes = (
        LayerNode("a", "Conv", ("x",), ("t1",)),
        LayerNode("b", "Relu", ("t1",), ("t2",)),
        LayerNode("c", "Conv", ("t2",), ("t3",)),
    )
    ones = np.ones(100)
    reference = LayerCapture({"t1": ones, "t2": ones, "t3": ones}, nodes, ("x",))
    candidate = LayerCapture({"t2": ones * 1.5, "t3": ones * 1.6}, nodes, ("x",))
    rows = compare_captures(reference, candidate)
    assert [(r.tensor, r.node, r.nodes, r.op_type) for r in rows] == [
        ("t2", "a", ("a", "b"), "Conv"),
        ("t3", "c", ("c",), "Conv"),
    ]
    assert rows[0].relative_error == pytest.approx(0.5) and rows[0].added_error == pytest.approx(0.5)
    assert rows[1].input_relative_error == pytest.approx(0.5) and rows[1].added_error == pytest.approx(0.1)
    ranked = ranking(rows, {"per_channel": False, "calibration_method": "minmax"})
    assert [r["node"] for r in ranked] == ["a", "c"]
    assert ranked[0]["suggestions"] == [
        'keep it in float: exclude_nodes = ["a", "b"]',
        "quantize weights per channel: per_channel = true",
        'clip activation outliers: calibration_method = "percentile" (or "entropy")',
    ]


@pytest.mark.subprocess
def test_the_target_profiles_on_request_and_refuses_without_inputs(tmp_path: Path) -> None:
    model = write_mlp(tmp_path / "mlp.npz")
    serve = ["--protocol", "tcp", "--runtime", "numpy", "--port", "0"]
    with serving(serve, tmp_path / "work") as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        with Client(TcpStream(sock, "target"), timeout_s=10) as client:
            client.hello()
            with pytest.raises(TargetError, match="no model is loaded") as refused:
                client.stats(msg.STATS_PROFILE, runs=3)
            assert refused.value.code == ErrorCode.NO_MODEL
            client.send_iospec(model.to_json())
            client.upload(model.path)
            with pytest.raises(TargetError, match="STATS profile before DATA") as early:
                client.stats(msg.STATS_PROFILE, runs=3)
            assert early.value.code == ErrorCode.UNEXPECTED
            client.data([np.ones((2, 6), np.float32)])
            reply = client.stats(msg.STATS_PROFILE, runs=3)
            assert reply["profile"] == {
                "status": "unavailable", "runtime": "numpy", "where": "target",
                "reason": "runtime numpy cannot profile per layer",
            }  # fmt: skip
            assert "profile" not in client.stats()
