"""CLI start-up benchmark: `edgeai plugins --json` against a bare `import click, pluggy`.

The candidate is the installed `edgeai` console script running `plugins --json` (plugin discovery
through entry points, no ML framework imports). The baseline is the same interpreter doing nothing
but `import click, pluggy`, i.e. the floor any click + pluggy CLI pays. Both are timed in the same
run, interleaved round by round (and in alternating order) so they share the machine's noise.

Target: median(candidate) / median(baseline) <= 2.0.

Exit status: 0 target met, 1 target missed (a benchmark may fail; it is not a test),
2 a command could not be run or failed.

    python bench/cli_startup.py [--rounds N] [--warmup N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import BenchError, add_rounds_arguments, environment, parser_for, write_result

TARGET_RATIO = 2.0
DEFAULT_ROUNDS = 15
DEFAULT_WARMUP = 2
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "cli_startup.json"


def find_edgeai() -> tuple[str, bool]:
    """The `edgeai` console script: next to sys.executable first (same environment), else on PATH.

    Returns (path, same_env). sys.executable is deliberately not resolved: in a venv it is a symlink
    and the scripts live next to the link, not next to the base interpreter.
    """
    bindir = Path(sys.executable).parent
    for name in ("edgeai", "edgeai.exe"):
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate), True
    found = shutil.which("edgeai")
    if found is None:
        raise BenchError(
            f"the `edgeai` console script was not found next to {sys.executable} nor on PATH; "
            "install edgeai-core into this interpreter's environment (e.g. `nox -s bench`)"
        )
    return found, False


def run_once(cmd: list[str], *, capture_stdout: bool = False) -> tuple[float, str]:
    """Run cmd once; return (wall seconds, stdout). Raise BenchError if it fails."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
    except OSError as exc:
        raise BenchError(f"could not run {' '.join(cmd)}: {exc}") from exc
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip() or "(no stderr)"
        raise BenchError(f"`{' '.join(cmd)}` exited with status {proc.returncode}:\n{stderr}")
    stdout = proc.stdout.decode(errors="replace") if capture_stdout else ""
    return elapsed, stdout


def check_candidate(cmd: list[str]) -> None:
    """The candidate must succeed and print JSON, or we would be timing the wrong thing."""
    _, stdout = run_once(cmd, capture_stdout=True)
    try:
        json.loads(stdout)
    except json.JSONDecodeError as exc:
        head = stdout.strip()[:500] or "(empty)"
        raise BenchError(
            f"`{' '.join(cmd)}` did not print valid JSON ({exc}); its output began:\n{head}"
        ) from exc


def summarize(cmd: list[str], samples: list[float]) -> dict[str, object]:
    return {
        "cmd": cmd,
        "samples_s": [round(s, 6) for s in samples],
        "median_s": round(statistics.median(samples), 6),
        "min_s": round(min(samples), 6),
    }


def measure(
    baseline: list[str], candidate: list[str], rounds: int, warmup: int
) -> tuple[list[float], list[float]]:
    """Interleaved timing: each round runs both, alternating which goes first."""
    for _ in range(warmup):
        run_once(baseline)
        run_once(candidate)
    base: list[float] = []
    cand: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            base.append(run_once(baseline)[0])
            cand.append(run_once(candidate)[0])
        else:
            cand.append(run_once(candidate)[0])
            base.append(run_once(baseline)[0])
    return base, cand


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    add_rounds_arguments(
        parser, rounds=DEFAULT_ROUNDS, warmup=DEFAULT_WARMUP, json_path=DEFAULT_JSON, what="rounds"
    )
    args = parser.parse_args(argv)

    baseline = [sys.executable, "-c", "import click, pluggy"]
    try:
        edgeai, same_env = find_edgeai()
        candidate = [edgeai, "plugins", "--json"]
        if not same_env:
            print(
                f"note: using `edgeai` from PATH ({edgeai}); it may run under a different interpreter "
                f"than the baseline ({sys.executable})",
                file=sys.stderr,
            )
        run_once(baseline)
        check_candidate(candidate)
        base, cand = measure(baseline, candidate, args.rounds, args.warmup)
    except BenchError as exc:
        print(f"cli_startup: error: {exc}", file=sys.stderr)
        return 2

    ratio = statistics.median(cand) / statistics.median(base)
    passed = ratio <= TARGET_RATIO
    result: dict[str, object] = {
        "benchmark": "cli_startup",
        "rounds": args.rounds,
        "warmup_rounds": args.warmup,
        "baseline": summarize(baseline, base),
        "candidate": summarize(candidate, cand),
        "ratio": round(ratio, 4),
        "target": TARGET_RATIO,
        "passed": passed,
        **environment(),
    }

    rows = [
        ("baseline", "python -c 'import click, pluggy'", base),
        ("candidate", "edgeai plugins --json", cand),
    ]
    print(f"cli_startup: {args.rounds} rounds (+{args.warmup} warm-up), interleaved")
    print(f"{'':<10} {'command':<34} {'median ms':>10} {'min ms':>10}")
    for label, shown, samples in rows:
        median_ms, min_ms = statistics.median(samples) * 1e3, min(samples) * 1e3
        print(f"{label:<10} {shown:<34} {median_ms:>10.1f} {min_ms:>10.1f}")
    print(f"ratio of medians: {ratio:.2f}  (target <= {TARGET_RATIO:.1f})  {'PASS' if passed else 'FAIL'}")

    return write_result(args.json, result, passed)


if __name__ == "__main__":
    sys.exit(main())
