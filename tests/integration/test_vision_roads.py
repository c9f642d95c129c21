"""The shapes detector and segmenter on every backend, through the real `edgeai` console script.

Each model is trained once per module (fewer epochs than its default; measured with these epochs: detector
mAP@.5 0.891 and mAP 0.560, segmenter mIoU 0.743, int8 within 0.005 of both; see the README's "Detection and
segmentation models"), then exported to ONNX and run on ONNX Runtime
float and static int8, on TVM, and on ONNX Runtime behind a local `edgeai serve`. Chance is near 0 for mAP@.5
(the boxes must overlap the true ones at IoU >= 0.5 with the right class) and about 0.25 for mIoU (background
alone, one of four classes, right everywhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.subprocess

pytest.importorskip("edgeai_torch")
pytest.importorskip("edgeai_datasets")
pytest.importorskip("edgeai_onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("pycocotools", reason="edgeai-datasets[detection] computes mAP with pycocotools")

FAST = "[benchmark]\nwarmup = 2\nmin_count = 20\nmin_duration_s = 0\n"
#: model -> (dataset, test epochs, primary quality key, the bound the trained model reaches on the test split)
MODELS = {
    "shapes-detector": ("shapes", 4, "map_50", 0.80),
    "shapes-segmenter": ("shapes-segmentation", 5, "miou", 0.65),
}
#: the largest change of the quality key int8 (static QDQ, calibrated on shapes) may make
INT8_DELTA = 0.05


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, edgeai: Callable[..., Any]) -> Callable[[str], Path]:
    """``trained(model)``: the checkpoint of ``model`` trained once per module."""
    done: dict[str, Path] = {}

    def train(model: str) -> Path:
        if model not in done:
            dataset, epochs, _, _ = MODELS[model]
            folder = tmp_path_factory.mktemp(f"train-{model}")
            run = edgeai("train", model, dataset, "-o", str(folder / "out"), "--epochs", str(epochs))
            assert run.returncode == 0, run.stderr[-2000:]
            done[model] = Path(json.loads((folder / "out" / "train.json").read_text())["artifact"]["path"])
        return done[model]

    return train


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, edgeai: Callable[..., Any], trained: Callable[[str], Path]
) -> Callable[..., dict[str, Any]]:
    """``results(model, road, target="")``: results.json of one road (float, int8, tvm), run once per module."""
    done: dict[tuple[str, str, str], dict[str, Any]] = {}
    roads = {
        "float": '[runtime]\nname = "onnxruntime"\n',
        "int8": '[[steps]]\nname = "onnx-quantize"\nmode = "static"\n[runtime]\nname = "onnxruntime"\n',
        "tvm": '[[steps]]\nname = "tvm"\n[runtime]\nname = "tvm"\n',
    }

    def run(model: str, road: str, target: str = "") -> dict[str, Any]:
        key = (model, road, target)
        if key not in done:
            dataset = MODELS[model][0]
            folder = tmp_path_factory.mktemp(f"{model}-{road}")
            config = (
                f'[dataset]\nname = "{dataset}"\n[model]\nname = "{model}"\ncheckpoint = "{trained(model)}"\n'
                + roads[road]
                + FAST
                + target
            )
            (folder / "run.toml").write_text(config)
            done_run = edgeai("run", str(folder / "run.toml"), "-o", str(folder / "out"))
            assert done_run.returncode == 0, done_run.stderr[-3000:]
            done[key] = json.loads((folder / "out" / "results.json").read_text())
        return done[key]

    return run


@pytest.mark.parametrize("model", sorted(MODELS))
def test_trained_model_reaches_its_bound_on_onnxruntime(
    model: str, results: Callable[..., dict[str, Any]]
) -> None:
    _, _, key, bound = MODELS[model]
    doc = results(model, "float")
    quality = doc["quality"]
    assert quality["applicable"] is True
    assert quality[key] >= bound
    if model == "shapes-detector":
        assert quality["primary"] == "map" and quality["map"] >= 0.45
        assert quality["postprocess"]["kind"] == "centernet"
        assert (
            quality["postprocess"]["heatmap"],
            quality["postprocess"]["size"],
            quality["postprocess"]["offset"],
        ) == (
            0,
            1,
            2,
        )
    else:
        assert quality["primary"] == "miou"
        assert quality["postprocess"]["kind"] == "segmentation"
    # fidelity per step, every output compared (the detector has three)
    steps = doc["fidelity"]["steps"]
    assert [s["step"] for s in steps] == ["torch-to-onnx", "onnxruntime"]
    assert all(s["status"] == "ok" for s in steps)
    outputs = 3 if model == "shapes-detector" else 1
    assert all(len(s["outputs"]) == outputs for s in steps)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_int8_build_stays_within_the_stated_delta(model: str, results: Callable[..., dict[str, Any]]) -> None:
    _, _, key, bound = MODELS[model]
    float_q = results(model, "float")["quality"]
    doc = results(model, "int8")
    assert abs(doc["quality"][key] - float_q[key]) <= INT8_DELTA
    assert doc["quality"][key] >= bound - INT8_DELTA
    quantize = next(s for s in doc["fidelity"]["steps"] if s["step"] == "onnx-quantize")
    assert quantize["precision"] == "int8" and quantize["status"] == "ok"
    # the model's postprocess declaration reached the quantized artifact
    assert doc["quality"]["postprocess"] == float_q["postprocess"]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_tvm_gives_the_quality_of_onnxruntime_float(
    model: str, results: Callable[..., dict[str, Any]]
) -> None:
    pytest.importorskip("edgeai_tvm")
    pytest.importorskip("tvm")
    _, _, key, _ = MODELS[model]
    float_q = results(model, "float")["quality"]
    doc = results(model, "tvm")
    primary = float_q["primary"]
    assert doc["quality"][key] == pytest.approx(float_q[key], abs=0.005)
    assert doc["quality"][primary] == pytest.approx(float_q[primary], abs=0.005)
    assert all(s["status"] == "ok" for s in doc["fidelity"]["steps"])


@pytest.mark.parametrize("model", sorted(MODELS))
def test_remote_run_gives_the_local_quality(
    model: str, tmp_path: Path, results: Callable[..., dict[str, Any]]
) -> None:
    script = Path(sys.executable).parent / "edgeai"
    server = subprocess.Popen(
        [str(script), "serve", "--protocol", "tcp", "--runtime", "onnxruntime", "--port", "0",
         "--workdir", str(tmp_path / "target")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        listening = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        assert listening["event"] == "listening"
        remote = results(model, "float", f'[target]\nprotocol = "tcp"\nport = {listening["port"]}\n')
    finally:
        server.kill()
        server.wait(timeout=30)
    local = results(model, "float")
    _, _, key, _ = MODELS[model]
    assert any(s["kind"] == "upload" for s in remote["steps"])
    assert remote["quality"][key] == pytest.approx(local["quality"][key], abs=1e-6)
    assert remote["quality"][local["quality"]["primary"]] == pytest.approx(
        local["quality"][local["quality"]["primary"]], abs=1e-6
    )


def test_a_bad_postprocess_fails_in_one_line_naming_the_field(
    tmp_path: Path,
    edgeai: Callable[..., Any],
    trained: Callable[[str], Path],
    errors: Callable[[str], list[str]],
) -> None:
    source = trained("shapes-detector")
    folder = tmp_path / "edited"
    folder.mkdir()
    (folder / "model.pt").write_bytes(source.read_bytes())
    sidecar = json.loads(source.with_name("model.pt.edgeai.json").read_text())
    sidecar["metadata"]["postprocess"]["heatmap"] = 5
    sidecar["path"] = str(folder / "model.pt")
    (folder / "model.pt.edgeai.json").write_text(json.dumps(sidecar))
    config = tmp_path / "run.toml"
    config.write_text(
        f'[dataset]\nname = "shapes"\n[model]\nname = "shapes-detector"\ncheckpoint = "{folder / "model.pt"}"\n'
        '[runtime]\nname = "onnxruntime"\n' + FAST
    )
    run = edgeai("run", str(config), "-o", str(tmp_path / "out"))
    assert run.returncode == 2, run.stderr[-2000:]
    (line,) = errors(run.stderr)
    assert "postprocess.heatmap = 5, but the model has 3 output(s): heatmap, size, offset" in line
    assert "model.checkpoint model.pt" in line


def test_demo_task_filter_lists_the_vision_variants(edgeai: Callable[..., Any]) -> None:
    listed = edgeai("demo", "--list", "--json", "--task", "detection", "--task", "segmentation")
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = json.loads(listed.stdout)
    names = {r["variant"] for r in rows}
    assert {"detector-onnxruntime", "detector-onnxruntime-int8", "segmenter-onnxruntime"} <= names
    assert all(r["task"] in ("detection", "segmentation") for r in rows)
    assert {r["task"] for r in rows if r["variant"].startswith("detector-")} == {"detection"}
    everything = json.loads(edgeai("demo", "--list", "--json").stdout)
    assert {r["task"] for r in everything} >= {"classification", "detection", "segmentation"}
