"""Latency of ONNX's ``light`` ImageNet architectures on every installed ONNX backend (ONNX Runtime, TVM, ...).

The models are the nine full-size networks of the onnx wheel's backend test data (``onnx/backend/test/data/light``:
AlexNet, DenseNet-121, Inception v1/v2, ResNet-50, ShuffleNet, SqueezeNet, VGG-19, ZFNet-512; batch 1, 3x224x224)
with ONNX's own generated input. Each backend prepares (loads or compiles) the model through its edgeai
components exactly as ``edgeai onnx-backend-tests`` does (hook ``edgeai_register_onnx_backends``, each backend in
its own worker process), then one inference is timed with ``time.perf_counter_ns`` around the backend's bound
call: ``--warmup`` untimed calls, then the median of ``--repeat`` timed ones. Every backend runs with its
defaults (ONNX Runtime: 1 intra-op thread, all graph optimizations; TVM: ``llvm`` for this CPU, untuned, opt
level 3, 1 thread).

Reported: per model and backend, the median in ms and the ratio to ONNX Runtime measured in the same run (the
baseline). There is no target ratio: this records how far each backend is from ONNX Runtime on full-size
networks; untuned TVM is expected to be far slower. Results go to ``bench/results/onnx_backends.json``.

Exit status: 0 measured (failures of a backend on a model are recorded, not fatal), 2 an error.

    python bench/onnx_backends.py [--models resnet50,squeezenet] [--backends onnxruntime,tvm]
                                  [--warmup 1] [--repeat 3] [--timeout 1800] [--json PATH]

On 2 cores the whole run takes minutes (TVM compiles each network untuned, 0.5-3 min each, and runs the big ones
in seconds per inference); ``--models resnet50`` is the quick version.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINE = "onnxruntime"
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "onnx_backends.json"
LIGHT = (
    "bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet", "squeezenet",
    "vgg19", "zfnet512",
)  # fmt: skip


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from edgeai_compat.isolation import isolated, plugin_modules
    from edgeai_compat.onnx_backends import WORKER, select_backends
    from edgeai_core.plugins import PluginHost

    host = PluginHost()
    backends = select_backends(host, _names(args.backends) if args.backends else ())
    wanted = _names(args.models) if args.models else list(LIGHT)
    unknown = [m for m in wanted if m not in LIGHT]
    if unknown:
        raise SystemExit(f"error: --models: unknown light model {unknown[0]} (known: {', '.join(LIGHT)})")
    modules = plugin_modules(host)
    results: dict[str, dict[str, Any]] = {m: {} for m in wanted}
    versions: dict[str, Any] = {}
    cases: list[dict[str, Any]] | None = None
    for backend in backends:
        setup = {
            "modules": modules,
            "backend": backend.name,
            "params": {},
            "workdir": str(work / backend.name),
        }
        with isolated(
            WORKER,
            setup,
            timeout_s=args.timeout,
            log_path=work / f"{backend.name}.log",
        ) as worker:
            if cases is None:
                listed = worker.run({"op": "cases", "kinds": ["light"]})
                if not listed.ok or listed.result is None:
                    raise SystemExit(f"error: the light models do not load: {listed.error}")
                by_model = {c["model_name"]: c for c in listed.result["cases"]}
                cases = [by_model[m] for m in wanted]
            built = worker.run({"op": "backend"})
            if not built.ok or built.result is None:
                versions[backend.name] = {"unavailable": built.error}
                print(f"{backend.name}: unavailable: {built.error}", file=sys.stderr)
                continue
            versions[backend.name] = built.result["versions"]
            for case in cases:
                print(f"{backend.name}: {case['model_name']} ...", file=sys.stderr, flush=True)
                job = {"op": "bench", "case": case, "warmup": args.warmup, "repeat": args.repeat}
                outcome = worker.run(job)
                if outcome.ok and outcome.result is not None:
                    results[case["model_name"]][backend.name] = outcome.result
                    print(
                        f"  median {outcome.result['median_ms']:.1f} ms, prepared in "
                        f"{outcome.result['prepare_s']:.1f} s",
                        file=sys.stderr,
                    )
                else:
                    results[case["model_name"]][backend.name] = {"error": outcome.error}
                    print(f"  failed: {outcome.error}", file=sys.stderr)
    for per_backend in results.values():
        base = per_backend.get(BASELINE, {}).get("median_ms")
        for entry in per_backend.values():
            if "median_ms" in entry and base:
                entry["ratio_to_onnxruntime"] = round(entry["median_ms"] / base, 3)
    return {
        "benchmark": "onnx_backends",
        "description": "median latency of one inference (batch 1) of ONNX's light ImageNet models per backend",
        "baseline": BASELINE,
        "settings": {"warmup": args.warmup, "repeat": args.repeat, "backend_params": "defaults"},
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "versions": versions,
        "results": results,
    }


def _table(document: dict[str, Any]) -> str:
    backends = sorted({b for per in document["results"].values() for b in per}, key=lambda b: b != BASELINE)
    lines = ["model".ljust(14) + "".join(f"{b + ' ms':>18}{'ratio':>8}" for b in backends)]
    for model, per in document["results"].items():
        line = model.ljust(14)
        for backend in backends:
            entry = per.get(backend, {})
            if "median_ms" in entry:
                line += f"{entry['median_ms']:>18.1f}{entry.get('ratio_to_onnxruntime', float('nan')):>8.2f}"
            else:
                line += f"{'failed':>18}{'':>8}"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="", help="comma list of light models (default: all nine)")
    parser.add_argument(
        "--backends", default="", help="comma list of ONNX backends (default: every installed)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls before timing (default 1)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed calls; the median is reported (default 3)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per model and backend")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"output (default {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.warmup < 0:
        parser.error("--repeat must be >= 1 and --warmup >= 0")
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="edgeai-bench-onnx-") as tmp:
            document = measure(args, Path(tmp))
    except SystemExit:
        raise
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    document["wall_s"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(_table(document))
    print(f"results: {args.json} ({document['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
