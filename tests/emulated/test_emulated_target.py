"""The digits CNN on a real (emulated) aarch64 Linux target: ONNX Runtime and a TVM aarch64 library.

Needs a started target: ``nox -s arm`` builds (or reuses) one, starts its onnxruntime and tvm servers, sets
``EDGEAI_ARM_TARGET`` to its folder and runs this folder. Without it every test here is skipped at once.
Each run on the target must give exactly the host's accuracy, record ``emulated: true`` and ISA ``aarch64`` in
``provenance.target``, and its fidelity entry compares the target's outputs with the host's reference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ARM_TARGET = os.environ.get("EDGEAI_ARM_TARGET", "")
pytestmark = pytest.mark.skipif(
    not ARM_TARGET, reason="no emulated ARM target: `nox -s arm` builds one and sets EDGEAI_ARM_TARGET"
)

BENCHMARK = {"warmup": 3, "min_count": 30, "min_duration_s": 0}
DATASET = {"name": "digits"}
MODEL = {"name": "digits-cnn", "epochs": 30}


def _target(runtime: str) -> dict[str, Any]:
    from edgeai_emulator.variants import target_table

    table, reason = target_table(Path(ARM_TARGET), runtime)
    if table is None:
        pytest.fail(reason)
    return table


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits CNN trained once on the host (as `edgeai demo` trains it)."""
    from edgeai_core.api import NullProgress
    from edgeai_core.plugins import PluginHost
    from edgeai_core.variants import train_model

    raw = {"dataset": dict(DATASET), "model": dict(MODEL), "runtime": {"name": "onnxruntime"}}
    return train_model(PluginHost(), raw, tmp_path_factory.mktemp("trained"), NullProgress())


def _run(config: dict[str, Any], out: Path) -> dict[str, Any]:
    path = out.parent / f"{out.name}.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    script = Path(sys.executable).parent / "edgeai"
    result = subprocess.run(
        [str(script), "run", str(path), "-o", str(out)],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    doc: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["status"] == "complete", doc.get("error")
    return doc


def _config(
    checkpoint: Path, runtime: dict[str, Any], steps: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "dataset": dict(DATASET),
        "model": {**MODEL, "checkpoint": str(checkpoint)},
        "runtime": runtime,
        "benchmark": BENCHMARK,
        "resources": {"enabled": False},
    }
    if steps:
        config["steps"] = steps
    return config


@pytest.fixture(scope="module")
def host_run(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same model through ONNX Runtime on this (x86-64) machine."""
    return _run(
        _config(checkpoint, {"name": "onnxruntime", "threads": 1}), tmp_path_factory.mktemp("h") / "host"
    )


def _check_emulated(doc: dict[str, Any], host: dict[str, Any], final_step: str) -> dict[str, Any]:
    target = doc["provenance"]["target"]
    assert target["isa"] == "aarch64"
    assert target["emulated"] is True
    assert target["machine"]["emulator"] == "qemu-user"
    assert target["machine"]["os"]["machine"] == "aarch64"
    assert host["provenance"].get("target") is None
    assert doc["quality"]["accuracy"] == host["quality"]["accuracy"]
    assert doc["quality"]["confusion_matrix"] == host["quality"]["confusion_matrix"]
    final = doc["fidelity"]["steps"][-1]
    assert (final["step"], final["kind"]) == (final_step, "runtime")
    assert final["status"] == "ok" and final["within_tolerance"] is True, final
    assert final["top1_agreement"] == 1.0
    assert final["max_abs_diff"] <= 1e-4
    cross = doc["fidelity"]["cross_architecture"]
    assert cross["host_isa"] == host["provenance"]["os"]["machine"]
    assert (cross["target_isa"], cross["emulated"], cross["step"]) == ("aarch64", True, final_step)
    assert (cross["top1_agreement"], cross["max_abs_diff"]) == (1.0, final["max_abs_diff"])
    assert "cross_architecture" not in host["fidelity"]
    return final


def test_onnxruntime_on_the_emulated_target_matches_the_host(
    checkpoint: Path, host_run: dict[str, Any], tmp_path: Path
) -> None:
    config = {**_config(checkpoint, {"name": "onnxruntime", "threads": 1}), "target": _target("onnxruntime")}
    doc = _run(config, tmp_path / "arm-onnxruntime")
    _check_emulated(doc, host_run, "onnxruntime")
    assert doc["provenance"]["target"]["runtime"] == "onnxruntime"
    assert doc["latency"]["target"] is not None


def test_tvm_aarch64_library_on_the_emulated_target_matches_the_host(
    checkpoint: Path, host_run: dict[str, Any], tmp_path: Path
) -> None:
    config = {
        **_config(checkpoint, {"name": "tvm", "threads": 1}, [{"name": "tvm", "target": "aarch64"}]),
        "target": _target("tvm"),
    }
    doc = _run(config, tmp_path / "arm-tvm")
    _check_emulated(doc, host_run, "tvm")
    upload = next(s for s in doc["steps"] if s["kind"] == "upload")
    library = tmp_path / "arm-tvm" / upload["artifact"]["path"]
    assert library.read_bytes()[:4] == b"\x7fELF"
    assert int.from_bytes(library.read_bytes()[18:20], "little") == 183  # e_machine: EM_AARCH64


TFLITE_DATASET = {"name": "digits", "layout": "NHWC"}
TFLITE_MODEL = {"name": "digits-cnn-keras", "epochs": 30}


def test_tflite_on_the_emulated_target_matches_the_host(tmp_path: Path) -> None:
    """The Keras digits CNN converted to float32 TFLite on the host, run by LiteRT on the target."""
    from edgeai_emulator.state import load_state

    if "tflite" not in load_state(Path(ARM_TARGET)).runtimes:
        pytest.skip(
            f"the target {ARM_TARGET} has no tflite runtime (edgeai target refresh DIR --runtime tflite)"
        )
    pytest.importorskip("tensorflow")
    from edgeai_core.api import NullProgress
    from edgeai_core.plugins import PluginHost
    from edgeai_core.variants import train_model

    raw = {"dataset": dict(TFLITE_DATASET), "model": dict(TFLITE_MODEL), "runtime": {"name": "tflite"}}
    trained = train_model(PluginHost(), raw, tmp_path / "trained", NullProgress())
    config: dict[str, Any] = {
        "dataset": dict(TFLITE_DATASET),
        "model": {**TFLITE_MODEL, "checkpoint": str(trained)},
        "steps": [{"name": "tflite", "mode": "float32"}],
        "runtime": {"name": "tflite", "threads": 1},
        "benchmark": BENCHMARK,
        "resources": {"enabled": False},
    }
    host = _run(config, tmp_path / "host")
    doc = _run({**config, "target": _target("tflite")}, tmp_path / "arm-tflite")
    _check_emulated(doc, host, "tflite")
