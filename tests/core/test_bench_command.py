"""``edgeai bench MODEL_FILE`` with the core's built-ins only: a numpy-mlp checkpoint (a file with a sidecar, so
the core's ``artifact-file`` model loads it and the ``numpy`` runtime runs it), synthetic and ``.npz`` inputs,
the summary formats, the results file and the errors. The framework file kinds are tested with their plugins
(tests/onnx, tests/tflite, tests/tvm)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner, Result

import edgeai_core
import edgeai_core.plugin
from edgeai_core import ModelRecord, RuntimeRecord, hookimpl
from edgeai_core.cli import cli
from edgeai_core.cli.bench import CSV_COLUMNS
from edgeai_core.errors import UsageError
from edgeai_core.measurement import schema_path
from edgeai_core.modelfiles import choose_runtime, identify
from edgeai_core.plugins import PluginHost

FAST = ("--count", "30", "--warmup", "2")
CORE_VERSION = edgeai_core.__version__
SUMMARY_KEYS = {
    "model", "format", "model_component", "runtime", "target", "inputs", "batch", "warmup", "status",
    "results", "count", "mean_ns", "std_ns", "min_ns", "p50_ns", "p90_ns", "p95_ns", "p99_ns", "max_ns",
    "throughput_per_s", "accuracy", "validity", "validity_reasons",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("EDGEAI_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # the default results folder is runs/ under the working directory
    yield


def core_host() -> PluginHost:
    """A host with only the core's built-ins (registered in-process)."""
    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version=CORE_VERSION)
    return host


def invoke(*args: str) -> Result:
    """``edgeai bench ...`` (or any command) in-process on a core-only host."""
    return CliRunner().invoke(cli, list(args), obj={"host": core_host()})


def one_error(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0][len("error: ") :]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A numpy-mlp trained on gaussian-blobs (16 features, 4 classes): model.npz with its sidecar."""
    out = tmp_path_factory.mktemp("mlp")
    result = CliRunner().invoke(
        cli,
        ["train", "numpy-mlp", "gaussian-blobs", "-o", str(out), "--epochs", "30"],
        obj={"host": core_host()},
    )
    assert result.exit_code == 0, result.stderr
    return out / "model.npz"


def blobs(count: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Test samples of gaussian-blobs (seed 0), as the trained model saw them."""
    from edgeai_core.builtins.blobs import GaussianBlobs
    from edgeai_core.components import Context

    record = core_host().get("dataset", "gaussian-blobs")
    data = GaussianBlobs(record=record, params=record.params.validate({}, "dataset"), context=Context(seed=0))
    data.prepare()
    split = data.split("test")
    return split.input[:count], split.targets[:count]


def test_a_file_with_a_sidecar_is_benchmarked_with_synthetic_inputs(mlp: Path, tmp_path: Path) -> None:
    result = invoke("bench", str(mlp), *FAST, "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary) == SUMMARY_KEYS
    assert summary["model_component"] == "artifact-file"
    assert (summary["format"], summary["runtime"], summary["target"]) == ("npz-mlp", "numpy", "this machine")
    assert summary["count"] == 30 and summary["batch"] == 1 and summary["warmup"] == 2
    assert summary["accuracy"] is None
    assert (
        summary["min_ns"] <= summary["p50_ns"] <= summary["p90_ns"] <= summary["p99_ns"] <= summary["max_ns"]
    )
    results = Path(summary["results"])
    assert results.parent.parent == Path("runs") and results.parent.name.startswith("bench-model-")

    doc = json.loads((tmp_path / results).read_text())
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)
    assert doc["status"] == "complete"
    assert doc["latency"]["stats"]["count"] == 30
    assert doc["latency"]["stats"]["p50"] == summary["p50_ns"]
    assert doc["latency"]["settings"]["max_count"] == 30
    assert doc["quality"] == {"task": None, "applicable": False, "reason": doc["quality"]["reason"]}
    assert "no labels" in doc["quality"]["reason"]
    assert [(s["kind"], s["name"]) for s in doc["steps"]] == [
        ("model", "artifact-file"),
        ("runtime-load", "numpy"),
    ]
    assert doc["plan"]["model"]["params"] == {"path": str(mlp), "format": "npz-mlp"}


def test_the_text_summary_names_every_statistic(mlp: Path) -> None:
    result = invoke("bench", str(mlp), *FAST)
    assert result.exit_code == 0, result.stderr
    labels = [line.split()[0] for line in result.stdout.splitlines()]
    assert labels == [
        "model", "runtime", "inputs", "batch", "count",
        "mean", "std", "min", "p50", "p90", "p95", "p99", "max", "throughput", "results",
    ]  # fmt: skip
    assert "count       30" in result.stdout


def test_default_folders_are_fresh_and_an_existing_results_file_is_never_overwritten(mlp: Path) -> None:
    first = json.loads(invoke("bench", str(mlp), *FAST, "--json").stdout)["results"]
    second = json.loads(invoke("bench", str(mlp), *FAST, "--json").stdout)["results"]
    assert first != second and Path(first).is_file() and Path(second).is_file()
    out = Path("mine")
    assert invoke("bench", str(mlp), *FAST, "-o", str(out)).exit_code == 0
    before = (out / "results.json").read_bytes()
    again = invoke("bench", str(mlp), *FAST, "-o", str(out))
    assert again.exit_code == 2
    assert one_error(again) == (
        f"-o: {out} already holds results (results.json); pass --force to replace them, or give another folder"
    )
    assert (out / "results.json").read_bytes() == before
    forced = invoke("bench", str(mlp), *FAST, "-o", str(out), "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["results"] == str(out / "results.json")
    assert (out / "results.json").read_bytes() != before


def test_labelled_npz_inputs_are_benchmarked_and_evaluated(mlp: Path) -> None:
    x, y = blobs(40)
    np.savez("inputs.npz", input=x.astype(np.float64), labels=y.astype(np.int64))  # float64: cast to float32
    result = invoke("bench", str(mlp), *FAST, "--inputs", "inputs.npz", "--batch", "4", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["inputs"] == "inputs.npz (40 samples, with labels)"
    assert summary["batch"] == 4
    assert summary["accuracy"] >= 0.9
    doc = json.loads(Path(summary["results"]).read_text())
    assert doc["quality"]["accuracy"] == summary["accuracy"]
    assert doc["quality"]["split"] == "inputs"
    assert sum(map(sum, doc["quality"]["confusion_matrix"])) == 40
    assert doc["latency"]["batch_size"] == 4


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"x": np.zeros((5, 16), np.float32)},
            "--inputs bad.npz: array 'x' is not an input of the model (its inputs: input; 'labels' may hold "
            "class labels)",
        ),
        (
            {"labels": np.zeros(5, np.int64)},
            "--inputs bad.npz: no array for input 'input', expected shape (N, 16) float32 (its arrays: labels)",
        ),
        (
            {"input": np.zeros((5, 8), np.float32)},
            "--inputs bad.npz: input 'input' has shape (5, 8), expected (N, 16) (the first axis counts samples)",
        ),
        (
            {"input": np.zeros((5, 16), np.float32), "labels": np.zeros(4, np.int64)},
            "--inputs bad.npz: 'labels' must hold one integer class index per sample, shape (5,), got (4,) int64",
        ),
    ],
)
def test_npz_inputs_that_do_not_fit_fail_with_one_line_before_anything_runs(
    mlp: Path, arrays: dict[str, np.ndarray], message: str
) -> None:
    np.savez("bad.npz", **arrays)
    result = invoke("bench", str(mlp), "--inputs", "bad.npz")
    assert result.exit_code == 2
    assert one_error(result) == message
    assert not Path("runs").exists()  # checked against the sidecar's IO spec: nothing was run


def test_the_expected_shape_shows_dynamic_dimensions(mlp: Path, tmp_path: Path) -> None:
    side = json.loads(Path(f"{mlp}.edgeai.json").read_text())
    side["io"]["inputs"][0]["shape"] = [None, "features"]
    dynamic = tmp_path / "dynamic.npz"
    dynamic.write_bytes(mlp.read_bytes())
    Path(f"{dynamic}.edgeai.json").write_text(json.dumps(side))
    np.savez("bad.npz", labels=np.zeros(3, np.int64))
    assert one_error(invoke("bench", str(dynamic), "--inputs", "bad.npz")) == (
        "--inputs bad.npz: no array for input 'input', expected shape (N, features) float32 (its arrays: labels)"
    )


def test_an_inputs_file_that_is_not_npz_and_too_few_samples_for_the_batch(mlp: Path) -> None:
    Path("inputs.npz").write_text("not a zip")
    assert one_error(invoke("bench", str(mlp), "--inputs", "inputs.npz")) == (
        "--inputs: inputs.npz is not an .npz file (numpy.savez writes one)"
    )
    np.savez("two.npz", input=np.zeros((2, 16), np.float32))
    result = invoke("bench", str(mlp), "--inputs", "two.npz", "--batch", "4")
    assert result.exit_code == 2
    assert one_error(result) == "--inputs two.npz: batch 4 needs at least 4 samples, it holds 2"


def test_csv_appends_one_row_per_run_under_one_header(mlp: Path) -> None:
    for _ in range(2):
        result = invoke("bench", str(mlp), *FAST, "--csv", "bench.csv")
        assert result.exit_code == 0, result.stderr
    with open("bench.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:6] == ("model", "format", "runtime", "target", "batch", "warmup")
    assert [r["count"] for r in rows] == ["30", "30"]
    assert all(int(r["p50_ns"]) <= int(r["p99_ns"]) for r in rows)
    assert {r["status"] for r in rows} == {"complete"} and {r["runtime"] for r in rows} == {"numpy"}
    stdout = invoke("bench", str(mlp), *FAST, "--csv", "-")
    assert stdout.stdout.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert len(stdout.stdout.splitlines()) == 2


def test_dry_run_prints_the_plan_and_creates_nothing(mlp: Path) -> None:
    result = invoke("bench", str(mlp), "--count", "2000", "--dry-run")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "model     artifact-file -> npz-mlp"
    assert lines[1] == "runtime   numpy (npz-mlp)"
    assert lines[3] == "benchmark warm-up 10, at least 2000 runs, at most 2000 runs, batch 1"
    assert not Path("runs").exists()
    plan = json.loads(invoke("bench", str(mlp), "--dry-run", "--json", "--duration", "2").stdout)
    assert plan["final_format"] == "npz-mlp"
    assert (plan["benchmark"]["min_count"], plan["benchmark"]["min_duration_s"]) == (1, 2.0)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.onnx", None, "MODEL_FILE: missing.onnx does not exist"),
        ("fake.onnx", b"hello, world", "MODEL_FILE: fake.onnx is not an ONNX model (a protobuf ModelProto), as its "
         "extension .onnx says"),
        ("fake.tflite", b"\x1c\x00\x00\x00XXXX" + bytes(8), "MODEL_FILE: fake.tflite is not a TFLite flatbuffer "
         "(identifier TFL3), as its extension .tflite says"),
        ("fake.keras", b"not a zip archive", "MODEL_FILE: fake.keras is not a Keras v3 archive (a zip file), as its "
         "extension .keras says"),
        ("empty.onnx", b"", "MODEL_FILE: empty.onnx is empty"),
    ],
)  # fmt: skip
def test_files_that_are_not_what_their_extension_says(name: str, content: bytes | None, message: str) -> None:
    if content is not None:
        Path(name).write_bytes(content)
    result = invoke("bench", name)
    assert result.exit_code == 2
    assert one_error(result) == message


def test_a_library_without_its_sidecar_is_refused_by_name() -> None:
    Path("model.so").write_bytes(b"\x7fELF" + bytes(60))
    result = invoke("bench", "model.so")
    assert result.exit_code == 2
    assert one_error(result) == (
        "MODEL_FILE: model.so: no installed model loads '.so' files and there is no sidecar model.so.edgeai.json "
        "(no installed model loads files); a compiled library needs the sidecar its compiler wrote next to it"
    )


def test_options_are_checked_against_the_runtime_and_the_target(mlp: Path) -> None:
    assert one_error(invoke("bench", str(mlp), "--threads", "2")) == (
        "--threads: runtime numpy has no threads parameter"
    )
    assert one_error(invoke("bench", str(mlp), "--target", "nohost")) == (
        "--target: expected HOST:PORT (e.g. 192.168.1.20:7575), got 'nohost'"
    )
    assert one_error(invoke("bench", str(mlp), "--token-file", "t")) == (
        "--token-file: applies to a remote target; add --target HOST:PORT"
    )
    assert one_error(invoke("bench", str(mlp), "--runtime", "echo")).startswith(
        "runtime: runtime 'echo' accepts echo"
    )


def test_a_fixed_batch_refuses_another_batch_size(mlp: Path, tmp_path: Path) -> None:
    side = json.loads(Path(f"{mlp}.edgeai.json").read_text())
    side["io"]["inputs"][0]["shape"] = [1, 16]
    fixed = tmp_path / "fixed.npz"
    fixed.write_bytes(mlp.read_bytes())
    Path(f"{fixed}.edgeai.json").write_text(json.dumps(side))
    result = invoke("bench", str(fixed), "--batch", "4")
    assert result.exit_code == 2
    assert one_error(result) == (
        "batch 4: input 'input' has a fixed batch of 1 (shape (1, 16)); use batch 1 or a model with a dynamic "
        "batch dimension"
    )


# -- choosing components from records --------------------------------------------------------------------


class _Loaders:
    @hookimpl
    def edgeai_register_models(self) -> list[ModelRecord]:
        return [
            ModelRecord(
                name="b-file", summary="b", factory="x:y", format="fmt", trainable=False, loads=(".fmt",)
            ),
            ModelRecord(
                name="a-file", summary="a", factory="x:y", format="fmt", trainable=False, loads=(".fmt",)
            ),
        ]

    @hookimpl
    def edgeai_register_runtimes(self) -> list[RuntimeRecord]:
        return [
            RuntimeRecord(name="zeta", summary="z", factory="x:y", formats=("fmt",)),
            RuntimeRecord(name="alpha", summary="a", factory="x:y", formats=("fmt", "other")),
        ]


def test_loaders_and_runtimes_are_chosen_deterministically_and_the_choice_is_said(tmp_path: Path) -> None:
    host = core_host()
    host.register(_Loaders(), name="loaders", distribution="edgeai-loaders")
    (tmp_path / "m.fmt").write_bytes(b"anything")
    found = identify(tmp_path / "m.fmt", host)
    assert (found.model.name, found.format, found.found_by) == ("a-file", "fmt", "extension .fmt")
    assert found.model_table() == {"name": "a-file", "path": str(tmp_path / "m.fmt")}
    runtime, note = choose_runtime(host, "fmt", found.model, None)
    assert runtime.name == "alpha"  # same distribution as the loader does not differ here; then by name
    assert note == "runtime alpha chosen for fmt models (also possible: zeta; --runtime picks one)"
    assert choose_runtime(host, "fmt", found.model, "zeta") == (host.get("runtime", "zeta"), None)
    with pytest.raises(UsageError, match=r"^no installed runtime loads nothing models, and no converter"):
        choose_runtime(host, "nothing", found.model, None)


def test_model_records_check_their_extensions() -> None:
    with pytest.raises(ValueError, match=r"loads must hold lowercase file extensions with their dot"):
        ModelRecord(name="m", summary="m", factory="x:y", format="f", loads=("onnx",))
    record = ModelRecord(name="m", summary="m", factory="x:y", format="f", loads=[".onnx"])  # type: ignore[arg-type]
    assert record.loads == (".onnx",)
    assert record.facts()["loads"] == [".onnx"]


def test_artifact_file_in_a_pipeline_takes_the_format_of_its_sidecar(mlp: Path, tmp_path: Path) -> None:
    """`edgeai run` with model artifact-file: the planner reads the format from the sidecar."""
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"model": {"name": "artifact-file", "path": str(mlp)}, "runtime": "numpy"}))
    result = invoke("run", str(config), "-o", str(tmp_path / "out"), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "model     artifact-file -> npz-mlp"
    config.write_text(
        json.dumps(
            {"model": {"name": "artifact-file", "path": str(tmp_path / "nope.so")}, "runtime": "numpy"}
        )
    )
    assert one_error(invoke("run", str(config), "-o", str(tmp_path / "out"))) == (
        f"model.path: {tmp_path / 'nope.so'} does not exist"
    )
