"""edgeai sweep: expansion and stable ids, the content-addressed step cache, device exclusivity under the local
executor (two real `edgeai serve` targets), resume after the sweep process is killed."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.runner import Runner
from edgeai_core.stepcache import StepCache
from edgeai_core.sweep import SweepError, expand, load_sweep, pareto

BASE = {
    "seed": 0,
    "dataset": {"name": "gaussian-blobs", "samples": 300},
    "model": {"name": "numpy-mlp", "epochs": 2, "hidden": [8]},
    "runtime": {"name": "numpy"},
    "benchmark": {"min_count": 20, "min_duration_s": 0, "warmup": 2},
    "fidelity": {"enabled": False},
}


def sweep(**parts: Any) -> dict[str, Any]:
    return {"base": BASE, **parts}


def test_product_exclude_include_and_stable_ids(tmp_path: Path) -> None:
    data = sweep(
        axes={
            "model.epochs": [1, 2],
            "benchmark.batch_size": [1, 4],
            "steps": [[], [{"name": "weight-int8"}]],
        },
        exclude=[{"model.epochs": 2, "benchmark.batch_size": 4}],
        include=[{"model.epochs": 3}],
    )
    plan = expand(data, tmp_path / "s.toml")
    points = [dict(r.point) for r in plan.runs]
    assert len(points) == 8 - 2 + 1
    assert {"model.epochs": 2, "benchmark.batch_size": 4, "steps": []} not in points
    assert points[-1] == {
        "model.epochs": 3,
        "benchmark.batch_size": 1,
        "steps": [],
    }  # first value of the rest
    first = plan.runs[0]
    assert first.config["model"] == {"name": "numpy-mlp", "epochs": 1, "hidden": [8]}
    # ids come from the resolved config: the same in another sweep that reaches it with other axes
    other = expand(
        sweep(axes={"benchmark.batch_size": [1], "model.epochs": [1], "steps": [[]]}), tmp_path / "o"
    )
    assert other.runs[0].id == first.id and first.id.startswith("r-") and len(first.id) == 12
    assert len({r.id for r in plan.runs}) == len(plan.runs)
    # runs that differ only in benchmark settings share their chain (one compile)
    chains = plan.chains
    assert len(chains) == 5  # (epochs 1, 2) x (steps none, int8) + epochs 3
    by_point = {json.dumps(r.point, sort_keys=True): r.chain for r in plan.runs}
    assert (
        by_point[json.dumps({"benchmark.batch_size": 1, "model.epochs": 1, "steps": []}, sort_keys=True)]
        == (by_point[json.dumps({"benchmark.batch_size": 4, "model.epochs": 1, "steps": []}, sort_keys=True)])
    )


def test_target_axis_and_devices(tmp_path: Path) -> None:
    data = sweep(
        axes={"target": ["host", "board-a"], "runtime.threads": [1, 2]},
        targets={"board-a": {"host": "127.0.0.1", "port": 7001}},
    )
    plan = expand(data, tmp_path / "s.toml")
    assert set(plan.devices) == {"host", "board-a"}
    on_board = [r for r in plan.runs if r.device == "board-a"]
    assert all(r.config["target"] == {"protocol": "tcp", "host": "127.0.0.1", "port": 7001} for r in on_board)
    assert all("target" not in r.config for r in plan.runs if r.device == "host")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (sweep(axes={"a.b": []}), r"axes\.a\.b must be a non-empty list"),
        (
            sweep(axes={"target": ["nowhere"]}),
            r"axes\.target names nowhere, not in \[targets\] \(known: host\)",
        ),
        (
            sweep(axes={"model.epochs": [1]}, exclude=[{"model.hidden": [8]}]),
            r"exclude\[0\] uses model\.hidden",
        ),
        (sweep(axes={"model.epochs": [1]}, exclude=[{"model.epochs": 1}]), "leave no run"),
        (sweep(axes={"model.epochs": [1, 1]}), "lists a value twice"),
        ({"axes": {}}, "no base"),
        (sweep(axes={}, extra=1), "unknown entry extra"),
        (
            sweep(axes={"runtime.threads": [1]}, targets={"b": {"host": "127.0.0.1"}}),
            r"targets\.b needs host and port",
        ),
        (sweep(axes={"model.epochs": [2]}, include=[{"model.epochs": 2}]), "resolve to the same config"),
    ],
)
def test_bad_sweep_files_name_the_entry(tmp_path: Path, data: dict[str, Any], message: str) -> None:
    with pytest.raises(SweepError, match=rf"^{tmp_path / 's.toml'}: .*{message}"):
        expand(data, tmp_path / "s.toml")


def test_pareto_front() -> None:
    rows = [
        {"id": "a", "status": "complete", "accuracy": 0.9, "p50_ns": 10, "size_bytes": 100},
        {"id": "b", "status": "complete", "accuracy": 0.9, "p50_ns": 20, "size_bytes": 100},  # beaten by a
        {"id": "c", "status": "complete", "accuracy": 0.95, "p50_ns": 30, "size_bytes": 100},
        {"id": "d", "status": "complete", "accuracy": 0.8, "p50_ns": 5, "size_bytes": 400},
        {"id": "e", "status": "failed", "accuracy": None, "p50_ns": None, "size_bytes": None},
    ]
    assert pareto(rows) == ["a", "c", "d"]


def run_cached(config: dict[str, Any], folder: Path, cache: StepCache) -> dict[str, Any]:
    host = PluginHost()
    plan = plan_pipeline(parse_config(config), host)
    return Runner(plan, folder, host=host, step_cache=cache).run()


def test_step_cache_computes_once_and_recomputes_on_a_changed_parameter(tmp_path: Path) -> None:
    cache = StepCache(tmp_path / "cache")
    config = {**BASE, "steps": [{"name": "weight-int8"}]}
    first = run_cached(config, tmp_path / "one", cache)
    second = run_cached(
        {**config, "benchmark": {**BASE["benchmark"], "batch_size": 2}}, tmp_path / "two", cache
    )
    steps = {doc_name: [(s["name"], s.get("cache", {}).get("hit")) for s in doc["steps"] if "cache" in s]
             for doc_name, doc in (("one", first), ("two", second))}  # fmt: skip
    assert steps == {"one": [("numpy-mlp", False), ("weight-int8", False)],
                     "two": [("numpy-mlp", True), ("weight-int8", True)]}  # fmt: skip
    assert first["quality"]["accuracy"] == second["quality"]["accuracy"]
    # the reused artifact is a copy in the run's own folder, byte for byte the computed one
    a, b = (
        tmp_path / name / d["steps"][-2]["artifact"]["path"] for name, d in (("one", first), ("two", second))
    )
    assert d_name(a) == d_name(b) == "model-int8.npz" and a != b and a.read_bytes() == b.read_bytes()
    # a changed model parameter makes a new model and a new int8 step (its input digest changed)
    run_cached({**config, "model": {**BASE["model"], "epochs": 3}}, tmp_path / "three", cache)
    log = [(e["step"], e["event"]) for e in cache.read_log()]
    assert log == [
        ("numpy-mlp", "computed"), ("weight-int8", "computed"),
        ("numpy-mlp", "reused"), ("weight-int8", "reused"),
        ("numpy-mlp", "computed"), ("weight-int8", "computed"),
    ]  # fmt: skip


def d_name(path: Path) -> str:
    assert path.is_file(), path
    return path.name


def edgeai(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeai_core", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def write_sweep(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.slow
def test_two_devices_eight_runs_never_overlap_on_a_device(tmp_path: Path) -> None:
    from edgeai_core.target_server import start_local_server

    servers = [start_local_server("numpy", tmp_path / f"srv{i}", once=False) for i in range(2)]
    try:
        targets = {f"board-{i}": s.target_table() for i, s in enumerate(servers)}
        spec = write_sweep(
            tmp_path / "sweep.json",
            sweep(axes={"target": list(targets), "benchmark.batch_size": [1, 2, 3, 4]}, targets=targets),
        )
        run = edgeai("sweep", str(spec), "-o", str(tmp_path / "out"), cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
    finally:
        for server in servers:
            server.stop(grace_s=0)
    book = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert book["counts"]["complete"] == 8
    for device in targets:
        spans = sorted((r["started_at"], r["finished_at"]) for r in book["runs"] if r["device"] == device)
        assert len(spans) == 4
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), spans
    # one compile for the one chain, reused by all eight runs
    log = [json.loads(line) for line in (tmp_path / "out" / "cache" / "log.jsonl").read_text().splitlines()]
    assert [e["event"] for e in log if e["step"] == "numpy-mlp"].count("computed") == 1
    assert [e["event"] for e in log if e["step"] == "numpy-mlp"].count("reused") == 8
    for r in book["runs"]:
        doc = json.loads((Path(r["folder"]) / "results.json").read_text())
        assert doc["status"] == "complete" and doc["provenance"]["target"] is not None
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {r["device"] for r in summary["runs"]} == set(targets)
    assert (
        (tmp_path / "out" / "summary.csv")
        .read_text()
        .splitlines()[0]
        .startswith("id,target,benchmark.batch_size,")
    )


@pytest.mark.slow
def test_resume_after_the_sweep_process_is_killed(tmp_path: Path) -> None:
    spec = write_sweep(
        tmp_path / "sweep.json",
        sweep(
            axes={"benchmark.batch_size": [1, 2, 3, 4, 5, 6]},
            base={**BASE, "benchmark": {**BASE["benchmark"], "min_count": 400}},
        ),
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeai_core", "sweep", str(spec), "-o", str(out)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    book: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if (out / "sweep.json").is_file():
            book = json.loads((out / "sweep.json").read_text())
            if book["counts"]["complete"] >= 2:
                break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {r["id"]: r["folder"] for r in book["runs"] if r["status"] == "complete"}
    assert 2 <= len(done_before) < 6
    stamps = {rid: (Path(folder) / "results.json").stat().st_mtime_ns for rid, folder in done_before.items()}
    time.sleep(2)  # an orphaned worker of the killed sweep finishes its run meanwhile
    again = edgeai("sweep", str(spec), "-o", str(out), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    book = json.loads((out / "sweep.json").read_text())
    assert book["counts"]["complete"] == 6
    for r in book["runs"]:
        if r["id"] in done_before:  # skipped: same folder, results untouched
            assert r["folder"] == done_before[r["id"]] and r["attempts"] == 1
            assert (Path(r["folder"]) / "results.json").stat().st_mtime_ns == stamps[r["id"]]
        elif r["attempts"] == 2:  # it was running when the sweep died: a fresh folder
            assert r["folder"].endswith(f"{r['id']}.2")


def test_dry_run_lists_runs_and_shared_compiles(tmp_path: Path) -> None:
    spec = write_sweep(
        tmp_path / "s.json", sweep(axes={"benchmark.batch_size": [1, 2], "model.epochs": [1, 2]})
    )
    run = edgeai("sweep", str(spec), "-o", str(tmp_path / "out"), "--dry-run", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert len(plan["runs"]) == 4 and len(plan["chains"]) == 2 and list(plan["devices"]) == ["host"]
    assert not (tmp_path / "out").exists()
    bad = write_sweep(tmp_path / "b.json", sweep(axes={"benchmark.batch_size": [1, "many"]}))
    run = edgeai("sweep", str(bad), "-o", str(tmp_path / "out"), "--dry-run", cwd=tmp_path)
    assert run.returncode == 2 and "benchmark.batch_size" in run.stderr and run.stderr.count("\n") == 1


def test_load_sweep_reads_a_base_file(tmp_path: Path) -> None:
    (tmp_path / "pipeline.json").write_text(json.dumps(BASE))
    (tmp_path / "s.toml").write_text('base = "pipeline.json"\n[axes]\n"model.epochs" = [1, 2]\n')
    plan = load_sweep(tmp_path / "s.toml")
    assert [r.config["model"]["epochs"] for r in plan.runs] == [1, 2] and plan.name == "s"
