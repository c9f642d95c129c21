"""TFLite harness overhead: edgeai's reported LiteRT latency for the int8 digits CNN against a bare `invoke` loop.

The model is built through edgeai: dataset `digits` (NHWC) + model `digits-cnn-keras` (30 epochs, seed 0) +
compiler `tflite` (mode int8, int8 inputs and outputs). It needs edgeai-tflite[compile] and edgeai-datasets.

In ONE process, several rounds interleave (in alternating order):
  (a) `edgeai_core.runner.LocalRunner` on a plan `tflite-file` -> runtime `tflite` (1 thread, XNNPACK on), once
      with resource sampling disabled and once enabled, reading the document's `latency.stats.median`;
  (b) a bare loop over the same input samples: its own `ai_edge_litert.interpreter.Interpreter` with the same
      options, inputs quantized and `set_tensor` outside the timed region, and `time.perf_counter_ns()` around each
      `interpreter.invoke()`, median.
The runner's per-sample median, as a ratio to the bare loop's, must stay <= 1.05 (median of the rounds).

Exit status: 0 target met, 1 target missed (a benchmark may fail; it is not a test), 2 an error.

    python bench/tflite_overhead.py [--rounds N] [--count N] [--warmup N] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import BenchError, have, median_fields, overhead_main, runner_against_bare

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "tflite_overhead.json"
THREADS = 1
EPOCHS = 30
COMPILER = {"mode": "int8", "inference_input_type": "int8", "inference_output_type": "int8"}


def build_through_edgeai(workdir: Path) -> tuple[Path, dict[str, Any], float]:
    """digits (NHWC) + digits-cnn-keras trained through the plugin host, compiled to full int8 TFLite."""
    from edgeai_core.components import Context
    from edgeai_core.plugins import PluginHost

    host = PluginHost()
    context = Context(workdir=workdir, seed=0)
    dataset = host.get("dataset", "digits").create({"layout": "NHWC"}, where="dataset", context=context)
    dataset.prepare()
    started = time.perf_counter()
    model = host.get("model", "digits-cnn-keras").create({"epochs": EPOCHS}, where="model", context=context)
    checkpoint = model.prepare(dataset)
    train_s = time.perf_counter() - started
    compiler = host.get("compiler", "tflite").create(COMPILER, where="compiler", context=context)
    artifact = compiler.compile(checkpoint, dataset)
    facts = {
        "keras_test_accuracy": checkpoint.metadata.get("test_accuracy"),
        "training_time_s": round(checkpoint.metadata.get("training_time_s", 0.0), 2),
        "tflite_bytes": artifact.size_bytes,
        "io": artifact.io.to_json(),
    }
    return Path(artifact.path), facts, train_s


def plan_config(model_path: Path, count: int, warmup: int, resources: bool) -> dict[str, Any]:
    return {
        "name": "tflite-overhead",
        "seed": 0,
        "dataset": {"name": "digits", "layout": "NHWC"},
        "model": {"name": "tflite-file", "path": str(model_path)},
        "runtime": {"name": "tflite", "threads": THREADS, "interpreter": "ai-edge-litert"},
        "benchmark": {"warmup": warmup, "min_count": count, "max_count": count, "min_duration_s": 0.0},
        "evaluation": {"enabled": False},
        "resources": {"enabled": resources},
    }


def bare_inputs(host: Any, workdir: Path) -> list[Any]:
    """Exactly the samples the runner cycles through: its pool of batch-1 slices of the test split (at most 256)."""
    from edgeai_core.components import Context

    data = host.get("dataset", "digits").create({"layout": "NHWC"}, context=Context(workdir=workdir, seed=0))
    data.prepare()
    split = data.split("test")
    return [split.input[i : i + 1] for i in range(min(len(split), 256))]


def bare_median(model_path: Path, inputs: list[Any], count: int, warmup: int) -> float:
    """A hand-written LiteRT loop: same options, quantized inputs set before timing, perf_counter_ns around invoke."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=THREADS)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    scale, zero = detail["quantization"]
    index = detail["index"]
    feeds = [np.clip(np.rint(x / scale) + zero, -128, 127).astype(np.int8) for x in inputs]
    clock = time.perf_counter_ns
    invoke = interpreter.invoke
    set_tensor = interpreter.set_tensor
    samples: list[int] = []
    n = len(feeds)
    for i in range(warmup + count):
        set_tensor(index, feeds[i % n])
        t0 = clock()
        invoke()
        t1 = clock()
        if i >= warmup:
            samples.append(t1 - t0)
    return float(statistics.median(samples))


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if not have("edgeai_tflite", "ai_edge_litert", "tensorflow", "edgeai_datasets"):
        raise BenchError("needs edgeai-tflite[compile] (TensorFlow, ai-edge-litert) and edgeai-datasets")
    from edgeai_core.plugins import PluginHost

    started = time.perf_counter()
    model_path, facts, train_s = build_through_edgeai(work / "build")
    build_s = time.perf_counter() - started

    host = PluginHost()
    inputs = bare_inputs(host, work)
    rows, stats = runner_against_bare(
        args,
        host,
        work,
        lambda: bare_median(model_path, inputs, args.count, args.warmup),
        lambda resources: plan_config(model_path, args.count, args.warmup, resources),
    )
    medians = {k: statistics.median(v) for k, v in rows.items()}
    import importlib.metadata

    return {
        "benchmark": "tflite_overhead",
        "model": f"digits-cnn-keras ({EPOCHS} epochs, seed 0) -> compiler tflite {COMPILER}",
        "model_facts": facts,
        "model_build_s": round(build_s, 3),
        "training_s": round(train_s, 3),
        "inputs": f"{len(inputs)} batch-1 samples of the digits test split (NHWC)",
        "settings": {"rounds": args.rounds, "count": args.count, "warmup": args.warmup, "threads": THREADS},
        **median_fields(rows),
        "ratio": round(medians["runner"] / medians["bare"], 4),
        "ratio_resources_enabled": round(medians["runner_resources"] / medians["bare"], 4),
        "last_runner_stats_ns": stats.get("runner"),
        "versions": {
            "ai-edge-litert": importlib.metadata.version("ai-edge-litert"),
            "numpy": importlib.metadata.version("numpy"),
        },
    }


def main(argv: list[str] | None = None) -> int:
    return overhead_main(
        "tflite_overhead", __doc__, measure, argv, DEFAULT_JSON, "model", "bare interpreter.invoke loop"
    )


if __name__ == "__main__":
    sys.exit(main())
