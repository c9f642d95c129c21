"""Helpers shared by the bench/*.py scripts (each script puts bench/ first on sys.path when run directly)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def have(*modules: str) -> bool:
    """True when every module is importable (checked without importing it)."""
    return all(importlib.util.find_spec(m) is not None for m in modules)


def run_pipeline(host: Any, config: dict[str, Any], output: Path) -> dict[str, Any]:
    """Plan and run a pipeline config through edgeai's local runner; return its measurement document."""
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import LocalRunner

    return LocalRunner(plan_pipeline(parse_config(config), host), output, host=host).run()


class BenchError(Exception):
    """The benchmark cannot run here (a missing package, a failing step); reported as an error, exit 2."""


def environment() -> dict[str, str]:
    """The interpreter and platform a result was measured on (stored in every result file)."""
    import platform
    import sys

    return {
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
    }


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by the first line of a script's docstring."""
    return argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)


def add_overhead_arguments(
    parser: argparse.ArgumentParser, *, rounds: int, count: int, warmup: int, json_path: Path
) -> None:
    """``--rounds``, ``--count``, ``--warmup`` and ``--json`` of the runner-overhead benchmarks."""
    parser.add_argument(
        "--rounds", type=positive_int, default=rounds, help=f"interleaved rounds (default {rounds})"
    )
    parser.add_argument("--count", type=positive_int, default=count, help="timed calls per measurement")
    parser.add_argument("--warmup", type=non_negative_int, default=warmup, help="untimed calls first")
    parser.add_argument("--json", type=Path, default=json_path, help="where to write the JSON result")


def add_rounds_arguments(
    parser: argparse.ArgumentParser, *, rounds: int, warmup: int, json_path: Path, what: str
) -> None:
    """``--rounds`` (at least 1) and ``--warmup`` (at least 0) of ``what`` (e.g. "renders"), and ``--json``."""
    parser.add_argument(
        "--rounds", type=positive_int, default=rounds, help=f"measured {what} (default {rounds})"
    )
    parser.add_argument(
        "--warmup", type=non_negative_int, default=warmup, help=f"warm-up {what} first (default {warmup})"
    )
    parser.add_argument("--json", type=Path, default=json_path, help="where to write the JSON result")


def measure_in_tempdir(
    name: str, measure: Any, args: argparse.Namespace, prefix: str
) -> dict[str, Any] | None:
    """``measure(args, folder)`` in a temporary folder; None (the error printed) when it fails."""
    import sys
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            result: dict[str, Any] = measure(args, Path(tmp))
            return result
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
    except Exception as exc:  # a failing step of the harness itself: report it as an error, not a miss
        print(f"{name}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return None


def print_overhead(
    name: str, args: argparse.Namespace, result: dict[str, Any], model: str, bare: str, target: float
) -> None:
    """The table of a runner-overhead benchmark: the bare loop and the runner with resources off and on."""
    med = result["median_ns"]
    print(f"{name}: {args.rounds} rounds x {args.count} calls (+{args.warmup} warm-up), interleaved")
    print(f"model: {model}")
    print(f"{'':<34} {'median us':>10}")
    print(f"{bare:<34} {med['bare'] / 1e3:>10.2f}")
    print(f"{'edgeai runner (resources off)':<34} {med['runner'] / 1e3:>10.2f}")
    print(f"{'edgeai runner (resources on)':<34} {med['runner_resources'] / 1e3:>10.2f}")
    print(
        f"ratio: {result['ratio']:.3f} (resources off), {result['ratio_resources_enabled']:.3f} (on)  "
        f"(target <= {target:.2f})  {'PASS' if result['passed'] else 'FAIL'}"
    )


def write_result(path: Path, result: dict[str, Any], passed: bool) -> int:
    """Write the JSON result and return the exit status: 0 target met, 1 missed."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return 0 if passed else 1


def interleaved(rounds: int, names: list[str], measure: Any) -> dict[str, list[float]]:
    """``measure(round, name)`` (a median in ns) for every name in every round, the order reversed every other
    round so neither side always runs first; one progress line per round on stderr."""
    import sys

    rows: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            rows[name].append(float(measure(r, name)))
        print(
            f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1] / 1e3:.2f} us" for k, v in rows.items()),
            file=sys.stderr,
        )
    return rows


#: The runner-overhead benchmarks' target: the runner's per-sample median over the bare loop's, at most this.
OVERHEAD_TARGET = 1.05


def overhead_main(
    name: str,
    doc: str | None,
    measure: Any,
    argv: list[str] | None,
    json_path: Path,
    model_key: str,
    bare: str,
) -> int:
    """The command line of a runner-overhead benchmark (``measure(args, folder)`` gives its result, to which the
    target, the verdict and the environment are added): the target is checked on both runner variants, since
    sampling resources must not cost latency either."""
    parser = parser_for(doc)
    add_overhead_arguments(parser, rounds=7, count=2000, warmup=200, json_path=json_path)
    args = parser.parse_args(argv)
    result = measure_in_tempdir(name, measure, args, prefix="edgeai-bench-")
    if result is None:
        return 2
    passed = max(result["ratio"], result["ratio_resources_enabled"]) <= OVERHEAD_TARGET
    result.update(target=OVERHEAD_TARGET, passed=passed, **environment())
    print_overhead(name, args, result, result[model_key], bare, OVERHEAD_TARGET)
    return write_result(args.json, result, passed)


def runner_against_bare(
    args: argparse.Namespace, host: Any, work: Path, bare: Any, config: Any
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Interleaved rounds of the runner with resource sampling off and on (``config(resources)`` is its pipeline
    config) and of the bare loop (``bare()``, a median in ns): the rows of medians and the runner's last stats."""
    stats: dict[str, Any] = {}

    def one(r: int, which: str) -> float:
        if which == "bare":
            return float(bare())
        stats[which] = run_pipeline(host, config(which == "runner_resources"), work / f"run-{r}-{which}")[
            "latency"
        ]["stats"]
        return float(stats[which]["median"])

    return interleaved(args.rounds, ["runner", "runner_resources", "bare"], one), stats


def median_fields(rows: dict[str, list[float]]) -> dict[str, Any]:
    """``rounds_median_ns`` (every round's) and ``median_ns`` (their median) of a result, rounded to 0.1 ns."""
    import statistics

    return {
        "rounds_median_ns": {k: [round(x, 1) for x in v] for k, v in rows.items()},
        "median_ns": {k: round(statistics.median(v), 1) for k, v in rows.items()},
    }


def digits_cnn_onnx(host: Any, workdir: Path) -> tuple[Any, Any]:
    """The digits CNN as edgeai builds it: dataset digits, model digits-cnn (30 epochs, seed 0), converter
    torch-to-onnx. Returns the ONNX artifact and the prepared dataset."""
    from edgeai_core.components import Context

    context = Context(workdir=workdir, seed=0)
    dataset = host.get("dataset", "digits").create({}, where="dataset", context=context)
    dataset.prepare()
    model = host.get("model", "digits-cnn").create({"epochs": 30}, where="model", context=context)
    checkpoint = model.prepare(dataset)
    converter = host.get("converter", "torch-to-onnx").create({}, where="converter", context=context)
    return converter.convert(checkpoint), dataset
