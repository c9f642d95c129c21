"""A user's own models through ``edgeai matrix --model onnx-file``: built and exported to ONNX here, then run
through every installed road that takes them, with fidelity recorded and asserted per road.

Bounds, from a real run (seed 0, 32 synthetic samples; about 15 s for both models): the float roads differ from
the ONNX file by 0 (onnxruntime, the reference's own runtime) and 9e-8 (tvm), asserted <= 1e-4; the int8 roads
(onnx-quantize static and dynamic) reach a cosine similarity of 0.9997 to 0.99997, asserted >= 0.98 (the dataset
is ``synthetic``, without labels, so top-1 agreement is not recorded). TVM 0.27's ONNX frontend has no LSTM: that
road fails with one line naming the compiler, the file and the operator, which is asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_core.cli import cli

#: a short benchmark per road: every setting as a `--set` option
FAST = tuple(
    arg
    for setting in ("warmup=2", "min_count=20", "min_duration_s=0")
    for arg in ("--set", f"benchmark.{setting}")
)
SEQ, FEATURES, CLASSES = 8, 16, 4
FLOAT_MAX_ABS_DIFF = 1e-4
INT8_MIN_COSINE = 0.98


def _export(module: Any, path: Path) -> Path:
    import torch

    module.eval()
    torch.onnx.export(
        module,
        (torch.randn(1, SEQ, FEATURES),),
        str(path),
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,  # one self-contained file with a dynamic batch
    )
    return path


@pytest.fixture(scope="module")
def user_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    nn = torch.nn
    folder = tmp_path_factory.mktemp("user-models")
    torch.manual_seed(0)

    class Encoder(nn.Module):  # a small transformer encoder block with a classification head
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.TransformerEncoderLayer(FEATURES, 2, 32, dropout=0.0, batch_first=True)
            self.head = nn.Linear(FEATURES, CLASSES)

        def forward(self, x: Any) -> Any:
            return self.head(self.block(x).mean(dim=1))

    class Lstm(nn.Module):  # an LSTM sequence classifier: the last step's hidden state
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(FEATURES, 24, batch_first=True)
            self.head = nn.Linear(24, CLASSES)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return {
        "transformer": _export(Encoder(), folder / "transformer.onnx"),
        "lstm": _export(Lstm(), folder / "lstm.onnx"),
    }


ROADS = ["onnxruntime", "onnx-quantize.static+onnxruntime", "onnx-quantize.dynamic+onnxruntime", "tvm+tvm"]


@pytest.mark.parametrize("name", ["transformer", "lstm"])
def test_user_model_through_every_road(
    name: str, user_models: dict[str, Path], make_host: Any, tmp_path: Path
) -> None:
    host = make_host("core", "datasets", "onnx", "tvm")
    model = user_models[name]
    base = ["matrix", "--model", "onnx-file", "--set", f"model.path={model}", "--set", "dataset.samples=64"]
    listed = CliRunner().invoke(cli, [*base, "--list", "--json"], obj={"host": host})
    assert listed.exit_code == 0, listed.output
    planned = [c["combination"] for c in json.loads(listed.stdout)["combinations"]]
    roads = [r for r in ROADS if r in planned]
    assert roads[:3] == ROADS[:3]  # onnxruntime and onnx-quantize are always installed with these tests
    only = [a for r in roads for a in ("--only", r)]
    result = CliRunner().invoke(
        cli, [*base, *FAST, *only, "-o", str(tmp_path / "m"), "--json"], obj={"host": host}
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["trained"] is False and document["checkpoints"] == []
    rows = {r["combination"]: r for r in document["combinations"]}
    assert sorted(rows) == sorted(roads)
    for road, row in rows.items():
        if row["status"] != "complete":  # a road may legitimately fail: its one line names the component
            assert (name, road) == ("lstm", "tvm+tvm"), row["note"]
            assert row["note"].startswith("steps[0] failed: compiler tvm on lstm.onnx: "), row["note"]
            assert "does not support: LSTM" in row["note"]
            assert "\n" not in row["note"]
            continue
        fidelity = row["fidelity"]
        assert row["median_us"] > 0 and fidelity["step"] == row["runtime"].split(" ")[0]
        assert fidelity["status"] == "ok"
        if "quantize" in road:
            assert fidelity["precision"] == "int8" and fidelity["cosine_similarity"] >= INT8_MIN_COSINE
        else:
            assert fidelity["precision"] == "float32" and fidelity["max_abs_diff"] <= FLOAT_MAX_ABS_DIFF
        results = json.loads((tmp_path / "m" / row["results"]).read_text())
        assert results["fidelity"]["reference"]["step"] == "onnx-file"
    table = (tmp_path / "m" / "matrix.md").read_text()
    assert "loaded from its file" in table and "fidelity" in table


def test_a_dynamic_sequence_length_is_caught_before_a_static_build(make_host: Any, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", "seq", FEATURES])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", FEATURES])
    node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)
    graph = helper.make_graph([node], "mean", [x], [y])
    path = tmp_path / "dynamic.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    host = make_host("core", "datasets", "onnx", "tvm")
    expected = (
        "compiler 'tvm' builds for static shapes, but input 'x' of dynamic.onnx has a dynamic dimension 1 in "
        "(batch, seq, 16); fix it with --set model.input_shape=[1,<seq>,16]"
    )
    config = tmp_path / "run.json"
    config.write_text(
        json.dumps(
            {
                "dataset": {"name": "synthetic", "shape": [SEQ, FEATURES]},
                "model": {"name": "onnx-file", "path": str(path)},
                "steps": [{"name": "tvm"}],
                "runtime": {"name": "tvm"},
            }
        )
    )
    dry = CliRunner().invoke(
        cli, ["run", str(config), "-o", str(tmp_path / "o"), "--dry-run"], obj={"host": host}
    )
    assert dry.exit_code == 2
    assert dry.output.strip().splitlines()[-1] == f"error: steps[0]: {expected}"
    fixed = CliRunner().invoke(
        cli,
        [
            "run",
            str(config),
            "-o",
            str(tmp_path / "o"),
            "--dry-run",
            "--set",
            f"model.input_shape=[1,{SEQ},16]",
        ],
        obj={"host": host},
    )
    assert fixed.exit_code == 0, fixed.output
    listed = CliRunner().invoke(
        cli,
        # the synthetic inputs need the sequence length: the plan checks the inputs before any road
        [
            "matrix",
            "--model",
            "onnx-file",
            "--set",
            f"model.path={path}",
            "--set",
            f"dataset.shape=[{SEQ},{FEATURES}]",
            "--list",
            "--json",
        ],
        obj={"host": host},
    )
    assert listed.exit_code == 0, listed.output
    document = json.loads(listed.stdout)
    assert "onnxruntime" in [c["combination"] for c in document["combinations"]]
    assert not [c for c in document["combinations"] if "tvm" in c["combination"]]
    assert {"combination": "tvm+tvm", "reason": f"steps[0]: {expected}"} in document["rejected"]
