"""Tests of edgeai_core.benchmark: settings validation, stopping rules, sample hand-out, failures.

No test asserts on timing values: only on counts, stop reasons and the bookkeeping around them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from edgeai_core.benchmark import (
    BENCHMARK_PARAMS,
    MEASURE,
    WARMUP,
    BenchmarkSettings,
    run_benchmark,
)
from edgeai_core.errors import ParameterError
from edgeai_core.progress import Progress


def noop_bind(i: int) -> Callable[[], object]:
    return lambda: None


def sleep_1ms() -> None:
    time.sleep(0.001)


class RecordingProgress(Progress):
    def __init__(self) -> None:
        self.updates: list[tuple[float, float | None, str]] = []

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        self.updates.append((done, total, detail))


# -- settings -------------------------------------------------------------------------------------


def test_settings_defaults_and_params_agree() -> None:
    settings = BenchmarkSettings()
    assert settings.to_json() == BENCHMARK_PARAMS.defaults()
    assert settings.to_json() == {
        "warmup": 10,
        "min_count": 100,
        "min_duration_s": 1.0,
        "max_duration_s": None,
        "max_count": None,
        "batch_size": 1,
        "cpu_affinity": None,
        "repeat": 1,
        "scenario": "single-stream",
        "concurrency": 1,
        "target_qps": None,
        "latency_bound_ms": None,
        "latency_percentile": 99.0,
        "qps_search": False,
        "seed": None,
        "profile": False,
        "profile_runs": 20,
    }


def test_settings_from_mapping_coerces_and_fills_defaults() -> None:
    settings = BenchmarkSettings.from_mapping({"min_count": "20", "min-duration-s": 2, "max_count": 50})
    assert settings.min_count == 20
    assert settings.min_duration_s == 2.0 and isinstance(settings.min_duration_s, float)
    assert settings.max_count == 50
    assert settings.warmup == 10


def test_settings_min_count_zero_names_field() -> None:
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"min_count": 0})
    assert info.value.field == "benchmark.min_count"
    assert str(info.value).startswith("benchmark.min_count:")


def test_settings_max_count_below_min_count_names_field() -> None:
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"min_count": 100, "max_count": 10})
    assert info.value.field == "benchmark.max_count"
    assert "min_count" in str(info.value)


def test_settings_where_prefix_is_used() -> None:
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"min_count": 5, "max_count": 4}, where="steps[2].benchmark")
    assert info.value.field == "steps[2].benchmark.max_count"


def test_settings_max_duration_checks() -> None:
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"min_duration_s": 2.0, "max_duration_s": 1.0})
    assert info.value.field == "benchmark.max_duration_s"
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings.from_mapping({"min_duration_s": 0.0, "max_duration_s": 0})
    assert info.value.field == "benchmark.max_duration_s"


def test_settings_unknown_key_suggests_name() -> None:
    with pytest.raises(ParameterError, match="did you mean 'min_count'"):
        BenchmarkSettings.from_mapping({"min_cout": 5})


def test_settings_direct_construction_is_validated() -> None:
    with pytest.raises(ParameterError) as info:
        BenchmarkSettings(batch_size=0)
    assert info.value.field == "benchmark.batch_size"


def test_settings_are_frozen() -> None:
    settings = BenchmarkSettings()
    with pytest.raises(AttributeError):
        settings.min_count = 5  # type: ignore[misc]


# -- stopping rules -------------------------------------------------------------------------------


def test_stops_on_min_count_with_tiny_min_duration() -> None:
    result = run_benchmark(noop_bind, BenchmarkSettings(warmup=3, min_count=25, min_duration_s=0.0))
    assert result.stop_reason == "min_count_and_duration"
    assert len(result.samples_ns) == 25
    assert len(result.warmup_ns) == 3
    assert all(isinstance(s, int) and s >= 0 for s in result.samples_ns)


def test_stops_on_max_count() -> None:
    settings = BenchmarkSettings(warmup=0, min_count=5, min_duration_s=3600.0, max_count=12)
    result = run_benchmark(noop_bind, settings)
    assert result.stop_reason == "max_count"
    assert len(result.samples_ns) == 12
    assert result.warmup_ns == []


def test_stops_on_max_duration() -> None:
    settings = BenchmarkSettings(warmup=1, min_count=10**9, min_duration_s=0.05, max_duration_s=0.05)
    result = run_benchmark(lambda i: sleep_1ms, settings)
    assert result.stop_reason == "max_duration"
    assert 1 <= len(result.samples_ns) < 10**9


def test_bind_called_with_increasing_indices() -> None:
    seen: list[int] = []

    def bind(i: int) -> Callable[[], object]:
        seen.append(i)
        return lambda: None

    run_benchmark(bind, BenchmarkSettings(warmup=4, min_count=10, min_duration_s=0.0))
    assert seen == list(range(14))


def test_bound_callable_is_called_once_per_sample() -> None:
    calls: list[int] = []

    def bind(i: int) -> Callable[[], object]:
        return lambda: calls.append(i)

    result = run_benchmark(bind, BenchmarkSettings(warmup=2, min_count=7, min_duration_s=0.0))
    assert calls == list(range(9))
    assert len(result.warmup_ns) + len(result.samples_ns) == len(calls)


# -- sample hand-out ------------------------------------------------------------------------------


def test_on_samples_receives_every_sample_once() -> None:
    chunks: list[tuple[str, list[int]]] = []
    settings = BenchmarkSettings(warmup=5, min_count=25_000, min_duration_s=0.0)
    result = run_benchmark(noop_bind, settings, on_samples=lambda phase, s: chunks.append((phase, s)))
    warm = [s for phase, chunk in chunks if phase == WARMUP for s in chunk]
    measured = [s for phase, chunk in chunks if phase == MEASURE for s in chunk]
    assert warm == result.warmup_ns
    assert measured == result.samples_ns
    phases = [phase for phase, _ in chunks]
    assert phases == sorted(phases, key=[WARMUP, MEASURE].index)  # all warm-up chunks come first
    assert all(chunk for _, chunk in chunks)
    assert max(len(chunk) for _, chunk in chunks) <= 10_000
    assert len([c for p, c in chunks if p == MEASURE]) >= 3  # 25,000 samples need >= 3 chunks


def test_exception_propagates_after_flushing_samples() -> None:
    class Boom(Exception):
        pass

    def bind(i: int) -> Callable[[], object]:
        def call() -> None:
            if i == 2 + 6:  # the 7th measured call (after 2 warm-up calls)
                raise Boom("inference failed")

        return call

    chunks: list[tuple[str, list[int]]] = []
    with pytest.raises(Boom, match="inference failed"):
        run_benchmark(
            bind,
            BenchmarkSettings(warmup=2, min_count=100, min_duration_s=0.0),
            on_samples=lambda phase, s: chunks.append((phase, s)),
        )
    assert sum(len(c) for p, c in chunks if p == WARMUP) == 2
    assert sum(len(c) for p, c in chunks if p == MEASURE) == 6


def test_exception_in_bind_propagates_after_flushing() -> None:
    def bind(i: int) -> Callable[[], object]:
        if i == 3:
            raise KeyError("no input 3")
        return lambda: None

    chunks: list[tuple[str, list[int]]] = []
    with pytest.raises(KeyError):
        run_benchmark(
            bind,
            BenchmarkSettings(warmup=0, min_count=10, min_duration_s=0.0),
            on_samples=lambda phase, s: chunks.append((phase, s)),
        )
    assert [(p, len(c)) for p, c in chunks] == [(MEASURE, 3)]


def test_progress_gets_final_update() -> None:
    progress = RecordingProgress()
    run_benchmark(noop_bind, BenchmarkSettings(warmup=2, min_count=5, min_duration_s=0.0), progress=progress)
    assert progress.updates[-1][:2] == (5, 5)
    assert (2, 2) in [u[:2] for u in progress.updates]


# -- result ---------------------------------------------------------------------------------------


def test_result_json() -> None:
    settings = BenchmarkSettings(warmup=2, min_count=10, min_duration_s=0.0, batch_size=4)
    result = run_benchmark(lambda i: sleep_1ms, settings)
    data = result.to_json()
    assert set(data) == {
        "unit",
        "batch_size",
        "settings",
        "warmup",
        "samples_ns",
        "stats",
        "stop_reason",
        "wall_s",
        "throughput_per_s",
    }
    assert data["unit"] == "ns"
    assert data["batch_size"] == 4
    assert data["settings"] == settings.to_json()
    assert data["warmup"] == {"count": 2, "samples_ns": result.warmup_ns}
    assert data["samples_ns"] == result.samples_ns
    assert data["stats"]["count"] == 10
    assert data["stop_reason"] == "min_count_and_duration"
    json.dumps(data, allow_nan=False)


def test_throughput_from_samples() -> None:
    from edgeai_core.benchmark import BenchmarkResult

    settings = BenchmarkSettings(batch_size=8)
    result = BenchmarkResult(settings, [], [250_000_000, 250_000_000], "max_count", 0.6)
    assert result.throughput_per_s() == pytest.approx(32.0)  # 16 inputs in 0.5 s of inference
    assert BenchmarkResult(settings, [], [0, 0], "max_count", 0.0).throughput_per_s() is None
