"""Harness overhead benchmark: edgeai's reported ONNX Runtime latency against a bare `session.run` loop.

The model is the digits CNN (1x8x8 inputs, 10 classes) as a float32 ONNX file. With edgeai-datasets and
edgeai-torch installed it is built through edgeai itself (digits + digits-cnn trained via the plugin host,
then torch-to-onnx); otherwise a CNN of the same shape is exported from torch directly. The JSON says which.

In ONE process, several rounds interleave (in alternating order):
  (a) `edgeai_core.runner.LocalRunner` on a plan `onnx-file` -> runtime `onnxruntime` (1 thread, graph
      optimization "all"), once with resource sampling disabled and once enabled, reading the document's
      `latency.stats.median`;
  (b) a bare loop over the same input samples: its own session with the same options, and
      `time.perf_counter_ns()` around each `session.run(None, feed)` (feeds built before timing), median.
The runner's per-sample median, as a ratio to the bare loop's, must stay <= 1.05 (median of the rounds).

Exit status: 0 target met, 1 target missed (a benchmark may fail; it is not a test), 2 an error.

    python bench/harness_overhead.py [--rounds N] [--count N] [--warmup N] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import BenchError, digits_cnn_onnx, have, median_fields, overhead_main, runner_against_bare

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "harness_overhead.json"
THREADS = 1
OPTIMIZATION = "all"


# -- the model ------------------------------------------------------------------------------------------


def build_through_edgeai(workdir: Path) -> tuple[Path, str]:
    """digits + digits-cnn trained through the plugin host, converted with torch-to-onnx."""
    from edgeai_core.plugins import PluginHost

    artifact, _dataset = digits_cnn_onnx(PluginHost(), workdir)
    return Path(
        artifact.path
    ), "edgeai: dataset digits + model digits-cnn (30 epochs) + converter torch-to-onnx"


def build_with_torch(workdir: Path) -> tuple[Path, str]:
    """Fallback: a CNN of the digits-cnn shape exported by torch.onnx.export (weights untrained: latency only)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    ).eval()
    path = workdir / "digits-cnn.onnx"
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, 8, 8),),
        str(path),
        dynamo=True,
        external_data=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch")},),
    )
    return path, "torch: a CNN of the digits-cnn shape exported with torch.onnx.export (dynamo, one file)"


# -- the two measurements -------------------------------------------------------------------------------


def plan_config(model_path: Path, dataset: bool, count: int, warmup: int, resources: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "harness-overhead",
        "seed": 0,
        "model": {"name": "onnx-file", "path": str(model_path)},
        "runtime": {"name": "onnxruntime", "threads": THREADS, "graph_optimization": OPTIMIZATION},
        "benchmark": {"warmup": warmup, "min_count": count, "max_count": count, "min_duration_s": 0.0},
        "evaluation": {"enabled": False},
        "resources": {"enabled": resources},
    }
    if dataset:
        config["dataset"] = {"name": "digits"}
    return config


def bare_inputs(host: Any, io: Any, dataset: bool, workdir: Path) -> list[Any]:
    """Exactly the samples the runner cycles through: its pool of batch-1 slices of the test split (at most
    256), or the seeded synthetic inputs it uses without a dataset."""
    from edgeai_core.components import Context
    from edgeai_core.runner import synthetic_inputs

    if not dataset:
        return [synthetic_inputs(io, 1, 0 + i)[0] for i in range(16)]
    data = host.get("dataset", "digits").create({}, context=Context(workdir=workdir, seed=0))
    data.prepare()
    split = data.split("test")
    return [split.input[i : i + 1] for i in range(min(len(split), 256))]


def bare_median(model_path: Path, inputs: list[Any], count: int, warmup: int) -> float:
    """A hand-written ONNX Runtime loop: same session options, same inputs, perf_counter_ns around run()."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    feeds = [{name: np.ascontiguousarray(x, dtype=np.float32)} for x in inputs]
    clock = time.perf_counter_ns
    run = session.run
    samples: list[int] = []
    n = len(feeds)
    for i in range(warmup + count):
        feed = feeds[i % n]
        t0 = clock()
        run(None, feed)
        t1 = clock()
        if i >= warmup:
            samples.append(t1 - t0)
    return float(statistics.median(samples))


# -- main -----------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if not have("onnxruntime", "onnx", "edgeai_onnx"):
        raise BenchError("needs edgeai-onnx[compile] (onnxruntime and onnx) in this environment")
    from edgeai_core.plugins import PluginHost

    edgeai_path = have("edgeai_datasets", "edgeai_torch", "torch")
    fallback_reason = None if edgeai_path else "edgeai-datasets or edgeai-torch is not installed"
    started = time.perf_counter()
    model_path: Path | None = None
    source = ""
    if edgeai_path:
        try:
            model_path, source = build_through_edgeai(work / "build")
        except Exception as exc:  # measure anyway, and say why the model did not come from edgeai
            edgeai_path = False
            fallback_reason = f"building through edgeai failed: {type(exc).__name__}: {exc}"
            print(f"harness_overhead: {fallback_reason}; exporting from torch directly", file=sys.stderr)
    if model_path is None:
        if not have("torch"):
            raise BenchError(
                "needs torch (edgeai-torch, or torch==2.13.0 for the direct export) to build the CNN"
            )
        model_path, source = build_with_torch(work)
    build_s = time.perf_counter() - started

    host = PluginHost()
    dataset = "digits" in host.names()["dataset"]
    # the IO spec, for synthetic inputs when there is no digits dataset (read the way onnx-file reads it)
    from edgeai_onnx.checks import io_spec_from_model, validate_onnx

    io = io_spec_from_model(validate_onnx(model_path))
    inputs = bare_inputs(host, io, dataset, work)

    rows, stats = runner_against_bare(
        args,
        host,
        work,
        lambda: bare_median(model_path, inputs, args.count, args.warmup),
        lambda resources: plan_config(model_path, dataset, args.count, args.warmup, resources),
    )
    medians = {k: statistics.median(v) for k, v in rows.items()}
    import onnxruntime

    return {
        "benchmark": "harness_overhead",
        "model_source": "edgeai" if edgeai_path else "torch-direct",
        "model_source_detail": source,
        "fallback_reason": fallback_reason,
        "model_build_s": round(build_s, 3),
        "inputs": f"{len(inputs)} batch-1 samples of the digits test split"
        if dataset
        else f"{len(inputs)} seeded synthetic batch-1 inputs (no digits dataset installed)",
        "settings": {
            "rounds": args.rounds,
            "count": args.count,
            "warmup": args.warmup,
            "threads": THREADS,
            "graph_optimization": OPTIMIZATION,
        },
        **median_fields(rows),
        "ratio": round(medians["runner"] / medians["bare"], 4),
        "ratio_resources_enabled": round(medians["runner_resources"] / medians["bare"], 4),
        "last_runner_stats_ns": stats.get("runner"),
        "versions": {"onnxruntime": onnxruntime.__version__},
    }


def main(argv: list[str] | None = None) -> int:
    return overhead_main(
        "harness_overhead",
        __doc__,
        measure,
        argv,
        DEFAULT_JSON,
        "model_source_detail",
        "bare session.run loop",
    )


if __name__ == "__main__":
    sys.exit(main())
