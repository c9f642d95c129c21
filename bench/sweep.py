"""`edgeai sweep`: 12 runs sharing 2 compile chains over 2 devices (local `edgeai serve` targets), against the same
12 runs as separate `edgeai run` commands, and the ray executor's scheduling overhead.

The sweep: dataset digits, model digits-cnn (EPOCHS epochs), converter torch-to-onnx, then either nothing or
onnx-quantize (static int8): 2 chains; runtime onnxruntime with 1, 2 or 3 threads; target board-a or board-b,
two `edgeai serve --runtime onnxruntime` processes on 127.0.0.1: 2 x 3 x 2 = 12 runs.

Measured, in the same run:
  (a) the step cache's log: every (step, key) computed exactly once, 2 chains; asserted.
  (b) wall time of `edgeai sweep` (local executor) against the 12 runs as 12 `edgeai run -o` commands one after
      the other, each training and converting its own model. Target <= 0.7x.
  (c) with Ray installed (edgeai-ray): a local cluster on 127.0.0.2 holding device:board-a and device:board-b
      runs the same sweep with `--executor ray`; the scheduling overhead per run is the gap between a run's
      start and the end of the previous run on the same device (the device is the only thing a run waits for),
      reported beside the local executor's gap. Target <= 50 ms per run after start-up.

Exit status: 0 targets met, 1 a target missed, 2 an error.

    python bench/sweep.py [--epochs N] [--skip-ray] [--json PATH]
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import BenchError, environment, have, parser_for, write_result

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "sweep.json"
WALL_TARGET = 0.7
GAP_TARGET_MS = 50.0


def edgeai(*args: str, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "edgeai_core", *args], cwd=cwd, capture_output=True, text=True, check=False,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )  # fmt: skip
    if proc.returncode != 0:
        raise BenchError(f"edgeai {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return time.perf_counter() - start


def gaps_ms(book: dict[str, Any]) -> list[float]:
    """Per device, the gap between one run's end and the next run's start (ms)."""
    out = []
    for device in {r["device"] for r in book["runs"]}:
        spans = sorted((r["started_at"], r["finished_at"]) for r in book["runs"] if r["device"] == device)
        out += [(b[0] - a[1]) * 1000 for a, b in itertools.pairwise(spans)]
    return out


def measure(args: Any, work: Path) -> tuple[dict[str, Any], bool]:
    if not have("edgeai_datasets", "edgeai_torch", "edgeai_onnx", "onnxruntime", "torch"):
        raise BenchError("needs edgeai-datasets, edgeai-torch and edgeai-onnx[compile] installed")
    from edgeai_core.target_server import start_local_server

    base = {
        "seed": 0,
        "dataset": {"name": "digits"},
        "model": {"name": "digits-cnn", "epochs": args.epochs},
        "steps": [{"name": "torch-to-onnx"}],
        "runtime": {"name": "onnxruntime"},
        "benchmark": {"min_count": 300, "min_duration_s": 0, "warmup": 10},
    }
    servers = [start_local_server("onnxruntime", work / f"srv-{d}", once=False) for d in ("a", "b")]
    try:
        targets = {f"board-{d}": s.target_table() for d, s in zip("ab", servers, strict=True)}
        sweep = {
            "name": "bench",
            "base": base,
            "targets": targets,
            "axes": {
                "steps": [
                    [{"name": "torch-to-onnx"}],
                    [{"name": "torch-to-onnx"}, {"name": "onnx-quantize"}],
                ],
                "runtime.threads": [1, 2, 3],
                "target": list(targets),
            },
        }
        spec = work / "sweep.json"
        spec.write_text(json.dumps(sweep), encoding="utf-8")
        print("sweep: 12 runs, local executor ...", flush=True)
        sweep_wall = edgeai("sweep", str(spec), "-o", str(work / "sweep"), cwd=work)
        book = json.loads((work / "sweep" / "sweep.json").read_text())
        if book["counts"]["complete"] != 12:
            raise BenchError(f"the sweep completed {book['counts']['complete']} of 12 runs")
        log = [json.loads(x) for x in (work / "sweep" / "cache" / "log.jsonl").read_text().splitlines()]
        computed: dict[str, int] = {}
        for entry in log:
            if entry["event"] == "computed":
                computed[f"{entry['step']} {entry['key'][:10]}"] = (
                    computed.get(f"{entry['step']} {entry['key'][:10]}", 0) + 1
                )
        once = all(n == 1 for n in computed.values()) and len(book["chains"]) == 2
        local_gaps = gaps_ms(book)

        print("separate: the same 12 runs as `edgeai run` commands ...", flush=True)
        separate_wall = 0.0
        for run in book["runs"]:
            config = work / "separate" / f"{run['id']}.json"
            config.parent.mkdir(parents=True, exist_ok=True)
            config.write_text(json.dumps(run["config"]), encoding="utf-8")
            separate_wall += edgeai("run", str(config), "-o", str(work / "separate" / run["id"]), cwd=work)
        ratio = sweep_wall / separate_wall

        ray_result: dict[str, Any] | None = None
        if not args.skip_ray and have("ray", "edgeai_ray"):
            ray_result = ray_sweep(spec, work)
    finally:
        for server in servers:
            server.stop(grace_s=0)
    passed = once and ratio <= WALL_TARGET
    if ray_result is not None and ray_result["median_gap_ms"] is not None:
        passed = passed and ray_result["median_gap_ms"] <= GAP_TARGET_MS
    result = {
        "environment": environment(),
        "epochs": args.epochs,
        "computed": computed,
        "each_step_computed_once": once,
        "chains": len(book["chains"]),
        "sweep_wall_s": round(sweep_wall, 2),
        "separate_wall_s": round(separate_wall, 2),
        "wall_ratio": round(ratio, 3),
        "wall_target": WALL_TARGET,
        "local_gap_ms_median": round(statistics.median(local_gaps), 1) if local_gaps else None,
        "ray": ray_result,
        "gap_target_ms": GAP_TARGET_MS,
    }
    print(f"(a) computed once each: {once} ({len(computed)} step results, {len(book['chains'])} chains)")
    print(
        f"(b) sweep {sweep_wall:.1f} s vs separate {separate_wall:.1f} s: ratio {ratio:.3f} (target <= {WALL_TARGET})"
    )
    print(f"    local executor: median gap between runs on a device {result['local_gap_ms_median']} ms")
    if ray_result is not None:
        print(f"(c) ray: start-up {ray_result['startup_s']} s, sweep {ray_result['sweep_wall_s']} s, "
              f"median gap between runs on a device {ray_result['median_gap_ms']} ms "
              f"(target <= {GAP_TARGET_MS})")  # fmt: skip
    else:
        print("(c) ray: skipped (edgeai-ray not installed or --skip-ray)")
    print("PASS" if passed else "FAIL")
    return result, passed


def ray_sweep(spec: Path, work: Path) -> dict[str, Any]:
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    if ray is None:
        raise BenchError("the ray command is not installed next to this interpreter")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = time.perf_counter()
    subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.2", "--port=6398", "--num-cpus=2",
         '--resources={"device:board-a": 1, "device:board-b": 1}', "--disable-usage-stats",
         "--include-dashboard=false"], check=True, env=env, capture_output=True,
    )  # fmt: skip
    startup = time.perf_counter() - start
    try:
        print("sweep: 12 runs, ray executor ...", flush=True)
        wall = edgeai("sweep", str(spec), "-o", str(work / "ray"), "--executor", "ray",
                      "--set-executor", "address=127.0.0.2:6398", "--set-executor", "node_ip=127.0.0.2",
                      cwd=work)  # fmt: skip
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, check=False)
    book = json.loads((work / "ray" / "sweep.json").read_text())
    gaps = gaps_ms(book)
    return {
        "startup_s": round(startup, 1),
        "sweep_wall_s": round(wall, 1),
        "complete": book["counts"]["complete"],
        "median_gap_ms": round(statistics.median(gaps), 1) if gaps else None,
    }


def main() -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--epochs", type=int, default=5, help="digits-cnn training epochs (default 5)")
    parser.add_argument("--skip-ray", action="store_true", help="leave out (c)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory(prefix="edgeai-bench-sweep-") as tmp:
            result, passed = measure(args, Path(tmp))
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return write_result(args.json, result, passed)


if __name__ == "__main__":
    sys.exit(main())
