"""The measurement document: schema, atomic writing, the progress file and recovery after a kill."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from edgeai_core.measurement import PARTIAL_FILE, RESULTS_FILE, RunRecorder, load_schema, recover_partial

REPO = Path(__file__).resolve().parents[2]


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())


def test_shipped_schema_is_valid_and_can_reject(tmp_path: Path) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
    recorder = RunRecorder(tmp_path, "x")
    doc = recorder.document
    recorder.finish("failed", {"stage": "model", "type": "X", "message": "m"})
    assert not list(_validator().iter_errors(doc))
    for broken in (
        {**doc, "status": "complete"},  # a complete run needs latency, quality and full provenance
        {**doc, "schema_version": "2.0"},
        {k: v for k, v in doc.items() if k != "steps"},
        {**doc, "latency": {"unit": "ms", "warmup": {"count": 0, "samples_ns": []}, "samples_ns": []}},
        {**doc, "quality": {"task": "classification", "applicable": True, "accuracy": 0.5}},
    ):
        assert list(_validator().iter_errors(broken)), broken


def test_recorder_mirrors_everything_to_the_progress_file(tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path, "demo")
    recorder.set_plan({"final_format": "npz-mlp"})
    recorder.add_step({"name": "m", "kind": "model", "duration_s": 0.5, "artifact": None})
    recorder.add_samples("warmup", [5, 6])
    recorder.add_samples("measure", [1, 2, 3])
    recorder.add_samples("measure", [4])
    recovered = recover_partial(tmp_path / PARTIAL_FILE)
    assert recovered["status"] == "interrupted"
    assert recovered["steps"] == [{"name": "m", "kind": "model", "duration_s": 0.5, "artifact": None}]
    assert recovered["latency"]["samples_ns"] == [1, 2, 3, 4]
    assert recovered["latency"]["warmup"] == {"count": 2, "samples_ns": [5, 6]}
    assert recovered["latency"]["stats"]["median"] == 2.5
    assert not (tmp_path / RESULTS_FILE).exists()
    recorder.finish("failed", {"stage": "benchmark", "type": "E", "message": "m"})
    assert json.loads((tmp_path / RESULTS_FILE).read_text())["status"] == "failed"
    assert recover_partial(tmp_path / PARTIAL_FILE)["status"] == "failed"


def test_recovery_ignores_a_truncated_last_line(tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path, "demo")
    recorder.add_samples("measure", [10, 20, 30])
    recorder._partial.flush()  # type: ignore[union-attr]
    with (tmp_path / PARTIAL_FILE).open("a") as handle:
        handle.write('{"event": "samples", "phase": "measure", "samples_ns": [40, 5')
    assert recover_partial(tmp_path / PARTIAL_FILE)["latency"]["samples_ns"] == [10, 20, 30]


def test_recovery_of_a_file_without_events_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("garbage\n")
    with pytest.raises(ValueError, match="no edgeai progress events"):
        recover_partial(tmp_path / "x.jsonl")


@pytest.mark.subprocess
def test_killed_run_leaves_a_loadable_partial_result(tmp_path: Path) -> None:
    edgeai = Path(sys.executable).parent / "edgeai"
    if not edgeai.exists():
        pytest.skip("the edgeai console script is not installed next to this interpreter")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [str(edgeai), "run", str(REPO / "examples" / "blobs-mlp.toml"), "-o", str(out),
         "--set", "benchmark.min_duration_s=60", "--set", "benchmark.min_count=1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    partial = out / PARTIAL_FILE
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if partial.exists() and partial.read_text().count('"phase": "measure"') >= 2:
                break
            assert proc.poll() is None, "the run ended before it could be killed"
            time.sleep(0.1)
        else:
            pytest.fail("no latency samples reached the progress file within 60 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not (out / RESULTS_FILE).exists(), "a SIGKILLed run cannot write results.json"
    doc = recover_partial(partial)
    assert doc["status"] == "interrupted"
    assert [s["kind"] for s in doc["steps"]] == ["dataset", "model", "compiler", "runtime-load"]
    assert len(doc["latency"]["samples_ns"]) > 0 and doc["latency"]["stats"]["count"] > 0
    assert doc["provenance"]["config"]["name"] == "blobs-mlp-int8"
    assert not list(_validator().iter_errors(doc))
