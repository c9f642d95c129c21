"""`edgeai bench model.onnx --count 2000` against a bare ONNX Runtime script doing the same work.

The model is the digits CNN as a float32 ONNX file, built through edgeai (dataset digits, model digits-cnn,
converter torch-to-onnx) when edgeai-datasets and edgeai-torch are installed; otherwise (or with `--model`) a
given `.onnx` file. The input is a seeded float32 array of the model's input shape (dynamic dimensions: 1).

Each round runs, as fresh subprocesses of this interpreter's environment, in alternating order:
  (a) the installed `edgeai` console script: `edgeai bench MODEL --count N --warmup W -o DIR` (ONNX Runtime,
      1 intra-op thread, graph optimization "all": the runtime's defaults), its median read from
      DIR/results.json (`latency.stats.median`);
  (b) a bare script: imports numpy and onnxruntime, creates a session with the same options, runs W untimed
      calls, then N calls of `session.run(None, feed)` each timed with `time.perf_counter_ns()`; it prints
      the median.
Both run with byte code cached, as in an installed environment (a private PYTHONPYCACHEPREFIX, filled by a
first untimed run of each; PYTHONDONTWRITEBYTECODE is dropped for them). Measured per round: the wall time of
each whole process (interpreter start, imports, loading, the runs, writing results) and the median it reports.
Ratios are edgeai over bare, of the medians over the rounds.

Targets: median ratio <= 1.05 (edgeai times the same call), wall-time ratio <= 1.5 (what the one-shot
command costs beyond the bare script: CLI, plugin discovery, model validation, results).

Exit status: 0 targets met, 1 a target missed (a benchmark may fail; it is not a test), 2 an error.

    python bench/bench_command.py [--rounds N] [--count N] [--warmup N] [--model FILE.onnx] [--json PATH]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    BenchError,
    digits_cnn_onnx,
    environment,
    have,
    interleaved,
    measure_in_tempdir,
    non_negative_int,
    parser_for,
    positive_int,
    write_result,
)

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "bench_command.json"
MEDIAN_TARGET = 1.05
WALL_TARGET = 1.5

# The baseline: what someone measuring ONNX Runtime by hand writes. argv: model, count, warmup.
BARE = """
import statistics, sys, time
import numpy as np
import onnxruntime as ort

model, count, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
first = session.get_inputs()[0]
shape = [d if isinstance(d, int) and d > 0 else 1 for d in first.shape]
feed = {first.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
for _ in range(warmup):
    session.run(None, feed)
samples = []
for _ in range(count):
    t0 = time.perf_counter_ns()
    session.run(None, feed)
    samples.append(time.perf_counter_ns() - t0)
print(statistics.median(samples))
"""


def edgeai_script() -> Path:
    script = Path(sys.executable).parent / "edgeai"
    if not script.is_file():
        raise BenchError(f"the `edgeai` console script is not installed next to {sys.executable}")
    return script


def the_model(args: Any, work: Path) -> tuple[Path, str]:
    if args.model is not None:
        return args.model.resolve(), f"{args.model} (given)"
    if not have("edgeai_datasets", "edgeai_torch", "edgeai_onnx"):
        raise BenchError(
            "building the digits CNN needs edgeai-datasets, edgeai-torch and edgeai-onnx; or --model"
        )
    from edgeai_core.plugins import PluginHost

    artifact, _dataset = digits_cnn_onnx(PluginHost(), work / "model")
    return Path(
        artifact.path
    ), "edgeai: dataset digits + model digits-cnn (30 epochs) + converter torch-to-onnx"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise BenchError(f"`{' '.join(cmd)}` exited with {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return wall, proc.stdout


def measure(args: Any, work: Path) -> dict[str, Any]:
    if not have("onnxruntime"):
        raise BenchError("onnxruntime is not installed")
    model, built = the_model(args, work)
    edgeai = str(edgeai_script())
    walls: dict[str, list[float]] = {"edgeai": [], "bare": []}
    # Byte code cached as in any installed environment (pip compiles it at install time), in a private folder:
    # where PYTHONDONTWRITEBYTECODE is set, every start would otherwise time Python's compiler on every module.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")

    def one(r: int, which: str) -> float:
        if which == "bare":
            wall, out = timed(
                [sys.executable, "-c", BARE, str(model), str(args.count), str(args.warmup)], env
            )
            median = float(out.strip())
        else:
            folder = work / f"run-{len(list(work.glob('run-*')))}"
            cmd = [edgeai, "bench", str(model), "--count", str(args.count), "--warmup", str(args.warmup)]
            wall, _ = timed([*cmd, "-o", str(folder)], env)
            doc = json.loads((folder / "results.json").read_text(encoding="utf-8"))
            if doc["latency"]["stats"]["count"] != args.count:
                raise BenchError(
                    f"edgeai bench measured {doc['latency']['stats']['count']} runs, not {args.count}"
                )
            median = float(doc["latency"]["stats"]["median"])
        walls[which].append(wall)
        return median

    one(0, "bare")  # first runs fill the page cache and the byte-code cache for both
    one(0, "edgeai")
    walls = {"edgeai": [], "bare": []}
    medians = interleaved(args.rounds, ["edgeai", "bare"], one)
    median = {k: statistics.median(v) for k, v in medians.items()}
    wall = {k: statistics.median(v) for k, v in walls.items()}
    return {
        "benchmark": "bench_command",
        "model": built,
        "count": args.count,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "median_ns": {k: round(v, 1) for k, v in median.items()},
        "rounds_median_ns": {k: [round(x, 1) for x in v] for k, v in medians.items()},
        "wall_s": {k: round(v, 4) for k, v in wall.items()},
        "rounds_wall_s": {k: [round(x, 4) for x in v] for k, v in walls.items()},
        "median_ratio": round(median["edgeai"] / median["bare"], 4),
        "wall_ratio": round(wall["edgeai"] / wall["bare"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--count", type=positive_int, default=2000, help="timed runs per process (default 2000)"
    )
    parser.add_argument("--warmup", type=non_negative_int, default=10, help="untimed runs first (default 10)")
    parser.add_argument("--model", type=Path, default=None, help="an .onnx file (default: the digits CNN)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON result")
    args = parser.parse_args(argv)
    result = measure_in_tempdir("bench_command", measure, args, prefix="edgeai-bench-command-")
    if result is None:
        return 2
    passed = result["median_ratio"] <= MEDIAN_TARGET and result["wall_ratio"] <= WALL_TARGET
    result.update(median_target=MEDIAN_TARGET, wall_target=WALL_TARGET, passed=passed, **environment())
    print(
        f"bench_command: {args.rounds} rounds, each process {args.count} runs (+{args.warmup} warm-up), interleaved"
    )
    print(f"model: {result['model']}")
    print(f"{'':<26} {'median us':>10} {'wall s':>8}")
    for key, label in (("bare", "bare onnxruntime script"), ("edgeai", "edgeai bench")):
        print(f"{label:<26} {result['median_ns'][key] / 1e3:>10.2f} {result['wall_s'][key]:>8.3f}")
    print(
        f"median ratio {result['median_ratio']:.3f} (target <= {MEDIAN_TARGET:.2f}), wall ratio "
        f"{result['wall_ratio']:.3f} (target <= {WALL_TARGET:.2f})  {'PASS' if passed else 'FAIL'}"
    )
    return write_result(args.json, result, passed)


if __name__ == "__main__":
    sys.exit(main())
