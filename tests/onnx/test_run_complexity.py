"""Every run records the final artifact's complexity and the model's own memory: locally and through a real
`edgeai serve --runtime onnxruntime` target, for the digits CNN on ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from edgeai_core.config import parse_config
from edgeai_core.measurement import load_schema
from edgeai_core.planner import plan_pipeline
from edgeai_core.runner import LocalRunner

FAST = {"warmup": 5, "min_count": 50, "min_duration_s": 0.0}


def _run(host: Any, out: Path, config: dict[str, Any]) -> dict[str, Any]:
    plan = plan_pipeline(parse_config(config), host)
    doc = LocalRunner(plan, out, host=host).run()
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert json.loads((out / "results.json").read_text()) == doc
    return doc


def _base(path: Path) -> dict[str, Any]:
    return {
        "dataset": {"name": "test-digits"},
        "model": {"name": "onnx-file", "path": str(path)},
        "runtime": {"name": "onnxruntime", "threads": 1},
        "benchmark": FAST,
    }


def _check_memory(memory: dict[str, Any], host_rss: list[int | None], where: str) -> None:
    assert memory["where"] == where
    load, peak = memory["load_bytes"], memory["peak_inference_bytes"]
    rss = max(r for r in host_rss if r is not None) if host_rss else memory["peak_rss_bytes"]
    assert memory["after_load_rss_bytes"] - memory["before_load_rss_bytes"] == load
    assert memory["peak_rss_bytes"] - memory["before_load_rss_bytes"] == peak
    # the model's own memory: more than nothing, a small part of the whole process
    assert 0 < load < 0.25 * rss, (load, rss)
    assert peak < 0.25 * rss
    assert memory["peak_rss_bytes"] >= memory["after_load_rss_bytes"] or memory["peak_source"] == "VmHWM"
    if memory["hwm_reset"]:
        assert memory["peak_source"] == "VmHWM" and "note" not in memory
    else:
        assert memory["peak_source"] == "rss readings" and "process lifetime" in memory["note"]


def test_local_run_records_complexity_and_model_memory(host: Any, cnn_onnx: Path, tmp_path: Path) -> None:
    doc = _run(
        host, tmp_path / "run", {**_base(cnn_onnx), "resources": {"enabled": True, "interval_s": 0.05}}
    )
    section = doc["complexity"]
    assert section["available"] is True and section["format"] == "onnx" and section["step"] == "onnx-file"
    summary = section["summary"]
    assert (summary["params"], summary["macs"], summary["lower_bound"]) == (18346, 95360, False)
    assert summary["weight_bytes"] == {"float32": 18346 * 4}
    assert section["layer_count"] == len(section["layers"]) == 9 and "layers_file" not in section
    assert sum(layer["macs"] for layer in section["layers"]) == summary["macs"]
    assert [layer["name"] for layer in section["top_layers"]["macs"][:2]] == ["Conv_2", "Gemm_6"]
    assert section["top_layers"]["activation_bytes"][0]["activation_bytes"] == 1024 * 4
    assert summary["assumed_dims"] == {"input:batch": 1}  # the benchmark's batch size
    _check_memory(doc["memory"], doc["resources"]["host"]["rss_bytes"], "host")


def test_remote_run_brings_the_targets_model_memory(
    host: Any, cnn_onnx: Path, tmp_path: Path, onnx_target: dict[str, Any]
) -> None:
    config = {
        **_base(cnn_onnx),
        "target": {"protocol": "tcp", "port": onnx_target["port"]},
        "resources": {"enabled": True, "interval_s": 0.05},
        "fidelity": {"enabled": False},
    }
    doc = _run(host, tmp_path / "remote", config)
    assert doc["complexity"]["summary"]["macs"] == 95360  # analysed on the host, before the upload
    memory = doc["memory"]
    _check_memory(memory, doc["resources"]["target"]["rss_bytes"], "target")
    assert memory["peak_window"] == "benchmark to the end of the benchmark"


def test_no_analyzer_for_the_format_is_recorded_not_an_error(
    host: Any, cnn_onnx: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(type(host), "records", _without_analyzers(type(host).records))
    doc = _run(host, tmp_path / "none", {**_base(cnn_onnx), "resources": {"enabled": False}})
    assert doc["status"] == "complete"
    assert doc["complexity"] == {
        "available": False,
        "format": "onnx",
        "reason": "no analyzer reads onnx artifacts (no analyzer is installed; edgeai-onnx analyses onnx)",
    }
    assert doc["memory"]["where"] == "host" and doc["memory"]["load_bytes"] > 0


def _without_analyzers(records: Any) -> Any:
    def filtered(self: Any, kind: str | None = None) -> Any:
        return [] if kind == "analyzer" else records(self, kind)

    return filtered
