"""Fidelity at every step: the core compares each step's artifact and the final runtime with the reference."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.config import load_config, parse_config
from edgeai_core.errors import ParameterError
from edgeai_core.fidelity import (
    TolerancePolicy,
    choose_runtime,
    compare_outputs,
    is_probabilities,
    step_precision,
)
from edgeai_core.lineage import file_under_step, step_metadata
from edgeai_core.measurement import load_schema, recover_partial
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.records import RuntimeRecord
from edgeai_core.runner import RunFailed, Runner

SUPPORT = Path(__file__).parent / "support"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blobs-mlp.toml"
QUICK = ["benchmark.warmup=2", "benchmark.min_count=10", "benchmark.min_duration_s=0", "model.epochs=20"]


@pytest.fixture
def broken_host(core_host: PluginHost, support_plugin: Any) -> PluginHost:
    """The core's built-ins plus a compiler that adds noise to the weights."""
    plugin = support_plugin("edgeai_fidelity_plugin")
    core_host.register(plugin, name="broken", distribution="edgeai-broken", version="0")
    return core_host


def _validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker()).validate(doc)


def _noisy_config(**fidelity: Any) -> dict[str, Any]:
    return {
        "seed": 0,
        "dataset": {"name": "gaussian-blobs", "classes": 4, "features": 16},
        "model": {"name": "numpy-mlp", "epochs": 20, "hidden": [16]},
        "steps": [{"name": "noisy-weights", "noise": 0.5}],
        "runtime": {"name": "numpy"},
        "benchmark": {"warmup": 2, "min_count": 10, "min_duration_s": 0.0},
        "fidelity": fidelity,
    }


def test_the_blobs_example_records_fidelity_for_the_int8_step(core_host: PluginHost, tmp_path: Path) -> None:
    doc = Runner(plan_pipeline(load_config(EXAMPLE, QUICK), core_host), tmp_path, host=core_host).run()
    _validate(doc)
    fidelity = doc["fidelity"]
    assert set(fidelity) == {"enabled", "strict", "policy", "reference", "inputs", "steps"}
    assert fidelity["enabled"] is True and fidelity["strict"] is False
    assert fidelity["policy"] == {
        "rtol": 1e-3,
        "atol": 1e-4,
        "probability_atol": 1e-3,
        "min_cosine": 0.99,
        "min_top1": 0.9,
    }
    assert fidelity["reference"] == dict(step="numpy-mlp", kind="model", format="npz-mlp", runtime="numpy")
    assert fidelity["inputs"] == dict(
        source="dataset", dataset="gaussian-blobs", split="test", samples=32, seed=0
    )
    step, runtime = fidelity["steps"]
    assert [step["step"], step["kind"], runtime["step"], runtime["kind"]] == [
        "weight-int8",
        "compiler",
        "numpy",
        "runtime",
    ]
    for entry in (step, runtime):
        assert set(entry) == {
            "step",
            "kind",
            "format",
            "runtime",
            "status",
            "precision",
            "samples",
            "max_abs_diff",
            "mean_abs_diff",
            "relative_error",
            "cosine_similarity",
            "top1_agreement",
            "judged_by",
            "within_tolerance",
            "violations",
            "outputs",
        }
        assert entry["status"] == "ok" and entry["within_tolerance"] is True and entry["violations"] == []
        assert entry["precision"] == "int8" and entry["judged_by"] == "agreement"
        assert entry["runtime"] == "numpy" and entry["format"] == "npz-mlp" and entry["samples"] == 32
        assert entry["top1_agreement"] >= 0.9 and entry["cosine_similarity"] > 0.99
        assert 0 < entry["mean_abs_diff"] <= entry["max_abs_diff"] < 0.5
        assert 0 < entry["relative_error"] < 0.05
        assert [o["name"] for o in entry["outputs"]] == ["logits"]
        assert entry["outputs"][0]["probabilities"] is False
    # the same artifact, the same inputs: the step and the final runtime agree exactly
    assert step["max_abs_diff"] == runtime["max_abs_diff"]
    # the section is not artifact metadata
    assert all("fidelity" not in s.get("metadata", {}) for s in doc["steps"])


def test_a_broken_compiler_is_a_warning_by_default(
    broken_host: PluginHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edgeai_core.fidelity"):
        doc = Runner(
            plan_pipeline(parse_config(_noisy_config()), broken_host), tmp_path, host=broken_host
        ).run()
    _validate(doc)
    assert doc["status"] == "complete"
    step = doc["fidelity"]["steps"][0]
    assert step["step"] == "noisy-weights" and step["status"] == "over_tolerance"
    assert step["precision"] == "float32" and step["judged_by"] == "elementwise"
    assert step["within_tolerance"] is False and step["max_abs_diff"] > 0.1
    assert step["violations"][0].startswith(
        f"max abs diff {step['max_abs_diff']:.3g} on output 'logits' exceeds"
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "compiler noisy-weights (float32, in numpy) is over tolerance" in w and "max abs diff" in w
        for w in warnings
    ), warnings


def test_a_broken_compiler_fails_the_run_with_fidelity_strict(
    broken_host: PluginHost, tmp_path: Path
) -> None:
    plan = plan_pipeline(parse_config(_noisy_config(strict=True)), broken_host)
    with pytest.raises(RunFailed) as failed:
        Runner(plan, tmp_path, host=broken_host).run()
    message = str(failed.value)
    assert failed.value.exit_code == 1
    assert message.startswith("fidelity failed: compiler noisy-weights (float32, in numpy) is over tolerance")
    assert "max abs diff" in message and "(fidelity.strict = true)" in message
    doc = json.loads((tmp_path / "results.json").read_text())
    _validate(doc)
    assert doc["status"] == "failed" and doc["error"]["stage"] == "fidelity"
    assert doc["error"]["type"] == "FidelityError"
    assert [s["status"] for s in doc["fidelity"]["steps"]] == ["over_tolerance"]
    assert doc["latency"] is None, "the run stopped before the runtime"
    assert recover_partial(tmp_path / "results.partial.jsonl")["fidelity"] == doc["fidelity"]


def test_int8_steps_are_judged_by_agreement_not_absolute_differences(
    broken_host: PluginHost, tmp_path: Path
) -> None:
    # a little noise on an int8-declared step: absolute differences over the float tolerance, agreement fine
    config = _noisy_config(strict=True)
    config["steps"] = [{"name": "noisy-weights", "noise": 0.003, "precision": "int8"}]
    doc = Runner(plan_pipeline(parse_config(config), broken_host), tmp_path / "a", host=broken_host).run()
    step = doc["fidelity"]["steps"][0]
    assert step["precision"] == "int8" and step["judged_by"] == "agreement" and step["status"] == "ok"
    assert step["max_abs_diff"] > 1e-3 + 1e-3 * 10, "over what a float step would be allowed"
    # much noise: the agreement metrics are named
    config["steps"] = [{"name": "noisy-weights", "noise": 3.0, "precision": "int8"}]
    with pytest.raises(RunFailed) as failed:
        Runner(plan_pipeline(parse_config(config), broken_host), tmp_path / "b", host=broken_host).run()
    assert "compiler noisy-weights (int8, in numpy)" in str(failed.value)
    assert "cosine similarity" in str(failed.value)


def test_fidelity_can_be_disabled(core_host: PluginHost, tmp_path: Path) -> None:
    config = load_config(EXAMPLE, [*QUICK, "fidelity.enabled=false"])
    doc = Runner(plan_pipeline(config, core_host), tmp_path, host=core_host).run()
    assert doc["fidelity"] == {"enabled": False, "steps": []}
    _validate(doc)


def test_fidelity_settings_are_validated() -> None:
    base = {"model": "numpy-mlp", "runtime": "numpy"}
    with pytest.raises(ParameterError, match=r"fidelity\.sample: unknown parameter; did you mean 'samples'"):
        parse_config({**base, "fidelity": {"sample": 3}})
    with pytest.raises(ParameterError, match=r"fidelity\.samples"):
        parse_config({**base, "fidelity": {"samples": 0}})
    with pytest.raises(ParameterError, match=r"fidelity\.rtol"):
        parse_config({**base, "fidelity": {"rtol": -1}})
    assert parse_config(base).fidelity == {
        "enabled": True,
        "samples": 32,
        "strict": False,
        "rtol": None,
        "atol": None,
        "min_cosine": 0.99,
        "min_top1": 0.9,
        "layers": False,
        "layer_samples": 8,
        "reuse_runtime": False,
    }


def test_synthetic_inputs_without_a_dataset(core_host: PluginHost, tmp_path: Path) -> None:
    model = tmp_path / "model.npz"
    rng = np.random.default_rng(0)
    np.savez(
        model,
        **{
            "layer0.weight": rng.normal(size=(4, 3)).astype(np.float32),
            "layer0.bias": np.zeros(3, np.float32),
        },
    )
    config = {
        "model": {"name": "numpy-mlp", "checkpoint": str(model)},
        "steps": [{"name": "weight-int8"}],
        "runtime": "numpy",
        "benchmark": {"warmup": 1, "min_count": 5, "min_duration_s": 0.0},
        "fidelity": {"samples": 7},
    }
    plan = plan_pipeline(parse_config(config), core_host)
    doc = Runner(plan, tmp_path / "run", host=core_host).run()
    assert doc["fidelity"]["inputs"] == {"source": "synthetic", "samples": 7, "seed": 0}
    assert [s["samples"] for s in doc["fidelity"]["steps"]] == [7, 7]


# -- the policy and its parts ------------------------------------------------------------------------------


def test_softmax_outputs_get_the_looser_absolute_tolerance() -> None:
    policy = TolerancePolicy()
    logits = np.random.default_rng(0).normal(size=(8, 5))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert is_probabilities(probs) and not is_probabilities(logits)
    shifted = probs + 3.3e-4 * np.sign(np.random.default_rng(1).normal(size=probs.shape))
    # EfficientNetB0's softmax moved by 3.3e-4 through TFLite: within the probability tolerance
    comparison = compare_outputs([probs], [shifted], ["probs"], policy, classification=True)
    assert policy.judge("float32", comparison) == ("elementwise", [])
    assert comparison.top1_agreement == 1.0
    # the same difference on small logits is over the float tolerance, and the violation says so
    small = logits * 0.01
    comparison = compare_outputs([small], [small + 3.3e-4], ["logits"], policy, classification=True)
    judged_by, violations = policy.judge("float32", comparison)
    assert judged_by == "elementwise"
    assert violations == [
        "max abs diff 0.00033 on output 'logits' exceeds atol 0.0001 + rtol 0.001 x |reference| (40 of 40 values)"
    ]


def test_compare_outputs_metrics() -> None:
    ref = np.array([[1.0, 0.0], [0.0, 2.0]])
    got = np.array([[1.0, 0.0], [2.0, 0.0]])
    comparison = compare_outputs([ref], [got], ["y"], TolerancePolicy(), classification=True)
    out = comparison.outputs[0]
    assert out.max_abs_diff == 2.0 and out.mean_abs_diff == 1.0
    assert out.cosine_similarity == pytest.approx(0.5)  # 1 for the first sample, 0 for the second
    assert out.relative_error == pytest.approx(np.sqrt(8) / np.sqrt(5))
    assert comparison.top1_agreement == 0.5
    judged_by, violations = TolerancePolicy().judge("int8", comparison)
    assert judged_by == "agreement"
    assert violations == ["cosine similarity 0.5000 < 0.99", "top-1 agreement 0.500 < 0.9"]
    with pytest.raises(Exception, match="non-finite"):
        compare_outputs([ref], [got * np.nan], ["y"], TolerancePolicy(), classification=False)


def _artifact(tmp_path: Path, name: str, metadata: dict[str, Any], quantized: bool = False) -> Artifact:
    path = tmp_path / name
    path.write_bytes(b"x")
    scale = 0.1 if quantized else None
    io = IOSpec(
        (TensorSpec("x", ("batch", 2), "float32"),), (TensorSpec("y", ("batch", 2), "float32", scale=scale),)
    )
    return Artifact(path, "f", io, metadata=metadata)


def test_step_precision_is_read_from_the_step_and_its_artifact(tmp_path: Path) -> None:
    plain = _artifact(tmp_path, "a", {})
    assert step_precision(plain, {"mode": "float32"}) == "float32"
    assert step_precision(plain, {"weights": "int8 per-channel symmetric"}) == "int8"
    assert step_precision(plain, {"supported_ops": "TFLITE_BUILTINS_INT8"}) == "int8"
    assert step_precision(plain, {"weight_type": "QUInt8"}) == "int8"
    assert step_precision(plain, {"weight_type": "float16"}) == "float16"
    assert step_precision(plain, {"precision": "float16", "weights": "int8"}) == "float16", "declared wins"
    assert step_precision(_artifact(tmp_path, "b", {}, quantized=True), {}) == "int8"


def test_the_reference_runtime_is_chosen_from_the_records(core_host: PluginHost) -> None:
    def runtime(name: str, formats: tuple[str, ...], native: bool = False) -> RuntimeRecord:
        return RuntimeRecord(name=name, summary="x", factory="m:f", formats=formats, native_code=native)

    extra = [
        runtime("aaa-generic", ("other", "npz-mlp")),
        runtime("zzz-own", ("fmt-x",)),
        runtime("native", ("fmt-x",), True),
    ]

    class Extra:
        @staticmethod
        def edgeai_register_runtimes() -> list[RuntimeRecord]:
            return extra

    from edgeai_core import hookimpl

    Extra.edgeai_register_runtimes = hookimpl(Extra.edgeai_register_runtimes)  # type: ignore[method-assign]
    core_host.register(Extra, name="extra", distribution="edgeai-extra", version="0")
    own = choose_runtime(core_host, "npz-mlp")
    assert own is not None and own.name == "numpy", "a runtime whose first format it is wins"
    other = choose_runtime(core_host, "npz-mlp", preferred=core_host.get("runtime", "aaa-generic"))  # type: ignore[arg-type]
    assert other is not None and other.name == "aaa-generic", "the plan's runtime when it loads the format"
    chosen = choose_runtime(core_host, "fmt-x")
    assert chosen is not None and chosen.name == "zzz-own", "code-free before native code"
    assert choose_runtime(core_host, "nothing-loads-this") is None


def test_verification_keys_do_not_leak_into_later_steps(tmp_path: Path) -> None:
    model = file_under_step(_artifact(tmp_path, "m", {"classes": 10}), None, "keras-net")
    verified = {"verified": True, "verify_max_abs_diff": 2e-6, "verify_tolerance": 1e-4}
    onnx = file_under_step(_artifact(tmp_path, "o", {**model.metadata, **verified}), model, "keras-to-onnx")
    assert onnx.metadata["verify_max_abs_diff"] == 2e-6, "the verifying step keeps its own keys"
    # a quantizer carries everything forward: the float model's check must not read as the int8 one's
    quantized = _artifact(tmp_path, "q", {**onnx.metadata, "mode": "dynamic"})
    quantized = file_under_step(quantized, onnx, "onnx-quantize")
    assert not any(k == "verified" or k.startswith("verify_") for k in quantized.metadata)
    assert step_metadata(quantized, "keras-to-onnx") == verified, "the history keeps where they came from"
    assert step_metadata(quantized, "onnx-quantize") == {"mode": "dynamic"}
    compiled = file_under_step(
        _artifact(tmp_path, "t", {**quantized.metadata, "opt_level": 3}), quantized, "tvm"
    )
    assert "verify_max_abs_diff" not in compiled.metadata
    # a step that verifies again (even with an equal flag) owns all its verification keys
    again = {**onnx.metadata, "verified": True, "verify_max_abs_diff": 0.02, "verify_tolerance": 1e-4}
    tflite = file_under_step(_artifact(tmp_path, "l", again), onnx, "tflite")
    assert step_metadata(tflite, "tflite") == {
        "verified": True,
        "verify_max_abs_diff": 0.02,
        "verify_tolerance": 1e-4,
    }
    assert tflite.metadata["verify_max_abs_diff"] == 0.02


def test_edgeai_run_warns_by_default_and_exits_1_with_fidelity_strict(
    broken_host: PluginHost, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from edgeai_core.cli import cli

    config = tmp_path / "noisy.json"
    config.write_text(json.dumps(_noisy_config()), encoding="utf-8")
    runner = CliRunner()
    warned = runner.invoke(cli, ["run", str(config), "-o", str(tmp_path / "warn")], obj={"host": broken_host})
    assert warned.exit_code == 0, warned.output
    assert "compiler noisy-weights (float32, in numpy) is over tolerance" in warned.output
    assert "OVER TOLERANCE" in warned.output
    assert "fidelity over tolerance: noisy-weights, numpy" in warned.output
    strict = runner.invoke(
        cli,
        ["run", str(config), "-o", str(tmp_path / "strict"), "--set", "fidelity.strict=true"],
        obj={"host": broken_host},
    )
    assert strict.exit_code == 1, strict.output
    assert "fidelity failed: compiler noisy-weights (float32, in numpy) is over tolerance" in strict.output
    assert "max abs diff" in strict.output and "partial results in" in strict.output
    doc = json.loads((tmp_path / "strict" / "results.json").read_text())
    assert doc["status"] == "failed" and doc["fidelity"]["steps"][0]["status"] == "over_tolerance"


def test_converters_own_float_checks_use_the_softmax_aware_tolerance() -> None:
    from edgeai_core.api import allowed_difference

    logits = np.random.default_rng(0).normal(size=(4, 10))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert allowed_difference(probs, 1e-4) == 1e-3, "EfficientNetB0's 3.3e-4 on softmax passes"
    assert allowed_difference(logits, 1e-4) == 1e-4
    assert allowed_difference(probs, 5e-3) == 5e-3, "a looser user tolerance stays"


def _checkpoint(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "model.npz"
    weights = {
        "layer0.weight": rng.normal(size=(16, 4)).astype(np.float32),
        "layer0.bias": np.zeros(4, np.float32),
    }
    np.savez(path, **weights)
    return path


def test_without_a_runtime_for_the_model_the_first_float_artifact_is_the_reference(
    broken_host: PluginHost, tmp_path: Path
) -> None:
    config = {
        "dataset": {"name": "gaussian-blobs", "classes": 4, "features": 16},
        "model": {"name": "opaque-mlp", "checkpoint": str(_checkpoint(tmp_path))},
        "steps": [{"name": "weight-int8"}],
        "runtime": "numpy",
        "benchmark": {"warmup": 1, "min_count": 5, "min_duration_s": 0.0},
    }
    doc = Runner(plan_pipeline(parse_config(config), broken_host), tmp_path / "run", host=broken_host).run()
    _validate(doc)
    fidelity = doc["fidelity"]
    assert fidelity["reference"] == {
        "step": "opaque-to-npz",
        "kind": "converter",
        "format": "npz-mlp",
        "runtime": "numpy",
        "note": "no installed runtime ran opaque-mlp (opaque-npz); opaque-to-npz's artifact is the reference",
    }
    assert [(e["step"], e["status"], e["precision"]) for e in fidelity["steps"]] == [
        ("opaque-to-npz", "reference", "float32"),
        ("weight-int8", "ok", "int8"),
        ("numpy", "ok", "int8"),
    ]
    # an int8 artifact is never the reference: it would agree with itself perfectly
    config["steps"] = [{"name": "opaque-to-npz", "precision": "int8"}]
    doc = Runner(plan_pipeline(parse_config(config), broken_host), tmp_path / "int8", host=broken_host).run()
    fidelity = doc["fidelity"]
    assert fidelity["reference"] is None
    assert [(e["step"], e["status"]) for e in fidelity["steps"]] == [
        ("opaque-to-npz", "skipped"),
        ("numpy", "skipped"),
    ]
    assert fidelity["steps"][1]["reason"] == (
        "no reference yet: no installed runtime ran opaque-mlp (opaque-npz), "
        "opaque-to-npz (npz-mlp, int8: not the model's precision)"
    )
