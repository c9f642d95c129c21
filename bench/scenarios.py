"""Offline throughput and quality evaluation through a local `edgeai serve`, as ratios to the same work locally.

The model is the digits CNN as a float32 ONNX file, built through edgeai (dataset digits, model digits-cnn,
converter torch-to-onnx) when edgeai-datasets and edgeai-torch are installed; otherwise (or with `--model`) a
given `.onnx` file with the digits test split as inputs. The target is a real `edgeai serve --runtime
onnxruntime` subprocess on the loopback interface (token authentication, as `edgeai bench --target` uses).

  (a) offline throughput, batch 1, concurrency 8 (edgeai_core.scenarios.measure with --count requests): locally
      eight worker threads share one ONNX Runtime session (InferenceSession.run is thread-safe); remotely the
      requests are pipelined over the wire protocol with a window of 8 (edgeai_core.remote.PipelineIssuer).
      Ratio: remote inferences/s over local inferences/s. Target >= 0.6.
  (b) quality evaluation of the digits test split as the runner does it (batches of 32, the evaluation's
      default): locally `OnnxRuntime.infer` per batch; remotely `Target.infer_many` with the runner's window
      (edgeai_core.runner.EVALUATION_WINDOW). Ratio: remote wall time over local wall time. Target <= 2.0.
      Also reported, not judged: batch 1 (one request per sample) pipelined, and both batch sizes sent one
      request at a time (window 1, what evaluation through a target did before pipelining).
Each is measured --rounds times, local and remote alternating; the targets are judged on the ratios of the
medians. The ratios of the best rounds (highest throughput, shortest wall time) are reported too, with the load
average before and after: on a shared machine interference only slows a side down, and the remote side needs two
processes scheduled where the local one needs one, so a loaded machine penalizes it twice.

Exit status: 0 targets met, 1 a target missed (a benchmark may fail; it is not a test), 2 an error.

    python bench/scenarios.py [--rounds N] [--count N] [--model FILE.onnx] [--json PATH]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    BenchError,
    digits_cnn_onnx,
    environment,
    have,
    measure_in_tempdir,
    parser_for,
    positive_int,
    write_result,
)

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "scenarios.json"
OFFLINE_TARGET = 0.6
EVALUATION_TARGET = 2.0
CONCURRENCY = 8


def the_model(args: Any, work: Path, host: Any) -> tuple[Any, Any, str]:
    """The ONNX artifact, the prepared digits dataset and how the model was built."""
    from edgeai_core.artifacts import Artifact
    from edgeai_core.components import Context

    if not have("edgeai_datasets"):
        raise BenchError("the digits test split needs edgeai-datasets")
    if args.model is not None:
        dataset = host.get("dataset", "digits").create({}, where="dataset", context=Context(workdir=work))
        dataset.prepare()
        model = host.get("model", "onnx-file").create(
            {"path": str(args.model.resolve())}, where="model", context=Context(workdir=work / "model")
        )
        artifact: Artifact = model.prepare(dataset)
        return artifact, dataset, f"{args.model} (given)"
    if not have("edgeai_torch", "edgeai_onnx"):
        raise BenchError("building the digits CNN needs edgeai-torch and edgeai-onnx; or --model")
    artifact, dataset = digits_cnn_onnx(host, work / "model")
    return (
        artifact,
        dataset,
        "edgeai: dataset digits + model digits-cnn (30 epochs) + converter torch-to-onnx",
    )


def remote_runtime(host: Any, server: Any) -> Any:
    from edgeai_core.components import Context
    from edgeai_core.remote import RemoteRuntime

    record = host.get("protocol", "tcp")
    host_part, port = server.address.rsplit(":", 1)
    params = {"host": host_part, "port": int(port), "token_file": str(server.token_file)}
    protocol = record.create(params, where="target", context=Context())
    return RemoteRuntime(
        record=host.get("runtime", "onnxruntime"), params={}, protocol=protocol, requested={}
    )


def measure(args: Any, work: Path) -> dict[str, Any]:
    if not have("onnxruntime", "edgeai_onnx"):
        raise BenchError("onnxruntime and edgeai-onnx are needed")
    from edgeai_core.components import Context
    from edgeai_core.plugins import PluginHost
    from edgeai_core.remote import PipelineIssuer
    from edgeai_core.runner import EVALUATION_WINDOW
    from edgeai_core.scenarios import ThreadIssuer
    from edgeai_core.scenarios import measure as run_requests
    from edgeai_core.target_server import start_local_server

    host = PluginHost()
    load_before = os.getloadavg()
    artifact, dataset, built = the_model(args, work, host)
    io = artifact.io
    arrays = dataset.split("test").named(io).arrays(io, "digits")
    samples = [[a[i : i + 1] for a in arrays] for i in range(len(arrays[0]))]
    batches = {b: [[a[i : i + b] for a in arrays] for i in range(0, len(arrays[0]), b)] for b in (1, 32)}

    local = host.get("runtime", "onnxruntime").create(
        {}, where="runtime", context=Context(workdir=work / "rt")
    )
    local.load(artifact)
    local_issuer = ThreadIssuer(
        lambda i: local.bind(samples[i % len(samples)]), thread_safe=local.thread_safe
    )

    rows: dict[str, list[float]] = {
        "offline_local_per_s": [], "offline_remote_per_s": [],
        "eval32_local_s": [], "eval32_remote_s": [], "eval32_remote_window1_s": [],
        "eval1_local_s": [], "eval1_remote_s": [], "eval1_remote_window1_s": [],
    }  # fmt: skip

    with start_local_server("onnxruntime", work / "server", once=False) as server:
        remote = remote_runtime(host, server)
        remote.connect()
        try:
            remote.upload(artifact)
            remote_issuer = PipelineIssuer(remote, lambda i: samples[i % len(samples)])

            def evaluate_local(size: int) -> float:
                start = time.perf_counter()
                for batch in batches[size]:
                    local.infer(batch)
                return time.perf_counter() - start

            def evaluate_remote(size: int, window: int) -> float:
                start = time.perf_counter()
                remote.infer_many(batches[size], window)
                return time.perf_counter() - start

            # warm both sides (caches, the target's layout cache, thread start-up)
            run_requests(local_issuer, 500, CONCURRENCY)
            run_requests(remote_issuer, 500, CONCURRENCY)
            evaluate_local(32), evaluate_remote(32, EVALUATION_WINDOW)
            for r in range(args.rounds):
                order = ("local", "remote") if r % 2 == 0 else ("remote", "local")
                for side in order:
                    if side == "local":
                        run = run_requests(local_issuer, args.count, CONCURRENCY)
                        rows["offline_local_per_s"].append(run.inferences_per_s or 0.0)
                        rows["eval32_local_s"].append(evaluate_local(32))
                        rows["eval1_local_s"].append(evaluate_local(1))
                    else:
                        run = run_requests(remote_issuer, args.count, CONCURRENCY)
                        rows["offline_remote_per_s"].append(run.inferences_per_s or 0.0)
                        rows["eval32_remote_s"].append(evaluate_remote(32, EVALUATION_WINDOW))
                        rows["eval1_remote_s"].append(evaluate_remote(1, EVALUATION_WINDOW))
                        rows["eval32_remote_window1_s"].append(evaluate_remote(32, 1))
                        rows["eval1_remote_window1_s"].append(evaluate_remote(1, 1))
                print(
                    f"  round {r + 1}/{args.rounds}: offline {rows['offline_local_per_s'][-1]:.0f} local, "
                    f"{rows['offline_remote_per_s'][-1]:.0f} remote inferences/s; evaluation "
                    f"{rows['eval32_local_s'][-1] * 1e3:.1f} local, {rows['eval32_remote_s'][-1] * 1e3:.1f} "
                    "remote ms",
                    file=sys.stderr,
                )
        finally:
            remote.close()
            local.close()

    med = {k: statistics.median(v) for k, v in rows.items()}
    best = {k: (max(v) if k.endswith("per_s") else min(v)) for k, v in rows.items()}
    return {
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "best": {k: round(v, 6) for k, v in best.items()},
        "best_offline_ratio": round(best["offline_remote_per_s"] / best["offline_local_per_s"], 4),
        "best_evaluation_ratio": round(best["eval32_remote_s"] / best["eval32_local_s"], 4),
        "benchmark": "scenarios",
        "model": built,
        "rounds": args.rounds,
        "count": args.count,
        "concurrency": CONCURRENCY,
        "evaluation_window": EVALUATION_WINDOW,
        "test_samples": len(samples),
        "medians": {k: round(v, 6) for k, v in med.items()},
        "rounds_values": {k: [round(x, 6) for x in v] for k, v in rows.items()},
        "offline_ratio": round(med["offline_remote_per_s"] / med["offline_local_per_s"], 4),
        "evaluation_ratio": round(med["eval32_remote_s"] / med["eval32_local_s"], 4),
        "evaluation_batch1_ratio": round(med["eval1_remote_s"] / med["eval1_local_s"], 4),
        "evaluation_window1_ratio": round(med["eval32_remote_window1_s"] / med["eval32_local_s"], 4),
        "evaluation_batch1_window1_ratio": round(med["eval1_remote_window1_s"] / med["eval1_local_s"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--rounds", type=positive_int, default=5, help="alternating rounds (default 5)")
    parser.add_argument(
        "--count", type=positive_int, default=5000, help="offline requests per measurement (default 5000)"
    )
    parser.add_argument("--model", type=Path, default=None, help="an .onnx file (default: the digits CNN)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON result")
    args = parser.parse_args(argv)
    result = measure_in_tempdir("scenarios", measure, args, prefix="edgeai-bench-scenarios-")
    if result is None:
        return 2
    passed = result["offline_ratio"] >= OFFLINE_TARGET and result["evaluation_ratio"] <= EVALUATION_TARGET
    result.update(
        offline_target=OFFLINE_TARGET, evaluation_target=EVALUATION_TARGET, passed=passed, **environment()
    )
    med = result["medians"]
    print(f"scenarios: {args.rounds} rounds, local and remote alternating; target `edgeai serve` on loopback")
    print(f"model: {result['model']}, digits test split ({result['test_samples']} samples)")
    print(f"{'':<44} {'local':>10} {'remote':>10} {'ratio':>7}")
    print(
        f"{'(a) offline inferences/s, concurrency 8':<44} {med['offline_local_per_s']:>10.0f} "
        f"{med['offline_remote_per_s']:>10.0f} {result['offline_ratio']:>7.3f}"
    )
    for label, key, remote, ratio in (
        ("(b) evaluation ms, batch 32, window 8", "eval32_local_s", "eval32_remote_s", "evaluation_ratio"),
        ("    batch 1, window 8", "eval1_local_s", "eval1_remote_s", "evaluation_batch1_ratio"),
        ("    batch 32, window 1 (before)", "eval32_local_s", "eval32_remote_window1_s", "evaluation_window1_ratio"),
        ("    batch 1, window 1 (before)", "eval1_local_s", "eval1_remote_window1_s",
         "evaluation_batch1_window1_ratio"),
    ):  # fmt: skip
        print(f"{label:<44} {med[key] * 1e3:>10.2f} {med[remote] * 1e3:>10.2f} {result[ratio]:>7.3f}")
    print(
        f"best rounds: offline ratio {result['best_offline_ratio']:.3f}, evaluation ratio "
        f"{result['best_evaluation_ratio']:.3f}; load average {result['load_average_before'][0]:.1f} before, "
        f"{result['load_average_after'][0]:.1f} after, {result['cpu_count']} CPUs"
    )
    print(
        f"offline ratio {result['offline_ratio']:.3f} (target >= {OFFLINE_TARGET:.1f}), evaluation ratio "
        f"{result['evaluation_ratio']:.3f} (target <= {EVALUATION_TARGET:.1f})  {'PASS' if passed else 'FAIL'}"
    )
    return write_result(args.json, result, passed)


if __name__ == "__main__":
    sys.exit(main())
