"""TFLite (full int8 with int8 IO) and TVM models served by a real `edgeai serve` subprocess over TCP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

FAST = "[benchmark]\nwarmup = 5\nmin_count = 50\nmin_duration_s = 0\n"
# runtime: (modules needed, model, dataset layout, the rest of the config after [model])
CASES = {
    "tflite": (
        ("edgeai_tflite", "tensorflow"),
        "digits-cnn-keras",
        "NHWC",
        '[[steps]]\nname = "tflite"\nmode = "int8"\ninference_input_type = "int8"\ninference_output_type = "int8"\n'
        '[runtime]\nname = "tflite"\n',
    ),
    "tvm": (
        ("edgeai_tvm", "edgeai_torch", "tvm"),
        "digits-cnn",
        "NCHW",
        '[[steps]]\nname = "tvm"\n[runtime]\nname = "tvm"\n',
    ),
}


@pytest.mark.parametrize("runtime", sorted(CASES))
def test_remote_run_matches_the_local_run(runtime: str, tmp_path: Path, edgeai) -> None:  # type: ignore[no-untyped-def]
    modules, model, layout, rest = CASES[runtime]
    for module in modules:
        pytest.importorskip(module, exc_type=ImportError)
    # one training, so the local and the remote run compile and run the very same weights
    trained = edgeai(
        "train", model, "digits", "-o", str(tmp_path / "train"), "--epochs", "5", "--dataset-layout", layout
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    checkpoint = json.loads((tmp_path / "train" / "train.json").read_text())["artifact"]["path"]
    config = (
        f'[dataset]\nname = "digits"\nlayout = "{layout}"\n[model]\nname = "{model}"\ncheckpoint = "{checkpoint}"\n'
        + rest
    )
    script = Path(sys.executable).parent / "edgeai"
    server = subprocess.Popen(
        [str(script), "serve", "--protocol", "tcp", "--runtime", runtime, "--port", "0",
         "--workdir", str(tmp_path / "target"), *(["--allow-native-code"] if runtime == "tvm" else [])],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        listening = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        assert listening["event"] == "listening" and listening["runtime"] == runtime
        local_cfg = tmp_path / "local.toml"
        local_cfg.write_text(config + FAST)
        remote_cfg = tmp_path / "remote.toml"
        remote_cfg.write_text(config + FAST + f'[target]\nprotocol = "tcp"\nport = {listening["port"]}\n')
        local = edgeai("run", str(local_cfg), "-o", str(tmp_path / "local"))
        assert local.returncode == 0, local.stderr[-2000:]
        remote = edgeai("run", str(remote_cfg), "-o", str(tmp_path / "remote"))
        assert remote.returncode == 0, remote.stderr[-2000:]
    finally:
        server.kill()
        server.wait(timeout=30)
    local_doc = json.loads((tmp_path / "local" / "results.json").read_text())
    remote_doc = json.loads((tmp_path / "remote" / "results.json").read_text())
    assert remote_doc["status"] == "complete"
    assert remote_doc["quality"]["confusion_matrix"] == local_doc["quality"]["confusion_matrix"]
    assert remote_doc["quality"]["accuracy"] >= 0.85
    assert remote_doc["latency"]["target"]["stats"]["count"] >= 50
    assert [s["kind"] for s in remote_doc["steps"]][-1] in ("upload", "runtime-load")
    assert any(s["kind"] == "upload" for s in remote_doc["steps"])
