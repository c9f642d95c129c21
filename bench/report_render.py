"""Report rendering benchmark: `edgeai report` on a comparison of 8 runs with 10,000 latency samples each.

Inputs: the real results files in tests/report/fixtures (the demo's torch eager/traced and ONNX Runtime
float/int8 variants on digits, the numpy MLP on 4- and 37-class blobs, a remote TCP run and a killed run).
Each run's measured latencies are resampled (seeded, with replacement) to exactly 10,000 samples, which
keeps its real distribution, and its statistics are recomputed with edgeai_core.stats, so every document
is as `edgeai run` would have written it with 10,000 calls.

Candidate: the installed `edgeai report F1 ... F8 --output DIR` (all formats: HTML, Markdown, RST; every
plot as PNG and SVG), timed as a subprocess, so CLI start-up, imports, validation, plots and writing all
count. The issue's target is absolute: under 10 s. The reported ratio is therefore
median(candidate) / 10 s (target <= 1.0). For scale, the baseline measured in the same run is reading and
parsing the same 8 files with json.load; it is printed and stored, not used for the verdict. The CPU time of
the command (user + system, its drawing workers included) is recorded too: on a shared machine it shows the
work done independently of what else is running.

Exit status: 0 target met, 1 target missed (a benchmark may fail; it is not a test), 2 an error.

    python bench/report_render.py [--rounds N] [--warmup N] [--jobs N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BenchError, add_rounds_arguments, environment, parser_for, write_result

TARGET_S = 10.0
RUNS = 8
SAMPLES = 10_000
DEFAULT_ROUNDS = 3
DEFAULT_WARMUP = 1
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "report" / "fixtures"
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "report_render.json"
SOURCES = (
    "torch-eager",
    "torch-traced",
    "onnxruntime-float",
    "onnxruntime-int8",
    "blobs-mlp-int8",
    "blobs37-mlp-int8",
    "blobs-mlp-int8-tcp",
    "blobs-mlp-int8-killed",
)


def find_edgeai() -> str:
    for name in ("edgeai", "edgeai.exe"):
        candidate = Path(sys.executable).parent / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("edgeai")
    if found is None:
        raise BenchError(f"the `edgeai` console script is neither next to {sys.executable} nor on PATH")
    return found


def resample(section: dict, rng: random.Random) -> None:
    """Give a latency section exactly SAMPLES samples drawn from its own, with fresh statistics."""
    from edgeai_core.stats import latency_stats

    real = section.get("samples_ns") or []
    if not real:
        raise BenchError("a fixture has no latency samples to resample")
    samples = [rng.choice(real) for _ in range(SAMPLES)]
    section["samples_ns"] = samples
    section["stats"] = latency_stats(samples)


def build_inputs(folder: Path) -> list[Path]:
    rng = random.Random(0)
    paths = []
    for name in SOURCES[:RUNS]:
        source = FIXTURES / f"{name}.json"
        if not source.is_file():
            raise BenchError(
                f"{source}: fixture missing (tests/report/fixtures/README.md says how to make it)"
            )
        doc = json.loads(source.read_text(encoding="utf-8"))
        resample(doc["latency"], rng)
        if isinstance(doc["latency"].get("target"), dict) and doc["latency"]["target"].get("samples_ns"):
            resample(doc["latency"]["target"], rng)
        path = folder / name / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc), encoding="utf-8")
        paths.append(path)
    return paths


def time_load(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        json.loads(path.read_text(encoding="utf-8"))
    return time.perf_counter() - started


def time_render(command: list[str]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds (user + system) of the command and the workers it started."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise BenchError(
            f"`{' '.join(command)}` exited with {proc.returncode}: {proc.stderr.decode()[-800:]}"
        )
    return elapsed, cpu


def check_output(out: Path) -> int:
    """The report must really be there: 8 runs named in the HTML, every PNG written. Returns the PNG count."""
    html = (out / "report.html").read_text(encoding="utf-8")
    missing = [name for name in SOURCES[:RUNS] if name not in html]
    if missing:
        raise BenchError(f"report.html does not name runs {missing}")
    pngs = list((out / "img").glob("*.png"))
    if len(pngs) < RUNS:
        raise BenchError(f"only {len(pngs)} PNG plots were written")
    return len(pngs)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    add_rounds_arguments(
        parser, rounds=DEFAULT_ROUNDS, warmup=DEFAULT_WARMUP, json_path=DEFAULT_JSON, what="renders"
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="pass --jobs N to edgeai report (default: its own)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="edgeai-bench-report-") as scratch:
        folder = Path(scratch)
        try:
            paths = build_inputs(folder / "runs")
            edgeai = find_edgeai()
            out = folder / "report"
            command = [edgeai, "report", *map(str, paths), "--output", str(out), "--format", "html,md,rst"]
            if args.jobs:
                command += ["--jobs", str(args.jobs)]
            for _ in range(args.warmup):
                time_render(command)
            loads, renders, cpus = [], [], []
            for _ in range(args.rounds):
                loads.append(time_load(paths))
                shutil.rmtree(out, ignore_errors=True)
                wall, cpu = time_render(command)
                renders.append(wall)
                cpus.append(cpu)
            pngs = check_output(out)
            html_bytes = (out / "report.html").stat().st_size
        except BenchError as exc:
            print(f"report_render: error: {exc}", file=sys.stderr)
            return 2

    median = statistics.median(renders)
    ratio = median / TARGET_S
    passed = ratio <= 1.0
    result = {
        "benchmark": "report_render",
        "runs": RUNS,
        "samples_per_run": SAMPLES,
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
        "candidate": {
            "cmd": "edgeai report <8 results.json> --output DIR --format html,md,rst"
            + (f" --jobs {args.jobs}" if args.jobs else ""),
            "samples_s": [round(s, 4) for s in renders],
            "median_s": round(median, 4),
            "cpu_samples_s": [round(s, 4) for s in cpus],
            "median_cpu_s": round(statistics.median(cpus), 4),
        },
        "baseline": {
            "what": "json.load of the same 8 files (for scale; the verdict uses the 10 s target)",
            "samples_s": [round(s, 5) for s in loads],
            "median_s": round(statistics.median(loads), 5),
        },
        "target_s": TARGET_S,
        "ratio": round(ratio, 4),
        "target": 1.0,
        "passed": passed,
        "png_plots": pngs,
        "html_bytes": html_bytes,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        **environment(),
    }
    print(f"report_render: {RUNS} runs x {SAMPLES} samples, {args.rounds} rounds (+{args.warmup} warm-up)")
    print(f"{'':<10} {'what':<52} {'median s':>9} {'min s':>8}")
    print(
        f"{'baseline':<10} {'json.load of the 8 results files':<52} {statistics.median(loads):>9.3f} {min(loads):>8.3f}"
    )
    print(
        f"{'candidate':<10} {'edgeai report (html, md, rst; PNG+SVG plots)':<52} {median:>9.3f} {min(renders):>8.3f}"
    )
    print(
        f"{'':<10} {'CPU time of that command (user + system, all processes)':<52} {statistics.median(cpus):>9.3f}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {result['cpus']} CPUs, load average {load:.2f} (other work slows the wall time)")
    print(f"render / 10 s target: {ratio:.2f}  (target <= 1.0)  {'PASS' if passed else 'FAIL'}")
    return write_result(args.json, result, passed)


if __name__ == "__main__":
    sys.exit(main())
