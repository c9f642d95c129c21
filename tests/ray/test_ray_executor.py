"""The ray executor on a real two-node Ray cluster on loopback addresses (nox -s ray sets EDGEAI_RAY_TESTS=1).

Head node 127.0.0.2 holds device:a, a second node 127.0.0.3 holds device:b; two real `edgeai serve` targets are
the devices. Eight runs land on the node of their device, never two at once on one device, and a run whose Ray
worker is killed mid-run is retried and completes."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CLUSTER = os.environ.get("EDGEAI_RAY_TESTS") == "1"
BASE = {
    "seed": 0,
    "dataset": {"name": "gaussian-blobs", "samples": 300},
    "model": {"name": "numpy-mlp", "epochs": 10, "hidden": [16]},
    "runtime": {"name": "numpy"},
    "benchmark": {"min_count": 2000, "min_duration_s": 0.5, "warmup": 2},
    "fidelity": {"enabled": False},
}


def edgeai(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeai_core", *args], cwd=cwd, capture_output=True, text=True, timeout=600,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})},
    )  # fmt: skip


def test_without_a_cluster_the_ray_executor_refuses(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"base": BASE, "axes": {"benchmark.batch_size": [1]}}))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    run = subprocess.run(
        [sys.executable, "-m", "edgeai_core", "sweep", str(spec), "-o", str(tmp_path / "o"), "--executor", "ray"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert run.returncode == 1
    assert "error: the ray executor needs a cluster: --set-executor address=HOST:PORT" in run.stderr
    assert not list((tmp_path / "o" / "runs").glob("*")) if (tmp_path / "o" / "runs").exists() else True


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert ray is not None, "the ray command is not installed next to this interpreter"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    port = "6399"
    common = ["--num-cpus=1", "--disable-usage-stats", "--include-dashboard=false"]
    subprocess.run([ray, "start", "--head", "--node-ip-address=127.0.0.2", f"--port={port}",
                    '--resources={"device:a": 1}', *common], check=True, env=env, capture_output=True)  # fmt: skip
    try:
        subprocess.run([ray, "start", f"--address=127.0.0.2:{port}", "--node-ip-address=127.0.0.3",
                        '--resources={"device:b": 1}', "--num-cpus=1", "--disable-usage-stats"],
                       check=True, env=env, capture_output=True)  # fmt: skip
        yield f"127.0.0.2:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, check=False)


def _kill_one_run_worker(stop: threading.Event, killed: list[dict[str, Any]]) -> None:
    """Kill the Ray worker (with its process group) that runs the first run job seen."""
    import psutil

    while not stop.is_set() and not killed:
        for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
            cmd = proc.info["cmdline"] or []
            if "edgeai_core.executors" not in cmd:
                continue
            try:
                spec = json.loads(Path(cmd[-1]).read_text())
            except (OSError, ValueError):
                continue
            if spec.get("kind") != "run":
                continue
            time.sleep(0.3)  # mid-run
            worker = proc.info["ppid"]
            try:
                os.killpg(os.getpgid(worker), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                continue
            killed.append({"run": spec["id"], "worker": worker})
            return
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.skipif(not CLUSTER, reason="starts a Ray cluster: run with `nox -s ray` (EDGEAI_RAY_TESTS=1)")
def test_runs_land_on_their_device_node_one_at_a_time_and_a_killed_worker_is_retried(
    tmp_path: Path, cluster: str
) -> None:
    from edgeai_core.target_server import start_local_server

    servers = [start_local_server("numpy", tmp_path / f"srv-{d}", once=False) for d in ("a", "b")]
    stop, killed = threading.Event(), []  # type: ignore[var-annotated]
    killer = threading.Thread(target=_kill_one_run_worker, args=(stop, killed), daemon=True)
    try:
        targets = {d: s.target_table() for d, s in zip(("a", "b"), servers, strict=True)}
        spec = tmp_path / "sweep.json"
        spec.write_text(json.dumps({"base": BASE, "targets": targets,
                                    "axes": {"target": ["a", "b"], "benchmark.batch_size": [1, 2, 3, 4]}}))  # fmt: skip
        killer.start()
        run = edgeai("sweep", str(spec), "-o", str(tmp_path / "out"), "--executor", "ray",
                     "--set-executor", f"address={cluster}", "--set-executor", "node_ip=127.0.0.2",
                     "--set-executor", "retries=2", cwd=tmp_path)  # fmt: skip
    finally:
        stop.set()
        for server in servers:
            server.stop(grace_s=0)
    assert run.returncode == 0, run.stderr[-4000:]
    assert killed, "no run worker was seen to kill"
    book = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert book["counts"]["complete"] == 8
    node_of = {"a": "127.0.0.2", "b": "127.0.0.3"}
    for device, ip in node_of.items():
        runs = [r for r in book["runs"] if r["device"] == device]
        assert len(runs) == 4 and all(r["where"].startswith(ip) for r in runs), runs
        spans = sorted((r["started_at"], r["finished_at"]) for r in runs)
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), spans
    retried = next(r for r in book["runs"] if r["id"] == killed[0]["run"])
    assert retried["status"] == "complete"
    doc = json.loads((Path(retried["folder"]) / "results.json").read_text())
    assert doc["status"] == "complete" and doc["quality"]["accuracy"] > 0.5
    log = [json.loads(x) for x in (tmp_path / "out" / "cache" / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log if e["step"] == "numpy-mlp"] == [
        "computed"
    ]  # one compile, on the driver's copy
