"""Run validity against a machine made busy on purpose: loaded runs must come out `noisy`, idle ones `clean`.

Each repetition runs the same short pipeline through edgeai's local runner (gaussian-blobs, numpy-mlp, the
numpy runtime; warm-up 10, at least 300 calls and 1.5 s, resources sampled every 50 ms). A *loaded*
repetition first starts one CPU-burning process per core (a busy loop, `os.cpu_count()` of them) and stops
them when the run ends; an *unloaded* one runs with nothing started beside it. Loaded and unloaded
repetitions alternate. Each run's `validity.verdict` and reasons come from its results.json.

Targets: loaded runs noisy in 10 of 10 (the checks must see a busy machine), unloaded runs clean in at least
8 of 10 (on an idle machine; a machine shared with other work is not idle, and the reasons say so).

Exit status: 0 targets met, 1 a target missed (a benchmark may fail; it is not a test), 2 an error.

    python bench/validity.py [--repetitions N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from _common import environment, parser_for, positive_int, run_pipeline

BURNER = "while True:\n    pass\n"
LOADED_NOISY_TARGET = 1.0  # share of loaded runs that must be noisy
UNLOADED_CLEAN_TARGET = 0.8  # share of unloaded runs that must be clean


def config(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "seed": 0,
        "dataset": {"name": "gaussian-blobs", "classes": 4, "features": 8, "samples": 600, "separation": 2.5},
        "model": {"name": "numpy-mlp", "epochs": 5, "hidden": [16]},
        "runtime": {"name": "numpy"},
        "benchmark": {"warmup": 10, "min_count": 300, "min_duration_s": 1.5},
        "resources": {"interval_s": 0.05},
        "evaluation": {"enabled": False},
    }


def one_run(host: Any, workdir: Path, name: str, loaded: bool) -> dict[str, Any]:
    burners = []
    if loaded:
        burners = [subprocess.Popen([sys.executable, "-c", BURNER]) for _ in range(os.cpu_count() or 1)]
    try:
        doc = run_pipeline(host, config(name), workdir / name)
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    section = doc.get("validity") or {}
    warned = [f"{c['side']}.{c['name']}" for c in section.get("checks") or [] if c.get("status") == "warn"]
    return {
        "name": name,
        "loaded": loaded,
        "verdict": section.get("verdict"),
        "reasons": section.get("reasons"),
        "warned": warned,
    }


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--repetitions", type=positive_int, default=10, help="runs of each kind (default 10)")
    parser.add_argument("--json", type=Path, default=None, help="write the runs and counts as JSON here")
    args = parser.parse_args(argv)
    from edgeai_core.plugins import PluginHost

    host = PluginHost()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgeai-bench-validity-") as tmp:
        for i in range(args.repetitions):
            for loaded in (True, False):
                run = one_run(host, Path(tmp), f"{'loaded' if loaded else 'idle'}-{i}", loaded)
                runs.append(run)
                print(f"{run['name']:<10} {run['verdict']:<6} {'; '.join(run['reasons'] or [])}", flush=True)
    loaded_noisy = sum(1 for r in runs if r["loaded"] and r["verdict"] == "noisy")
    idle_clean = sum(1 for r in runs if not r["loaded"] and r["verdict"] == "clean")
    n = args.repetitions
    ok_loaded = loaded_noisy >= LOADED_NOISY_TARGET * n
    ok_idle = idle_clean >= UNLOADED_CLEAN_TARGET * n
    idle_reasons = Counter(check for r in runs if not r["loaded"] for check in r["warned"])
    print(f"loaded runs noisy: {loaded_noisy}/{n} (target {n}/{n}) {'PASS' if ok_loaded else 'FAIL'}")
    print(
        f"idle runs clean:   {idle_clean}/{n} (target >= {UNLOADED_CLEAN_TARGET * n:g}/{n}) "
        f"{'PASS' if ok_idle else 'FAIL'}"
    )
    if idle_reasons:
        print(
            "checks that warned in idle runs: "
            + ", ".join(f"{k} {v}x" for k, v in idle_reasons.most_common())
        )
    if args.json is not None:
        result = {
            "environment": environment(),
            "cpu_count": os.cpu_count(),
            "runs": runs,
            "loaded_noisy": loaded_noisy,
            "idle_clean": idle_clean,
            "repetitions": n,
            "targets_met": ok_loaded and ok_idle,
        }
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if ok_loaded and ok_idle else 1


if __name__ == "__main__":
    sys.exit(main())
