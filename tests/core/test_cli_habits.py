"""CLI habits: reruns into a folder holding results, Ctrl-C naming the partial results, `serve` logging its
hosts, every --json printing JSON, --csv summaries and shell completion of component names."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import clean_env, edgeai_command, serving

import edgeai_core
import edgeai_core.plugin
from edgeai_core.cli import cli
from edgeai_core.measurement import PARTIAL_FILE, RESULTS_FILE
from edgeai_core.plugins import PluginHost
from edgeai_core.summarycsv import CSV_COLUMNS, rows_from_results, summary_row, validity_verdict

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "blobs-mlp.toml"
FAST = ("--set", "model.epochs=3", "--set", "benchmark.min_count=5", "--set", "benchmark.min_duration_s=0",
        "--set", "benchmark.warmup=1")  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("EDGEAI_"):
            monkeypatch.delenv(name)


def _core_only() -> PluginHost:
    host = PluginHost(discover=False, env={})
    host.register(
        edgeai_core.plugin, name="core", distribution="edgeai-core", version=edgeai_core.__version__
    )
    return host


def invoke(*args: str, host: PluginHost | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), obj={"host": host or _core_only()})


def one_error(result: Result, exit_code: int = 2) -> str:
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


# -- safe reruns ---------------------------------------------------------------------------------------


def test_run_into_a_folder_with_results_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = invoke("run", str(EXAMPLE), "-o", str(out), *FAST, "--json")
    assert first.exit_code == 0, first.stderr
    before = (out / RESULTS_FILE).read_bytes()
    again = invoke("run", str(EXAMPLE), "-o", str(out), *FAST)
    assert one_error(again) == (
        f"error: -o: {out} already holds results (results.json); pass --force to replace them, "
        "or give another folder"
    )
    assert (out / RESULTS_FILE).read_bytes() == before
    forced = invoke("run", str(EXAMPLE), "-o", str(out), *FAST, "--force", "--json")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(forced.stdout)["status"] == "complete"
    assert (out / RESULTS_FILE).read_bytes() != before
    # a dry run writes nothing, so it needs no --force
    assert invoke("run", str(EXAMPLE), "-o", str(out), "--dry-run").exit_code == 0


def test_a_partial_results_file_alone_counts_as_results(tmp_path: Path) -> None:
    out = tmp_path / "crashed"
    out.mkdir()
    (out / PARTIAL_FILE).write_text('{"event": "start"}\n')
    result = invoke("run", str(EXAMPLE), "-o", str(out), *FAST)
    assert one_error(result).startswith(f"error: -o: {out} already holds results (results.partial.jsonl);")


def test_train_into_a_folder_with_a_training_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "mlp"
    args = ("train", "numpy-mlp", "gaussian-blobs", "-o", str(out), "--epochs", "2")
    assert invoke(*args).exit_code == 0
    again = invoke(*args)
    assert one_error(again) == (
        f"error: -o: {out} already holds results (train.json); pass --force to replace them, "
        "or give another folder"
    )
    forced = invoke("train", "--force", "numpy-mlp", "gaussian-blobs", "-o", str(out), "--epochs", "2")
    assert forced.exit_code == 0, forced.stderr
    # a folder without results (empty, or other files) is fine
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert invoke("train", "numpy-mlp", "gaussian-blobs", "-o", str(other), "--epochs", "2").exit_code == 0


def test_demo_refuses_a_given_folder_with_results_but_replaces_its_default(
    core_host: PluginHost, test_plugin: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core_host.register(test_plugin, name="test-plugin")
    runner = CliRunner()
    out = tmp_path / "demo"
    args = [
        "demo",
        "--only",
        "mlp-float",
        "--set",
        "benchmark.min_count=5",
        "--set",
        "benchmark.min_duration_s=0",
    ]
    assert runner.invoke(cli, [*args, "-o", str(out)], obj={"host": core_host}).exit_code == 0
    again = runner.invoke(cli, [*args, "-o", str(out)], obj={"host": core_host})
    assert one_error(again) == (
        f"error: -o: {out} already holds results (summary.json); pass --force to replace them, "
        "or give another folder"
    )
    # a variant's results alone count as well (an interrupted demo writes no summary.json)
    (out / "summary.json").unlink()
    again = runner.invoke(cli, [*args, "-o", str(out)], obj={"host": core_host})
    assert "already holds results (mlp-float/results.json)" in one_error(again)
    forced = runner.invoke(cli, [*args, "-o", str(out), "--force"], obj={"host": core_host})
    assert forced.exit_code == 0, forced.stderr
    monkeypatch.chdir(tmp_path)
    for _ in range(2):  # build/demo, the default, is scratch space: replaced on each run
        default = runner.invoke(cli, args, obj={"host": core_host})
        assert default.exit_code == 0, default.stderr
    assert (tmp_path / "build" / "demo" / "mlp-float" / RESULTS_FILE).is_file()


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(encoding="utf-8", errors="replace"):
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    pytest.fail(f"{text!r} did not reach {path} within {timeout_s} s")


@pytest.mark.subprocess
def test_ctrl_c_names_the_partial_results(tmp_path: Path) -> None:
    out = tmp_path / "long"
    proc = subprocess.Popen(
        [*edgeai_command(), "run", str(EXAMPLE), "-o", str(out), "--set", "model.epochs=3",
         "--set", "benchmark.min_duration_s=600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )  # fmt: skip
    try:
        _wait_for(out / PARTIAL_FILE, '"event": "samples", "phase": "measure"', proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: interrupted; partial results in {out / RESULTS_FILE}"], stderr
    doc = json.loads((out / RESULTS_FILE).read_text())
    assert doc["status"] == "interrupted" and doc["error"]["stage"] == "benchmark"
    assert doc["latency"]["partial"] is True and len(doc["latency"]["samples_ns"]) > 0


@pytest.mark.subprocess
def test_ctrl_c_during_training_names_the_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "train"
    proc = subprocess.Popen(
        [*edgeai_command(), "train", "numpy-mlp", "gaussian-blobs", "-o", str(out), "--epochs", "100000",
         "--dataset-samples", "200"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean_env(), "EDGEAI_PROGRESS_INTERVAL": "0"},
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # the epochs have begun
            if "epoch 2 " in line:
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: interrupted; what was written so far is in {out}"], stderr


@pytest.mark.subprocess
def test_serve_logs_each_connection_and_its_outcome(tmp_path: Path) -> None:
    with serving(
        ["--protocol", "tcp", "--runtime", "numpy", "--port", "0", "--once"], tmp_path / "t"
    ) as server:
        config = tmp_path / "remote.toml"
        text = EXAMPLE.read_text(encoding="utf-8").replace(
            "[runtime]", f'[target]\nprotocol = "tcp"\nport = {server.port}\n\n[runtime]'
        )
        config.write_text(text, encoding="utf-8")
        run = subprocess.run(
            [*edgeai_command(), "run", str(config), "-o", str(tmp_path / "out"), *FAST],
            capture_output=True, text=True, timeout=120, env=clean_env(),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        server.proc.wait(timeout=20)
        log = server.stderr()
    lines = [line for line in log.splitlines() if line.startswith("info: ")]
    assert len(lines) == 2, log
    assert lines[0].startswith("info: ") and lines[0].endswith(" connected") and "127.0.0.1:" in lines[0]
    peer = lines[0].removeprefix("info: ").removesuffix(" connected")
    assert lines[1].startswith(f"info: {peer} disconnected: ok (bye) after ")
    requests, inferences = lines[1].split(" s, ")[1].split(", ")
    doc = json.loads((tmp_path / "out" / RESULTS_FILE).read_text())
    measured = doc["latency"]["stats"]["count"] + doc["latency"]["warmup"]["count"]
    assert int(inferences.split()[0]) >= measured
    assert requests.endswith(" requests") and int(requests.split()[0]) > 3  # HELLO, IOSPEC, MODEL, ...


# -- every --json prints JSON ----------------------------------------------------------------------------


def _json_flags(group: click.Group, ctx: click.Context) -> set[str]:
    found = set()
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if any("--json" in getattr(p, "opts", ()) for p in command.params):
            found.add(name)
    return found


def test_every_json_flag_prints_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_plugin: object
) -> None:
    """Each command with --json (the installed plugins' too) is run in a cheap form and its stdout parsed.

    The sweep finds the commands on a host with every installed plugin; they run on one with the plugins that
    add commands only (the core's components, no framework: `grid --list` would start a worker per framework).
    """
    monkeypatch.chdir(tmp_path)
    with click.Context(cli, obj={"host": PluginHost(env={})}) as ctx:
        commands = _json_flags(cli, ctx)
    # `check` needs an analyzer: edgeai-onnx's, on a one-node ONNX model (where edgeai-onnx is installed)
    analyzer = (
        importlib.util.find_spec("edgeai_onnx") is not None and importlib.util.find_spec("onnx") is not None
    )
    host = PluginHost(env={"EDGEAI_LOAD_PLUGINS": "core,compat,report" + (",onnx" if analyzer else "")})
    host.register(test_plugin, name="test-plugin")  # demo variants
    if "grid" in commands:  # a numpy grid suite and a reference ONNX backend (edgeai-compat's test kit)
        sys.path.insert(0, str(REPO / "tests" / "compat" / "support"))
        import edgeai_compat_testkit

        host.register(edgeai_compat_testkit, name="compat-testkit")
    cheap = {
        "plugins": [["plugins", "--json"]],
        "list": [["list", "--json"], ["list", "runtime", "--json"]],
        "describe": [["describe", "numpy-mlp", "--json"], ["describe", "benchmark", "--json"]],
        "run": [["run", str(EXAMPLE), "-o", "run", "--dry-run", "--json"],
                ["run", str(EXAMPLE), "-o", "run", *FAST, "--json"]],
        "train": [["train", "numpy-mlp", "gaussian-blobs", "-o", "mlp", "--epochs", "2", "--json"]],
        "demo": [["demo", "--list", "--json"]],
        "matrix": [["matrix", "--list", "--json", "--model", "numpy-mlp", "--dataset", "gaussian-blobs"]],
        "grid": [["grid", "--list", "--json"]],
        "onnx-backend-tests": [["onnx-backend-tests", "--list", "--json"]],
        "sweep": [["sweep", "sweep.json", "-o", "sweep", "--dry-run", "--json"]],
    }  # fmt: skip
    (tmp_path / "sweep.json").write_text(
        json.dumps({"base": str(EXAMPLE), "axes": {"benchmark.batch_size": [1, 2]}})
    )
    mlp = tmp_path / "mlp" / "model.npz"
    cheap["bench"] = [["bench", str(mlp), "--count", "3", "--warmup", "0", "--json"]]
    cheap["report"] = [["report", "run/results.json", "-o", "report", "--format", "md", "--json"]]
    if analyzer:
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        )  # fmt: skip
        onnx.save(helper.make_model(graph), str(tmp_path / "relu.onnx"))
        cheap["check"] = [["check", str(tmp_path / "relu.onnx"), "--target", "host", "--json"]]
    else:
        commands.discard("check")
    uncovered = commands - set(cheap)
    assert not uncovered, f"commands with --json that this test does not run: {sorted(uncovered)}"
    first = ["train", "run"]  # bench needs the trained file, report the run's results
    for name in [*first, *sorted(commands - set(first))]:
        for args in cheap[name]:
            result = CliRunner().invoke(cli, args, obj={"host": host})
            assert result.exit_code == 0, (args, result.stderr)
            try:
                json.loads(result.stdout)
            except ValueError:
                pytest.fail(f"`edgeai {' '.join(args)}` did not print JSON: {result.stdout[:300]!r}")


def test_demo_list_json_lists_the_variants(core_host: PluginHost, test_plugin: object) -> None:
    core_host.register(test_plugin, name="test-plugin", distribution="edgeai-test-plugin")
    result = CliRunner().invoke(cli, ["demo", "--list", "--json"], obj={"host": core_host})
    listing = json.loads(result.stdout)
    assert [v["variant"] for v in listing] == ["mlp-float", "mlp-int8", "mlp-json", "needs-missing"]
    assert set(listing[0]) == {"variant", "task", "provider", "summary"}
    assert listing[0]["task"] == "classification"
    assert listing[0]["provider"] == "edgeai-test-plugin"


# -- CSV -------------------------------------------------------------------------------------------------


def test_demo_csv_has_one_row_per_variant(core_host: PluginHost, test_plugin: object, tmp_path: Path) -> None:
    core_host.register(test_plugin, name="test-plugin")
    out = tmp_path / "demo"
    args = ["demo", "-o", str(out), "--set", "benchmark.min_count=5", "--set", "benchmark.min_duration_s=0"]
    result = CliRunner().invoke(cli, [*args, "--csv", "-"], obj={"host": core_host})
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))  # stdout holds the CSV only
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["road"] for r in rows] == ["mlp-float", "mlp-int8", "mlp-json", "needs-missing"]
    assert [r["status"] for r in rows] == ["complete", "complete", "complete", "skipped"]
    float_doc = json.loads((out / "mlp-float" / RESULTS_FILE).read_text())
    stats = float_doc["latency"]["stats"]
    row = rows[0]
    assert float(row["accuracy"]) == float_doc["quality"]["accuracy"]
    assert int(row["count"]) == stats["count"] == 5
    assert [float(row[f"p{q}_ns"]) for q in (50, 90, 95, 99)] == [stats[f"p{q}"] for q in (50, 90, 95, 99)]
    assert float(row["throughput_per_s"]) == float_doc["latency"]["throughput_per_s"]
    assert int(row["size_bytes"]) < 100_000 and int(rows[1]["size_bytes"]) < int(row["size_bytes"])
    assert row["validity"] == float_doc["validity"]["verdict"] and row["validity"] in ("clean", "noisy")
    assert row["results"] == str(out / "mlp-float" / RESULTS_FILE)
    assert rows[3]["results"] == "" and rows[3]["p50_ns"] == ""
    # to a file: the table still goes to stdout
    written = CliRunner().invoke(
        cli, [*args, "--force", "--csv", str(tmp_path / "d.csv")], obj={"host": core_host}
    )
    assert written.exit_code == 0 and "VARIANT" in written.stdout
    assert len(list(csv.DictReader((tmp_path / "d.csv").open()))) == 4


def test_csv_rows_read_a_validity_section_defensively(tmp_path: Path) -> None:
    assert validity_verdict({"verdict": "valid", "checks": []}) == "valid"
    assert validity_verdict({"status": "suspect"}) == "suspect"
    assert validity_verdict({"valid": False}) == "invalid"
    assert validity_verdict("invalid") == "invalid"
    assert validity_verdict([1, 2]) is None and validity_verdict(None) is None
    row = summary_row("road", {"status": "complete", "validity": {"verdict": "suspect"}, "latency": "odd"})
    assert row["validity"] == "suspect" and row["p50_ns"] is None
    (tmp_path / "broken.json").write_text("{not json")
    rows = rows_from_results([("a", tmp_path / "broken.json", "failed"), ("b", None, "skipped")])
    assert [(r["road"], r["status"], r["results"]) for r in rows] == [
        ("a", "failed", None),
        ("b", "skipped", None),
    ]


# -- shell completion ------------------------------------------------------------------------------------


def _complete(words: str, shell: str = "bash") -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {
        **clean_env(),
        "COMP_WORDS": words,
        "COMP_CWORD": str(cword),
        "_EDGEAI_COMPLETE": f"{shell}_complete",
    }
    run = subprocess.run([*edgeai_command()], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    return run.stdout.splitlines()


@pytest.mark.subprocess
def test_completion_of_component_names_and_kinds() -> None:
    assert _complete("edgeai train ") == ["plain,artifact-file", "plain,numpy-mlp"]
    assert _complete("edgeai train numpy-mlp ") == ["plain,gaussian-blobs"]
    assert _complete("edgeai list ") == [f"plain,{k}" for k in edgeai_core.records.KINDS]
    assert _complete("edgeai list r") == ["plain,runtime"]
    assert _complete("edgeai describe n") == ["plain,numpy-mlp", "plain,numpy", "plain,nvml"]
    assert _complete("edgeai describe runtime:") == ["plain,runtime:echo", "plain,runtime:numpy"]
    assert _complete("edgeai describe b") == ["plain,benchmark"]
    assert _complete("edgeai serve --runtime ") == ["plain,echo", "plain,numpy"]
    assert _complete("edgeai bench --runtime nu") == ["plain,numpy"]
    assert _complete("edgeai train nope gau") == ["plain,gaussian-blobs"]  # a typo before: no traceback
    assert "plain,train" in _complete("edgeai tr")


@pytest.mark.subprocess
def test_completion_scripts_for_bash_zsh_and_fish() -> None:
    for shell, marker in (
        ("bash", "complete -o nosort -F"),
        ("zsh", "#compdef edgeai"),
        ("fish", "complete --no-files"),
    ):
        env = {**clean_env(), "_EDGEAI_COMPLETE": f"{shell}_source"}
        run = subprocess.run([*edgeai_command()], capture_output=True, text=True, timeout=60, env=env)
        assert run.returncode == 0 and marker in run.stdout, (shell, run.stdout[:300])
    zsh = _complete("edgeai train numpy-mlp g", shell="zsh")
    assert zsh[:2] == ["plain", "gaussian-blobs"]
