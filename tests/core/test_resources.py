"""Tests of edgeai_core.resources.ResourceSampler (no assertions on timing values)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from edgeai_core.components import ResourceProbe
from edgeai_core.resources import ResourceSampler


class FakeProbe(ResourceProbe):
    """A probe without the component machinery: the sampler only calls sample()."""

    def __init__(self, readings: list[dict[str, float]] | None = None, fail_after: int | None = None) -> None:
        self.calls = 0
        self.readings = readings
        self.fail_after = fail_after

    def sample(self) -> dict[str, float]:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("device went away")
        if self.readings:
            return self.readings[min(self.calls, len(self.readings)) - 1]
        return {"gpu_percent": 40.0, "power_w": 3.5}


def test_sampler_collects_at_least_start_and_stop_samples() -> None:
    with ResourceSampler(interval_s=0.05) as sampler:
        time.sleep(0.3)
    data = sampler.to_json()
    n = len(data["t_s"])
    assert n >= 2
    assert len(data["cpu_percent"]) == len(data["rss_bytes"]) == len(data["system_cpu_percent"]) == n
    assert data["t_s"] == sorted(data["t_s"])
    assert all(rss > 0 for rss in data["rss_bytes"])
    assert data["cpu_percent"][0] is None  # no interval before the first sample
    assert data["summary"]["rss_bytes"]["max"] > 0
    assert data["summary"]["cpu_percent"]["mean"] is not None
    json.dumps(data, allow_nan=False)


def test_stop_returns_json_and_is_idempotent() -> None:
    sampler = ResourceSampler(interval_s=0.05).start()
    time.sleep(0.1)
    first = sampler.stop()
    second = sampler.stop()
    assert first == second
    assert len(first["t_s"]) >= 2
    with pytest.raises(RuntimeError):
        sampler.start()


def test_probe_values_are_recorded() -> None:
    probe = FakeProbe()
    with ResourceSampler(interval_s=0.05, probes={"gpu": probe}) as sampler:
        time.sleep(0.2)
    data = sampler.to_json()
    n = len(data["t_s"])
    assert data["probes"]["gpu"]["gpu_percent"] == [40.0] * n
    assert data["probes"]["gpu"]["power_w"] == [3.5] * n
    assert data["summary"]["probes"]["gpu"]["gpu_percent"] == {"mean": 40.0, "max": 40.0}
    assert data["probe_errors"] == {}
    assert probe.calls == n


def test_failing_probe_is_recorded_once_and_sampling_continues() -> None:
    failing = FakeProbe(fail_after=1)
    good = FakeProbe()
    with ResourceSampler(interval_s=0.05, probes={"bad": failing, "good": good}) as sampler:
        time.sleep(0.3)
    data = sampler.to_json()
    n = len(data["t_s"])
    assert n >= 3
    assert data["probe_errors"] == {"bad": "RuntimeError: device went away"}
    assert failing.calls == 2  # one good reading, one failure, then never called again
    assert data["probes"]["bad"]["gpu_percent"] == [40.0] + [None] * (n - 1)
    assert data["probes"]["good"]["gpu_percent"] == [40.0] * n
    json.dumps(data, allow_nan=False)


def test_probe_metrics_stay_aligned_and_nan_becomes_none() -> None:
    readings = [{"a": 1.0}, {"a": float("nan"), "b": 2.0}, {"b": 3.0}]
    sampler = ResourceSampler(interval_s=10.0, probes={"p": FakeProbe(readings)})
    sampler.start()
    sampler._sample()  # a second sample without waiting for the interval
    data = sampler.stop()
    assert len(data["t_s"]) == 3
    assert data["probes"]["p"] == {"a": [1.0, None, None], "b": [None, 2.0, 3.0]}
    assert data["summary"]["probes"]["p"]["b"] == {"mean": 2.5, "max": 3.0}
    json.dumps(data, allow_nan=False)


def test_on_sample_callback_gets_each_sample() -> None:
    seen: list[dict[str, Any]] = []
    with ResourceSampler(interval_s=0.05, probes={"gpu": FakeProbe()}, on_sample=seen.append) as sampler:
        time.sleep(0.15)
    data = sampler.to_json()
    assert [s["t_s"] for s in seen] == data["t_s"]
    assert seen[0]["probes"] == {"gpu": {"gpu_percent": 40.0, "power_w": 3.5}}
    assert set(seen[0]) == {"t_s", "cpu_percent", "rss_bytes", "system_cpu_percent", "probes"}


def test_failing_callback_does_not_stop_sampling() -> None:
    def explode(sample: dict[str, Any]) -> None:
        raise OSError("disk full")

    with ResourceSampler(interval_s=0.05, on_sample=explode) as sampler:
        time.sleep(0.15)
    assert len(sampler.to_json()["t_s"]) >= 2


def test_empty_summary_is_none() -> None:
    data = ResourceSampler().to_json()
    assert data["t_s"] == []
    assert data["summary"]["cpu_percent"] == {"mean": None, "max": None}
    assert data["summary"]["rss_bytes"] == {"mean": None, "max": None}
    json.dumps(data, allow_nan=False)


def test_rejects_bad_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        ResourceSampler(interval_s=0)
