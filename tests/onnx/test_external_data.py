"""ONNX models with external data (a ``.onnx`` graph plus the ``.onnx.data`` file holding its weights) through
every road: onnx-file, ONNX Runtime, onnx-quantize, a real `edgeai serve --runtime onnxruntime` target, the CLI
and, when installed, TVM. The model is the digits CNN trained in the test session, saved with its tensors in a
data file."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from edgeai_core.artifacts import Artifact
from edgeai_core.config import parse_config
from edgeai_core.errors import ArtifactError
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import LocalRunner

FAST = {"warmup": 5, "min_count": 50, "min_duration_s": 0.0}
DATA = "cnn.onnx.data"


@pytest.fixture(scope="module")
def external(cnn_onnx: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained CNN with every tensor in ``cnn.onnx.data`` next to the graph."""
    folder = tmp_path_factory.mktemp("external")
    path = folder / "cnn.onnx"
    onnx.save_model(
        onnx.load(str(cnn_onnx)), str(path), save_as_external_data=True, location=DATA, size_threshold=0
    )
    graph = onnx.load(str(path), load_external_data=False)
    assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.graph.initializer)
    assert (folder / DATA).stat().st_size > 5 * path.stat().st_size, "the weights live in the data file"
    return path


def _run(host: Any, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    plan = plan_pipeline(parse_config(config), host)
    return LocalRunner(plan, out, host=host).run()


def _base(path: Path) -> dict[str, Any]:
    return {
        "dataset": {"name": "test-digits"},
        "model": {"name": "onnx-file", "path": str(path)},
        "runtime": {"name": "onnxruntime"},
        "benchmark": FAST,
        "resources": {"enabled": False},
    }


def test_onnx_file_lists_the_data_file_and_counts_it(make: Any, external: Path) -> None:
    artifact = make("model", "onnx-file", path=str(external)).prepare(None)
    assert artifact.files == (DATA,)
    data = artifact.path.parent / DATA
    assert data.read_bytes() == (external.parent / DATA).read_bytes()
    assert artifact.size_bytes == external.stat().st_size + data.stat().st_size
    side = json.loads(artifact.sidecar.read_text())
    assert side["files"] == [
        {"name": DATA, "size": data.stat().st_size, "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}
    ]
    assert Artifact.load(artifact.path) == artifact


def test_missing_external_data_is_one_error_naming_the_file(
    make: Any, external: Path, tmp_path: Path
) -> None:
    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(external.read_bytes())  # the graph without its data file
    with pytest.raises(ArtifactError) as err:
        make("model", "onnx-file", path=str(lonely)).prepare(None)
    assert str(err.value) == f"{lonely} needs its external data file {tmp_path / DATA}, which is missing"


def test_run_on_onnxruntime_records_every_file(
    host: Any, external: Path, cnn_onnx: Path, tmp_path: Path
) -> None:
    doc = _run(host, tmp_path / "ext", _base(external))
    single = _run(host, tmp_path / "single", _base(cnn_onnx))
    assert doc["status"] == single["status"] == "complete"
    assert doc["quality"]["confusion_matrix"] == single["quality"]["confusion_matrix"]
    assert doc["quality"]["accuracy"] > 0.93
    step = next(s for s in doc["steps"] if s["kind"] == "model")
    out = tmp_path / "ext"
    graph, data = out / step["artifact"]["path"], out / Path(step["artifact"]["path"]).parent / DATA
    assert step["artifact"]["files"] == [
        {"name": "cnn.onnx", "size_bytes": graph.stat().st_size},
        {"name": DATA, "size_bytes": data.stat().st_size},
    ]
    assert step["artifact"]["size_bytes"] == graph.stat().st_size + data.stat().st_size
    single_step = next(s for s in single["steps"] if s["kind"] == "model")
    assert "files" not in single_step["artifact"]
    # the same weights: the two artifacts differ only in where the tensors are stored
    assert abs(step["artifact"]["size_bytes"] - single_step["artifact"]["size_bytes"]) < 2048


def test_onnx_quantize_reads_external_data_and_writes_one_small_file(
    host: Any, external: Path, tmp_path: Path
) -> None:
    doc = _run(host, tmp_path / "int8", {**_base(external), "steps": [{"name": "onnx-quantize"}]})
    assert doc["status"] == "complete"
    assert doc["quality"]["accuracy"] > 0.9
    model_step = next(s for s in doc["steps"] if s["kind"] == "model")
    step = next(s for s in doc["steps"] if s["name"] == "onnx-quantize")
    assert "files" not in step["artifact"], "a small quantized model is written as one file"
    path = tmp_path / "int8" / step["artifact"]["path"]
    assert step["artifact"]["size_bytes"] == path.stat().st_size == step["metadata"]["size_after"]
    # size_before counts the data file: int8 weights make the model smaller, not 'larger than its graph'
    assert step["metadata"]["size_before"] == model_step["artifact"]["size_bytes"]
    assert step["metadata"]["size_after"] < step["metadata"]["size_before"]


def test_quantizer_output_with_external_data_is_renamed_with_its_model(
    external: Path, tmp_path: Path
) -> None:
    from edgeai_onnx.quantize import place_onnx

    output = tmp_path / "tmp" / "output.onnx"
    output.parent.mkdir()
    onnx.save_model(onnx.load(str(external)), str(output), save_as_external_data=True,
                    location="output.onnx.data", size_threshold=0)  # fmt: skip
    target = tmp_path / "cnn-int8.onnx"
    assert place_onnx(output, target) == ["cnn-int8.onnx.data"]
    graph = onnx.load(str(target), load_external_data=False)
    locations = {e.value for t in graph.graph.initializer for e in t.external_data if e.key == "location"}
    assert locations == {"cnn-int8.onnx.data"}
    single = tmp_path / "tmp" / "single.onnx"
    onnx.save(onnx.load(str(external)), str(single))
    assert place_onnx(single, tmp_path / "one.onnx") == [] and not single.exists()


# -- a real target -------------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_a_remote_run_uploads_every_file_and_matches_the_local_run(
    host: Any, external: Path, tmp_path: Path, onnx_target: dict[str, Any], digits: Any
) -> None:
    local = _run(host, tmp_path / "local", _base(external))
    config = {**_base(external), "target": {"protocol": "tcp", "port": onnx_target["port"]}}
    remote = _run(host, tmp_path / "remote", config)
    assert remote["status"] == "complete", remote.get("error")
    assert remote["quality"]["confusion_matrix"] == local["quality"]["confusion_matrix"]
    upload = next(s for s in remote["steps"] if s["kind"] == "upload")
    total = external.stat().st_size + (external.parent / DATA).stat().st_size
    assert upload["bytes"] == upload["artifact"]["size_bytes"] == total
    assert [f["name"] for f in upload["artifact"]["files"]] == ["cnn.onnx", DATA]
    models = onnx_target["workdir"] / "models"
    assert (models / DATA).read_bytes() == (external.parent / DATA).read_bytes()
    assert Artifact.load(models / "cnn.onnx").files == (DATA,)

    # the very same outputs, array for array, as ONNX Runtime on this machine
    import onnxruntime as ort

    model_path = next(s for s in local["steps"] if s["kind"] == "model")["artifact"]["path"]
    artifact = Artifact.load(tmp_path / "local" / model_path)
    x = digits.split("test").input[:16]
    expected = ort.InferenceSession(str(artifact.path)).run(None, {"input": x})[0]
    remote_runtime = onnx_target["remote"]()
    try:
        remote_runtime.connect()
        stored, _ = remote_runtime.upload(artifact)
        assert stored == total
        np.testing.assert_array_equal(remote_runtime.infer([x])[0], expected)
    finally:
        remote_runtime.close()


# -- the CLI -------------------------------------------------------------------------------------------


def edgeai(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


@pytest.mark.subprocess
def test_the_cli_names_the_missing_data_file_in_one_line(external: Path, tmp_path: Path) -> None:
    pytest.importorskip("edgeai_datasets")
    script = Path(sys.executable).parent / "edgeai"
    if not script.exists():
        pytest.skip("the edgeai console script is not installed next to this interpreter")
    lonely = tmp_path / "user" / "cnn.onnx"
    lonely.parent.mkdir()
    lonely.write_bytes(external.read_bytes())
    config = tmp_path / "run.toml"
    config.write_text(
        f'[dataset]\nname = "digits"\nlayout = "NCHW"\n[model]\nname = "onnx-file"\npath = "{lonely}"\n'
        '[runtime]\nname = "onnxruntime"\n[benchmark]\nwarmup = 1\nmin_count = 5\nmin_duration_s = 0\n'
    )
    result = edgeai(script, "run", str(config), "-o", str(tmp_path / "out"))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1
    assert errors == [
        f"error: model failed: {lonely} needs its external data file {lonely.parent / DATA}, which is missing "
        f"(partial results in {tmp_path / 'out' / 'results.json'})"
    ], result.stderr[-2000:]
    # with the data file next to it, the same command runs and records both files
    (lonely.parent / DATA).write_bytes((external.parent / DATA).read_bytes())
    result = edgeai(script, "run", str(config), "-o", str(tmp_path / "out2"))
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads((tmp_path / "out2" / "results.json").read_text())
    model = next(s for s in doc["steps"] if s["kind"] == "model")
    assert [f["name"] for f in model["artifact"]["files"]] == ["cnn.onnx", DATA]
    assert model["artifact"]["size_bytes"] == lonely.stat().st_size + (lonely.parent / DATA).stat().st_size
