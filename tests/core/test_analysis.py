"""The run's complexity section (edgeai_core.analysis) with in-test analyzers, and the model-memory arithmetic
(edgeai_core.modelmemory) with stubbed readings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edgeai_core import analysis, modelmemory
from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.complexity import LayerComplexity, ModelComplexity
from edgeai_core.components import Context, ModelAnalyzer
from edgeai_core.document import MemorySection
from edgeai_core.measurement import RunRecorder, recover_partial
from edgeai_core.plugin import hookimpl
from edgeai_core.plugins import PluginHost
from edgeai_core.records import AnalyzerRecord

LAYERS = 3


class CountingAnalyzer(ModelAnalyzer):
    """Reports one layer per ``LAYERS`` (a module global the tests change) and the batch size it was given."""

    def analyze(self, artifact: Artifact) -> ModelComplexity:
        if artifact.path.name == "broken.npz":
            raise ValueError("the file is broken")
        layers = tuple(
            LayerComplexity(name=f"l{i}", op_type="Dense", macs=i, flops=2 * i) for i in range(LAYERS)
        )
        return ModelComplexity(
            format=artifact.format, analyzer=self.name, layers=layers, macs=sum(range(LAYERS)),
            flops=2 * sum(range(LAYERS)), assumed_dims={"x:0": int(self.params["batch_size"])},
        )  # fmt: skip


class Plugin:
    @hookimpl
    def edgeai_register_analyzers(self) -> list[AnalyzerRecord]:
        from edgeai_core.params import Param

        return [
            AnalyzerRecord(
                name="npz-analyzer", summary="test analyzer", factory=f"{__name__}:CountingAnalyzer",
                formats=("npz",), params=(Param("batch_size", "int", default=1, help="batch"),),
            )
        ]  # fmt: skip


@pytest.fixture
def host() -> PluginHost:
    host = PluginHost(discover=False, env={})
    host.register(Plugin(), name="analyzers", distribution="tests", version="0")
    return host


def _artifact(tmp_path: Path, name: str, fmt: str) -> Artifact:
    path = tmp_path / name
    path.write_bytes(b"model")
    return Artifact(path, fmt, IOSpec((TensorSpec("x", (None, 2), "float32"),), ()), producer="test")


def test_the_final_artifact_is_analysed_with_the_benchmark_batch(host: PluginHost, tmp_path: Path) -> None:
    made = [("net", _artifact(tmp_path, "model.npz", "npz"))]
    section = analysis.analyze(host, made, Context(), batch_size=8, output_dir=tmp_path)
    data = section.to_json()
    assert (data["available"], data["format"], data["step"], data["artifact"]) == (
        True,
        "npz",
        "net",
        "model.npz",
    )
    assert data["summary"]["assumed_dims"] == {"x:0": 8} and data["summary"]["macs"] == 3
    assert [layer["name"] for layer in data["layers"]] == ["l0", "l1", "l2"]
    assert [layer["name"] for layer in data["top_layers"]["macs"]] == ["l2", "l1", "l0"]
    assert "note" not in data and "layers_file" not in data
    assert analysis.complexity_line(section) == "0 parameters, 3 MACs, peak activations 0 bytes"


def test_an_earlier_artifact_is_analysed_when_the_final_one_has_no_analyzer(
    host: PluginHost, tmp_path: Path
) -> None:
    made = [
        ("net", _artifact(tmp_path, "model.npz", "npz")),
        ("to-tflite", _artifact(tmp_path, "m.tflite", "tflite")),
    ]
    data = analysis.analyze(host, made, Context(), output_dir=tmp_path).to_json()
    assert data["available"] and data["format"] == "npz" and data["step"] == "net"
    assert data["note"] == (
        "the final artifact is tflite, which no installed analyzer reads; this is the npz artifact of step net, "
        "before to-tflite"
    )


def test_no_analyzer_or_a_failing_one_is_recorded(host: PluginHost, tmp_path: Path) -> None:
    made = [("net", _artifact(tmp_path, "m.tflite", "tflite"))]
    assert analysis.analyze(host, made, Context()).to_json() == {
        "available": False,
        "format": "tflite",
        "reason": "no analyzer reads tflite artifacts (installed analyzers read npz; edgeai-onnx analyses onnx)",
    }
    made = [("net", _artifact(tmp_path, "broken.npz", "npz"))]
    data = analysis.analyze(host, made, Context(), output_dir=tmp_path).to_json()
    assert data == {
        "available": False,
        "format": "npz",
        "reason": "analyzer npz-analyzer failed on broken.npz: the file is broken",
        "step": "net",
        "artifact": "broken.npz",
    }


def test_a_large_layer_table_goes_to_its_own_file(
    host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "LAYERS", analysis.INLINE_LAYERS + 1)
    made = [("net", _artifact(tmp_path, "model.npz", "npz"))]
    data = analysis.analyze(host, made, Context(), output_dir=tmp_path).to_json()
    assert data["layers_file"] == "complexity.json" and "layers" not in data
    assert data["layer_count"] == analysis.INLINE_LAYERS + 1 and len(data["top_layers"]["macs"]) == 10
    full = json.loads((tmp_path / "complexity.json").read_text())
    assert len(full["layers"]) == analysis.INLINE_LAYERS + 1 and full["macs"] == data["summary"]["macs"]


def test_sections_survive_in_the_progress_file(host: PluginHost, tmp_path: Path) -> None:
    recorder = RunRecorder(tmp_path / "run", "x")
    made = [("net", _artifact(tmp_path, "model.npz", "npz"))]
    recorder.set_complexity(analysis.analyze(host, made, Context()))
    recorder.set_memory(MemorySection(where="host", load_bytes=10, peak_inference_bytes=20))
    recorder.set_memory(None)  # a target that reports none leaves the section as it was
    doc = recover_partial(tmp_path / "run" / "results.partial.jsonl")
    assert doc["complexity"] == recorder.document["complexity"] and doc["complexity"]["summary"]["macs"] == 3
    assert doc["memory"]["load_bytes"] == 10 and doc["memory"]["peak_inference_bytes"] == 20


def _readings(monkeypatch: pytest.MonkeyPatch, rss: list[int], hwm: list[int | None], reset: bool) -> None:
    monkeypatch.setattr(modelmemory, "release_free_memory", lambda: None)
    monkeypatch.setattr(modelmemory, "reset_hwm", lambda: reset)
    monkeypatch.setattr(modelmemory, "rss_bytes", lambda: rss.pop(0))
    monkeypatch.setattr(modelmemory, "hwm_bytes", lambda: hwm.pop(0))


def test_model_memory_with_the_high_water_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    # rss: before load, after load (twice: the window's first edge), benchmark start, benchmark end;
    # hwm: after load, benchmark end
    _readings(monkeypatch, [100, 130, 130, 131, 132], [150, 170], reset=True)
    memory = modelmemory.ModelMemory("target")
    memory.before_load()
    memory.after_load()
    memory.start()
    memory.stop([140])
    assert memory.section().to_json() == {
        "where": "target", "load_bytes": 30, "peak_inference_bytes": 70, "before_load_rss_bytes": 100,
        "after_load_rss_bytes": 130, "peak_rss_bytes": 170, "peak_source": "VmHWM",
        "peak_window": "benchmark to the end of the benchmark", "hwm_reset": True, "load_peak_rss_bytes": 150,
    }  # fmt: skip


def test_model_memory_without_a_resettable_high_water_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    # no start(): the window opens after the load; the lifetime high-water mark is only reported
    _readings(monkeypatch, [100, 130, 130, 110], [900], reset=False)
    memory = modelmemory.ModelMemory()
    memory.before_load()
    memory.after_load()
    memory.stop([125, None, 160])
    data = memory.section().to_json()
    assert (data["load_bytes"], data["peak_inference_bytes"], data["peak_rss_bytes"]) == (30, 60, 160)
    assert (data["peak_source"], data["hwm_reset"], data["process_hwm_bytes"]) == ("rss readings", False, 900)
    assert data["peak_window"] == "after load to the end of the benchmark"
    assert data["note"] == modelmemory.NO_RESET and "load_peak_rss_bytes" not in data


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")
def test_the_real_readings_on_linux() -> None:
    rss, hwm = modelmemory.rss_bytes(), modelmemory.hwm_bytes()
    assert rss is not None and hwm is not None and hwm >= rss // 2
    if modelmemory.reset_hwm():
        after = modelmemory.hwm_bytes()
        assert after is not None and after <= hwm
