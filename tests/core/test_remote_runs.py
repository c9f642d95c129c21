"""The host<->target flow with real processes: `edgeai serve` as the target, `edgeai run` as the host.

A pipeline (gaussian-blobs, numpy-mlp, weight-int8, numpy runtime) runs through TCP and through a serial line
made of two pseudo-terminal pairs and a relay that corrupts bytes on purpose. Quality must equal a local run
of the same checkpoint exactly; the document must validate and hold host and target latency separately.
Killing (or freezing) the target mid-benchmark must end the run quickly with one error line and keep what
was measured.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import PtyLink, clean_env, edgeai_command, serving

from edgeai_core.cli import cli
from edgeai_core.config import parse_config
from edgeai_core.measurement import PARTIAL_FILE, RESULTS_FILE, load_schema, recover_partial
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import LocalRunner

pytestmark = pytest.mark.subprocess

PIPELINE = """
name = "blobs-remote"
seed = 0

[dataset]
name = "gaussian-blobs"
classes = 4
features = 8
samples = 600
separation = 2.5

[model]
name = "numpy-mlp"
checkpoint = "{checkpoint}"

[[steps]]
name = "weight-int8"

[runtime]
name = "numpy"

[benchmark]
warmup = 5
min_count = {min_count}
min_duration_s = {min_duration_s}

[resources]
interval_s = 0.01

[target]
{target}
"""


def _validate(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message[:200]}" for e in errors]


@pytest.fixture(scope="module")
def local(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """A local run that trains the checkpoint every remote run then loads."""
    import edgeai_core.plugin

    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    root = tmp_path_factory.mktemp("local")
    config = {
        "name": "blobs-local", "seed": 0,
        "dataset": {"name": "gaussian-blobs", "classes": 4, "features": 8, "samples": 600, "separation": 2.5},
        "model": {"name": "numpy-mlp", "epochs": 20, "hidden": [16]},
        "steps": [{"name": "weight-int8"}], "runtime": {"name": "numpy"},
        "benchmark": {"warmup": 5, "min_count": 50, "min_duration_s": 0.0},
    }  # fmt: skip
    doc = LocalRunner(plan_pipeline(parse_config(config), host), root / "out", host=host).run()
    checkpoint = root / "out" / doc["steps"][1]["artifact"]["path"]
    return {"doc": doc, "checkpoint": checkpoint}


def write_config(path: Path, checkpoint: Path, target: dict[str, Any], min_count: int = 200,
                 min_duration_s: float = 0.0) -> Path:  # fmt: skip
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in target.items())
    path.write_text(
        PIPELINE.format(
            checkpoint=checkpoint, target=lines, min_count=min_count, min_duration_s=min_duration_s
        )
    )
    return path


def edgeai_run(
    config: Path, out: Path, *extra: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*edgeai_command(), "run", str(config), "-o", str(out), *extra],
        capture_output=True, text=True, timeout=timeout, env=clean_env(),
    )  # fmt: skip


def check_remote_document(doc: dict[str, Any], local_doc: dict[str, Any], protocol: str) -> None:
    _validate(doc)
    assert doc["status"] == "complete"
    assert [s["kind"] for s in doc["steps"]] == ["dataset", "model", "compiler", "upload", "runtime-load"]
    upload = doc["steps"][3]
    assert upload["name"] == protocol and upload["bytes"] == doc["steps"][2]["artifact"]["size_bytes"]
    assert upload["throughput_bytes_per_s"] > 0 and upload["metadata"]["runtime"] == "numpy"
    latency = doc["latency"]
    target = latency["target"]
    assert len(target["samples_ns"]) == len(latency["samples_ns"]) == latency["stats"]["count"] >= 200
    assert target["warmup"]["count"] == latency["warmup"]["count"] == 5
    assert target["stats"]["count"] == len(target["samples_ns"])
    # causality, not speed: the target's inference happens inside the host's round trip
    assert all(t <= h for t, h in zip(target["samples_ns"], latency["samples_ns"], strict=True))
    series = doc["resources"]["target"]
    assert series is not None and len(series["t_s"]) >= 2 and len(series["cpu_percent"]) == len(series["t_s"])
    assert max(v for v in series["rss_bytes"] if v) > 10_000_000
    assert doc["resources"]["host"] is not None
    assert doc["provenance"]["target"]["runtime"] == "numpy"
    assert doc["provenance"]["target"]["machine"]["python"]["version"]
    # the same checkpoint gives exactly the same quality on the target as locally
    assert doc["quality"]["confusion_matrix"] == local_doc["quality"]["confusion_matrix"]
    assert doc["quality"]["accuracy"] == local_doc["quality"]["accuracy"] >= 0.9
    # fidelity: the final runtime is compared on the target, and gives what the local runtime gave
    remote_fidelity, local_fidelity = doc["fidelity"]["steps"], local_doc["fidelity"]["steps"]
    assert [(e["step"], e["kind"], e["status"]) for e in remote_fidelity] == [
        ("weight-int8", "compiler", "ok"),
        ("numpy", "runtime", "ok"),
    ]
    assert remote_fidelity[-1]["max_abs_diff"] == local_fidelity[-1]["max_abs_diff"] > 0


def test_remote_run_over_tcp(local: dict[str, Any], tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-shared-secret-for-this-test-only\n")
    token.chmod(0o600)
    serve = ["--protocol", "tcp", "--runtime", "numpy", "--port", "0", "--token-file", str(token), "--once",
             "--keep-models"]  # fmt: skip
    with serving(serve, tmp_path / "target") as server:
        target = {"protocol": "tcp", "host": "127.0.0.1", "port": server.port, "token_file": str(token),
                  "timeout_s": 10}  # fmt: skip
        config = write_config(tmp_path / "remote.toml", local["checkpoint"], target)
        result = edgeai_run(config, tmp_path / "out", "--json")
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["status"] == "complete" and summary["accuracy"] == local["doc"]["quality"]["accuracy"]
        server.proc.wait(timeout=20)  # --once: the target exits after the host's session
        assert server.proc.returncode == 0, server.stderr()
    doc = json.loads((tmp_path / "out" / RESULTS_FILE).read_text())
    check_remote_document(doc, local["doc"], "tcp")
    uploaded = tmp_path / "target" / "models" / "model-int8.npz"
    assert uploaded.read_bytes() == (tmp_path / "out" / doc["steps"][2]["artifact"]["path"]).read_bytes()
    recovered = recover_partial(tmp_path / "out" / PARTIAL_FILE)
    assert recovered["latency"]["target"]["samples_ns"] == doc["latency"]["target"]["samples_ns"]


def test_remote_run_over_a_serial_line_with_corruption(local: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip(
        "serial", reason="the serial transport needs pyserial: pip install 'edgeai-core[serial]'"
    )
    link = PtyLink(corrupt_every=40, seed=3)
    try:
        serve = ["--protocol", "serial", "--device", link.device_a, "--runtime", "numpy"]
        with serving(serve, tmp_path / "target") as server:
            target = {"protocol": "serial", "device": link.device_b, "baudrate": 115200, "timeout_s": 10}
            config = write_config(tmp_path / "serial.toml", local["checkpoint"], target)
            result = edgeai_run(config, tmp_path / "out")
            assert result.returncode == 0, result.stderr + server.stderr()
            assert server.proc.poll() is None, "the serial target keeps serving after the session"
    finally:
        link.close()
    assert link.corrupted > 0, "the relay corrupted bytes, so retransmission was exercised"
    doc = json.loads((tmp_path / "out" / RESULTS_FILE).read_text())
    check_remote_document(doc, local["doc"], "serial")


def _wait_for_samples(partial: Path, proc: subprocess.Popen[str], events: int = 2) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            partial.exists()
            and partial.read_text().count('"event": "target_samples", "phase": "measure"') >= events
        ):
            return
        assert proc.poll() is None, "the run ended before the target could be stopped"
        time.sleep(0.05)
    pytest.fail("no target samples reached the progress file within 60 s")


@pytest.mark.parametrize("how", ["kill", "freeze"])
def test_target_dying_mid_run_fails_fast_and_keeps_the_samples(
    local: dict[str, Any], tmp_path: Path, how: str
) -> None:
    serve = ["--protocol", "tcp", "--runtime", "numpy", "--port", "0"]
    with serving(serve, tmp_path / "target") as server:
        target = {"protocol": "tcp", "port": server.port, "timeout_s": 2}
        config = write_config(
            tmp_path / "long.toml", local["checkpoint"], target, min_count=1, min_duration_s=120
        )
        out = tmp_path / "out"
        proc = subprocess.Popen(
            [*edgeai_command(), "run", str(config), "-o", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
        )  # fmt: skip
        try:
            _wait_for_samples(out / PARTIAL_FILE, proc)
            server.proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
            _, stderr = proc.communicate(timeout=30)  # well within: the timeout is 2 s
        finally:
            if proc.poll() is None:
                proc.kill()
            server.proc.send_signal(signal.SIGKILL)
    assert proc.returncode == 1
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    reason = "closed the connection" if how == "kill" else "no answer within 2 s (target.timeout_s)"
    assert "benchmark failed: target tcp 127.0.0.1" in errors[0] and reason in errors[0], errors[0]
    assert "partial results in" in errors[0]
    doc = json.loads((out / RESULTS_FILE).read_text())
    _validate(doc)
    assert doc["status"] == "failed" and doc["error"]["stage"] == "benchmark"
    assert doc["error"]["type"] == "TargetLost"
    latency = doc["latency"]
    assert latency["partial"] is True and len(latency["samples_ns"]) > 0
    assert len(latency["target"]["samples_ns"]) == len(latency["samples_ns"])
    assert doc["resources"]["host"] is not None
    recovered = recover_partial(out / PARTIAL_FILE)
    _validate(recovered)
    assert recovered["status"] == "failed"
    assert recovered["latency"]["samples_ns"] == latency["samples_ns"]
    assert recovered["latency"]["target"]["samples_ns"] == latency["target"]["samples_ns"]
    assert recovered["latency"]["stats"]["count"] == len(latency["samples_ns"])


def test_unreachable_target_is_one_clear_error(local: dict[str, Any], tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path / "x.toml", local["checkpoint"], {"protocol": "tcp", "port": port})
    result = edgeai_run(config, tmp_path / "out")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"cannot connect to the target at tcp 127.0.0.1:{port}" in errors[0]
    assert "is `edgeai serve --protocol tcp` running there?" in errors[0]
    assert json.loads((tmp_path / "out" / RESULTS_FILE).read_text())["error"]["stage"] == "upload"


def test_target_serving_another_runtime_is_a_usage_error(local: dict[str, Any], tmp_path: Path) -> None:
    with serving(["--runtime", "echo", "--port", "0"], tmp_path / "target") as server:
        config = write_config(
            tmp_path / "x.toml", local["checkpoint"], {"protocol": "tcp", "port": server.port}
        )
        result = edgeai_run(config, tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert "serves runtime echo, but the config's runtime is numpy" in result.stderr


def test_demo_runs_a_variant_through_a_local_target(
    core_host: PluginHost, test_plugin: Any, tmp_path: Path
) -> None:
    core_host.register(test_plugin, name="test-plugin", distribution="edgeai-test-plugin")
    core_host.register(test_plugin.RemoteDemo(), name="remote-demo", distribution="edgeai-test-plugin")
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "-o", str(out), "--json", "--only", "mlp-int8", "--only", "mlp-remote"],
                                obj={"host": core_host})  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["variant"]: r for r in json.loads(result.stdout)["variants"]}
    assert rows["mlp-remote"]["status"] == "complete", rows["mlp-remote"]["note"]
    remote = json.loads((out / "mlp-remote" / RESULTS_FILE).read_text())
    local_doc = json.loads((out / "mlp-int8" / RESULTS_FILE).read_text())
    _validate(remote)
    assert remote["plan"]["target"]["name"] == "tcp" and remote["latency"]["target"]["stats"]["count"] >= 20
    assert remote["quality"]["confusion_matrix"] == local_doc["quality"]["confusion_matrix"]
    assert (out / "mlp-remote" / "target.token").stat().st_mode & 0o077 == 0
    assert "listening" not in (out / "mlp-remote" / "target.log").read_text()
    models = out / "mlp-remote" / "target" / "models"
    assert not models.exists() or not list(models.iterdir()), (
        "the target deletes a session's uploads at its end"
    )


def test_a_restarted_serial_host_gets_a_new_session_at_once(tmp_path: Path) -> None:
    """A host that vanished without BYE does not block the line: the next host's HELLO starts afresh."""
    pytest.importorskip(
        "serial", reason="the serial transport needs pyserial: pip install 'edgeai-core[serial]'"
    )
    from edgeai_core.wire.client import Client

    link = PtyLink()
    host = PluginHost(discover=False, env={})
    import edgeai_core.plugin

    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    serial = host.get("protocol", "serial")
    try:
        serve = [
            "--protocol",
            "serial",
            "--device",
            link.device_a,
            "--runtime",
            "echo",
            "--idle-timeout-s",
            "120",
        ]
        with serving(serve, tmp_path / "target") as server:
            first = Client(serial.create({"device": link.device_b}).connect(5.0), timeout_s=5.0)
            assert first.hello().runtime == "echo"
            first.close()  # gone without BYE, mid-session
            # with a 5 s timeout: a server waiting for the old session's idle timeout (120 s) would fail this
            second = Client(serial.create({"device": link.device_b}).connect(5.0), timeout_s=5.0)
            assert second.hello().runtime == "echo"
            assert second.stats()["runtime"] == "echo"
            second.bye()
            second.close()
            assert server.proc.poll() is None
    finally:
        link.close()
