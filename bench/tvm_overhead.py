"""TVM benchmark: edgeai's reported latency against a bare Relax VM loop, and untuned against tuned latency.

The model is the demo's digits CNN (digits + digits-cnn, 30 epochs, through edgeai's plugin host, then
torch-to-onnx). It needs edgeai-datasets, edgeai-torch[onnx], edgeai-onnx and edgeai-tvm[tune].

1. Tuning: the tvm compiler with ``tuning_trials = --trials`` and ``target_options = {"num-cores": 1}`` into the
   database folder ``--tuning-dir`` (default build/bench/tvm-tuning, kept between runs: a second run finds every
   operator in it and tunes nothing; ``--fresh`` starts over). Trials, tasks and tuning time are recorded.
2. In ONE process, several interleaved rounds (alternating order) for the untuned and the tuned library:
   (a) ``edgeai_core.runner.LocalRunner`` on the plan ``onnx-file`` -> compiler ``tvm`` -> runtime ``tvm``
       (1 thread, resource sampling off), reading the document's ``latency.stats.median``;
   (b) a bare loop over the same input samples: the same ``model.so`` loaded with ``tvm.runtime.load_module``,
       ``vm["main"]`` of a ``tvm.runtime.vm.VirtualMachine``, inputs converted to TVM tensors before timing,
       ``time.perf_counter_ns()`` around each call, median.
   The runner's median as a ratio to the bare loop's must stay <= 1.05 (median of the rounds), for both.

Exit status: 0 target met, 1 target missed (a benchmark may fail; it is not a test), 2 an error.

    python bench/tvm_overhead.py [--rounds N] [--count N] [--warmup N] [--trials N] [--tuning-dir DIR]
                                 [--fresh] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
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
    interleaved,
    measure_in_tempdir,
    median_fields,
    non_negative_int,
    positive_int,
    run_pipeline,
    write_result,
)

TARGET_RATIO = 1.05
DEFAULT_ROUNDS = 5
DEFAULT_COUNT = 2000
DEFAULT_WARMUP = 200
DEFAULT_TRIALS = 128
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "tvm_overhead.json"
DEFAULT_TUNING_DIR = ROOT / "build" / "bench" / "tvm-tuning"
THREADS = 1
TARGET_OPTIONS = {"num-cores": THREADS}  # tune for the thread count the runtime uses


def build_model(host: Any, workdir: Path) -> tuple[Any, Any]:
    """digits + digits-cnn (30 epochs) through the plugin host, exported by torch-to-onnx."""
    return digits_cnn_onnx(host, workdir)


def compile_tvm(host: Any, onnx_artifact: Any, workdir: Path, **params: Any) -> tuple[Any, float]:
    from edgeai_core.components import Context
    from edgeai_core.progress import StreamProgress

    workdir.mkdir(parents=True, exist_ok=True)
    context = Context(workdir=workdir, seed=0, progress=StreamProgress(sys.stderr))
    compiler = host.get("compiler", "tvm").create(params, where="steps[0]", context=context)
    started = time.perf_counter()
    artifact = compiler.compile(onnx_artifact, None)
    return artifact, time.perf_counter() - started


def plan_config(model_path: Path, step: dict[str, Any], count: int, warmup: int) -> dict[str, Any]:
    return {
        "name": "tvm-overhead",
        "seed": 0,
        "dataset": {"name": "digits"},
        "model": {"name": "onnx-file", "path": str(model_path)},
        "steps": [step],
        "runtime": {"name": "tvm", "threads": THREADS},
        "benchmark": {"warmup": warmup, "min_count": count, "max_count": count, "min_duration_s": 0.0},
        "evaluation": {"enabled": False},
        "resources": {"enabled": False},
    }


def bare_median(library: Path, inputs: list[Any], count: int, warmup: int) -> float:
    """A hand-written TVM loop: the library, its VM's main, tensors made before timing, perf_counter_ns."""
    import tvm
    import tvm.runtime.vm

    os.environ["TVM_NUM_THREADS"] = str(THREADS)
    vm = tvm.runtime.vm.VirtualMachine(tvm.runtime.load_module(str(library)), tvm.cpu())
    main = vm["main"]
    tensors = [tvm.runtime.tensor(x) for x in inputs]
    clock = time.perf_counter_ns
    samples: list[int] = []
    n = len(tensors)
    for i in range(warmup + count):
        tensor = tensors[i % n]
        t0 = clock()
        main(tensor)
        t1 = clock()
        if i >= warmup:
            samples.append(t1 - t0)
    return float(statistics.median(samples))


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if not have("tvm", "onnx", "edgeai_tvm", "edgeai_onnx", "edgeai_torch", "edgeai_datasets", "xgboost"):
        raise BenchError(
            "needs edgeai-tvm[tune], edgeai-onnx, edgeai-torch[onnx] and edgeai-datasets in this environment"
        )
    import numpy as np

    from edgeai_core.plugins import PluginHost

    host = PluginHost()
    started = time.perf_counter()
    onnx_artifact, dataset = build_model(host, work / "build")
    build_s = time.perf_counter() - started
    split = dataset.split("test")
    inputs = [np.ascontiguousarray(split.input[i : i + 1]) for i in range(min(len(split), 256))]

    untuned, untuned_s = compile_tvm(host, onnx_artifact, work / "untuned")
    tuning_dir = Path(args.tuning_dir)
    if args.fresh and tuning_dir.exists():
        shutil.rmtree(tuning_dir)
    tuned, tuned_s = compile_tvm(
        host,
        onnx_artifact,
        work / "tuned",
        tuning_trials=args.trials,
        tuning_dir=str(tuning_dir),
        target_options=TARGET_OPTIONS,
    )
    tuning = tuned.metadata["tuning"]
    print(
        f"tuning: {tuning['trials_measured']} trials measured in {tuning['tuning_s']:.1f} s, "
        f"{tuning['tasks_from_database']}/{tuning['tasks']} operators from the database",
        file=sys.stderr,
    )
    # untuned and tuned outputs agree (tuning changes schedules, not results)
    probe = np.concatenate(inputs[:32])
    outputs = {}
    for name, artifact in (("untuned", untuned), ("tuned", tuned)):
        runtime = host.get("runtime", "tvm").create({"threads": THREADS})
        runtime.load(artifact)
        outputs[name] = np.concatenate([runtime.infer([x[None]])[0] for x in probe])
        runtime.close()
    max_diff = float(np.max(np.abs(outputs["untuned"] - outputs["tuned"])))

    steps = {
        "untuned": {"name": "tvm"},
        "tuned": {"name": "tvm", "tuning_dir": str(tuning_dir), "target_options": TARGET_OPTIONS},
    }
    libraries = {"untuned": untuned.path, "tuned": tuned.path}
    last_stats: dict[str, Any] = {}

    def one(r: int, which: str) -> float:
        variant, kind = which.split("_")
        if kind == "bare":
            return bare_median(libraries[variant], inputs, args.count, args.warmup)
        config = plan_config(onnx_artifact.path, steps[variant], args.count, args.warmup)
        doc = run_pipeline(host, config, work / f"run-{r}-{variant}")
        last_stats[variant] = doc["latency"]["stats"]
        loaded = next(s for s in doc["steps"] if s["kind"] == "runtime-load")
        if not loaded["artifact"]["size_bytes"]:
            raise BenchError("the runner loaded an empty library")
        return float(doc["latency"]["stats"]["median"])

    rows = interleaved(args.rounds, ["untuned_runner", "untuned_bare", "tuned_runner", "tuned_bare"], one)
    medians = {k: statistics.median(v) for k, v in rows.items()}
    import tvm

    return {
        "benchmark": "tvm_overhead",
        "model": "edgeai: dataset digits + model digits-cnn (30 epochs) + converter torch-to-onnx",
        "model_build_s": round(build_s, 3),
        "inputs": f"{len(inputs)} batch-1 samples of the digits test split",
        "settings": {
            "rounds": args.rounds,
            "count": args.count,
            "warmup": args.warmup,
            "threads": THREADS,
            "target_options_tuned": TARGET_OPTIONS,
        },
        "compile_s": {"untuned": round(untuned_s, 3), "tuned": round(tuned_s, 3)},
        "compile_stages_s": {
            name: {
                k: a.metadata[k]
                for k in ("import_s", "graph_passes_s", "build_s", "export_s")
                if k in a.metadata
            }
            for name, a in (("untuned", untuned), ("tuned", tuned))
        },
        "tuning": tuning,
        "tuned_vs_untuned_max_abs_diff": max_diff,
        **median_fields(rows),
        "ratio_untuned": round(medians["untuned_runner"] / medians["untuned_bare"], 4),
        "ratio_tuned": round(medians["tuned_runner"] / medians["tuned_bare"], 4),
        "speedup_tuned": round(medians["untuned_bare"] / medians["tuned_bare"], 3),
        "last_runner_stats_ns": last_stats,
        "library_bytes": {"untuned": untuned.size_bytes, "tuned": tuned.size_bytes},
        "target": TARGET_RATIO,
        "versions": {"tvm": tvm.__version__},
        **environment(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=positive_int, default=DEFAULT_ROUNDS, help="interleaved rounds (5)")
    parser.add_argument(
        "--count", type=positive_int, default=DEFAULT_COUNT, help="timed calls per measurement"
    )
    parser.add_argument("--warmup", type=non_negative_int, default=DEFAULT_WARMUP, help="untimed calls first")
    parser.add_argument("--trials", type=positive_int, default=DEFAULT_TRIALS, help="tuning budget (128)")
    parser.add_argument(
        "--tuning-dir", type=Path, default=DEFAULT_TUNING_DIR, help="MetaSchedule database folder, reused"
    )
    parser.add_argument("--fresh", action="store_true", help="delete the tuning database first")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON result")
    args = parser.parse_args(argv)

    result = measure_in_tempdir("tvm_overhead", measure, args, prefix="edgeai-bench-tvm-")
    if result is None:
        return 2

    worst = max(result["ratio_untuned"], result["ratio_tuned"])
    passed = worst <= TARGET_RATIO
    result["passed"] = passed
    med, tuning = result["median_ns"], result["tuning"]
    print(
        f"tvm_overhead: {args.rounds} rounds x {args.count} calls (+{args.warmup} warm-up), interleaved, 1 thread"
    )
    print(f"model: {result['model']}")
    print(
        f"tuning: {tuning['trials_measured']} trials measured (budget {tuning['trials_budget']}), "
        f"{tuning['tasks_tuned']} operators tuned, {tuning['tasks_from_database']} from the database, "
        f"{tuning['tuning_s']:.1f} s; database {tuning['database']}"
    )
    print(f"{'':<30} {'untuned us':>11} {'tuned us':>10}")
    print(f"{'bare vm[main] loop':<30} {med['untuned_bare'] / 1e3:>11.2f} {med['tuned_bare'] / 1e3:>10.2f}")
    print(f"{'edgeai runner':<30} {med['untuned_runner'] / 1e3:>11.2f} {med['tuned_runner'] / 1e3:>10.2f}")
    print(
        f"ratio: {result['ratio_untuned']:.3f} (untuned), {result['ratio_tuned']:.3f} (tuned)  "
        f"(target <= {TARGET_RATIO:.2f})  {'PASS' if passed else 'FAIL'}; "
        f"tuned is {result['speedup_tuned']:.2f}x faster"
    )
    return write_result(args.json, result, passed)


if __name__ == "__main__":
    sys.exit(main())
