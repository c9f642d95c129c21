"""Run validity (edgeai_core.validity) and the benchmark controls (edgeai_core.control): pure checks on
synthetic samples with exact values, a real benchmark beside CPU burners, affinity and repetitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from edgeai_core import validity
from edgeai_core.benchmark import BenchmarkSettings
from edgeai_core.config import parse_config
from edgeai_core.control import check_affinity, repetition_medians, run_repeated, split_target_times
from edgeai_core.errors import ParameterError
from edgeai_core.measurement import PARTIAL_FILE, load_schema, recover_partial
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.resources import ResourceSampler
from edgeai_core.runner import LocalRunner

linux_only = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity needs Linux")


def _config(**benchmark: Any) -> dict[str, Any]:
    return {
        "name": "validity-run",
        "seed": 0,
        "dataset": {"name": "gaussian-blobs", "classes": 4, "features": 8, "samples": 600, "separation": 2.5},
        "model": {"name": "numpy-mlp", "epochs": 5, "hidden": [16]},
        "runtime": {"name": "numpy"},
        "benchmark": {"warmup": 5, "min_count": 60, "min_duration_s": 0.0, **benchmark},
        "resources": {"interval_s": 0.05},
    }


def _run(host: PluginHost, tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    plan = plan_pipeline(parse_config(config), host)
    return LocalRunner(plan, tmp_path / "out", host=host, command=["edgeai", "run", "test"]).run()


def _validate(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert not errors, errors


# -- pure checks ---------------------------------------------------------------------------------------------


def test_drift_compares_the_medians_of_the_first_and_last_thirds() -> None:
    samples = [100.0] * 30 + [110.0] * 30 + [125.0] * 30
    assert validity.drift_percent(samples) == pytest.approx(25.0)
    assert validity.drift_percent([100.0] * 29) is None  # 9 per third: too few
    assert validity.drift_percent([100.0] * 90) == 0.0


def test_window_spread_and_outliers_have_exact_values() -> None:
    samples = [100.0] * 50 + [130.0] * 50
    assert validity.window_medians(samples) == [100.0] * 5 + [130.0] * 5
    # overall median of 50 x 100 and 50 x 130 is 115: (130 - 100) / 115
    assert validity.window_spread_percent(samples) == pytest.approx(30 / 115 * 100)
    spiky = [100.0] * 97 + [301.0, 500.0, 299.0]
    assert validity.outlier_percent(spiky) == pytest.approx(2.0)  # 301 and 500 are above 3x 100
    assert validity.spread_percent([100.0, 110.0, 105.0]) == pytest.approx(10 / 105 * 100)


def test_a_steady_series_is_clean_and_a_drifting_one_noisy_with_reasons() -> None:
    steady = validity.assess([1000 + (i % 7) for i in range(300)], None)
    assert steady.verdict == "clean" and steady.reasons == []
    assert {c.name for c in steady.checks} == {"drift", "window_spread", "outliers"}
    assert ("host", "environment", "no resource series (resource sampling off or not reported)") in (
        steady.unavailable
    )
    drifting = validity.assess([1000] * 100 + [1500] * 100 + [2000] * 100, None).to_json()
    assert drifting["verdict"] == "noisy"
    drift = next(c for c in drifting["checks"] if c["name"] == "drift")
    assert drift == {
        "name": "drift",
        "side": "samples",
        "value": 100.0,
        "threshold": 10.0,
        "unit": "%",
        "status": "warn",
        "what": validity.THRESHOLDS["drift"].what,
    }
    assert (
        "latency drifted by 100% from the first to the last third of the run (limit 10%)"
        in (drifting["reasons"])
    )


def test_environment_checks_read_the_sampler_series() -> None:
    series = {
        "cpu_percent": [None, 100.0, 100.0],
        "system_cpu_percent": [None, 90.0, 70.0],
        "system": {"cpu_count": 4, "unavailable": {"steal_percent": "none here"}, "load_avg_1m": [2.0, 6.0]},
    }
    checks, missing = validity.environment_checks(series, "target")
    by_name = {c.name: c for c in checks}
    assert by_name["other_cpu"].value == pytest.approx(55.0)  # (90 - 25 + 70 - 25) / 2
    assert by_name["load_per_cpu"].value == 1.5 and by_name["load_per_cpu"].status == "warn"
    assert missing == {"steal": "none here"}
    assert by_name["other_cpu"].reason() == (
        "target: other processes used 55% of the CPUs on average (limit 25%)"
    )


def test_the_sampler_records_system_facts_for_the_checks() -> None:
    with ResourceSampler(interval_s=0.03) as sampler:
        time.sleep(0.2)  # a few samples with CPU readings
    series = sampler.to_json()
    system = series["system"]
    assert system["cpu_count"] == os.cpu_count()
    assert all(len(v) == len(series["t_s"]) for k, v in system.items() if isinstance(v, list))
    if sys.platform.startswith("linux"):
        assert system["load_avg_1m"][0] == pytest.approx(os.getloadavg()[0], abs=5.0)
    checks, _ = validity.environment_checks(series, "host")
    assert "other_cpu" in {c.name for c in checks}


# -- a real benchmark beside CPU burners ---------------------------------------------------------------------

_BURNER = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"


@pytest.mark.subprocess
def test_a_run_beside_cpu_burners_is_noisy_and_says_why(core_host: PluginHost, tmp_path: Path) -> None:
    burners = [subprocess.Popen([sys.executable, "-c", _BURNER]) for _ in range(os.cpu_count() or 1)]
    try:
        doc = _run(core_host, tmp_path, _config(min_duration_s=1.5))
    finally:
        for proc in burners:
            proc.kill()
            proc.wait()
    _validate(doc)
    section = doc["validity"]
    assert section["verdict"] == "noisy"
    other = next(c for c in section["checks"] if c["name"] == "other_cpu" and c["side"] == "host")
    assert other["status"] == "warn" and other["value"] > other["threshold"] == 25.0
    assert any(r.startswith("host: other processes used ") for r in section["reasons"])


# -- affinity and repetitions --------------------------------------------------------------------------------


def test_affinity_ids_are_checked_against_the_allowed_cpus() -> None:
    assert check_affinity([1, 0, 1], [0, 1, 2]) == [0, 1]
    with pytest.raises(ParameterError) as info:
        check_affinity([0, 7], [0, 1, 2, 4])
    assert info.value.field == "benchmark.cpu_affinity"
    assert "CPU 7 is not among the CPUs this process may use (0-2, 4)" in str(info.value)
    with pytest.raises(ParameterError, match="needs at least one CPU id"):
        BenchmarkSettings(cpu_affinity=[])


@linux_only
def test_a_local_plan_refuses_cpus_this_machine_does_not_offer(core_host: PluginHost) -> None:
    with pytest.raises(ParameterError) as info:
        plan_pipeline(parse_config(_config(cpu_affinity=[4000])), core_host)
    assert info.value.field == "benchmark.cpu_affinity"
    assert "CPU 4000 is not among the CPUs this process may use" in str(info.value)


@linux_only
def test_affinity_is_applied_inside_the_timed_call_and_recorded(
    core_host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeai_core.targets import LocalTarget

    seen: set[tuple[int, ...]] = set()
    sampler_cpus: set[tuple[int, ...]] = set()
    bind = LocalTarget.bind

    def spying_bind(self: LocalTarget, inputs: Any) -> Any:
        call = bind(self, inputs)

        def timed() -> object:
            seen.add(tuple(sorted(os.sched_getaffinity(0))))
            for thread in threading.enumerate():
                if thread.name == "edgeai-resource-sampler" and thread.native_id:
                    sampler_cpus.add(tuple(sorted(os.sched_getaffinity(thread.native_id))))
            return call()

        return timed

    monkeypatch.setattr(LocalTarget, "bind", spying_bind)
    before = os.sched_getaffinity(0)
    cpu = min(before)
    doc = _run(core_host, tmp_path, _config(cpu_affinity=[cpu]))
    assert seen == {(cpu,)}
    if len(before) > 1:  # the sampler thread is not pinned: it must not compete with the timed calls
        assert sampler_cpus and sampler_cpus != {(cpu,)}
    assert doc["latency"]["cpu_affinity"] == [cpu]
    assert doc["latency"]["settings"]["cpu_affinity"] == [cpu]
    assert os.sched_getaffinity(0) == before  # restored
    _validate(doc)


def test_repeat_keeps_every_sample_and_one_median_per_repetition(
    core_host: PluginHost, tmp_path: Path
) -> None:
    doc = _run(core_host, tmp_path, _config(repeat=3))
    _validate(doc)
    latency = doc["latency"]
    reps = latency["repetitions"]
    assert reps["count"] == 3 and reps["warmup_counts"] == [5, 5, 5]
    assert sum(reps["sample_counts"]) == len(latency["samples_ns"]) and min(reps["sample_counts"]) >= 60
    assert len(reps["medians_ns"]) == 3 and latency["warmup"]["count"] == 15
    assert reps["spread_percent"] == validity.spread_percent(reps["medians_ns"])
    assert any(c["name"] == "repeat_spread" for c in doc["validity"]["checks"])
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["validity"] == doc["validity"]
    assert recover_partial(tmp_path / "out" / PARTIAL_FILE)["validity"] == doc["validity"]


def test_repetitions_split_a_targets_interleaved_times() -> None:
    calls = iter(range(1000))
    settings = BenchmarkSettings(warmup=2, min_count=3, min_duration_s=0.0, max_count=3, repeat=2)
    result = run_repeated(lambda i: lambda: next(calls), settings)
    assert result.repetitions == [(2, 3), (2, 3)]
    timed = list(range(10))  # as the target timed them: w w m m m w w m m m
    assert split_target_times(result, timed) == ([0, 1, 5, 6], [2, 3, 4, 7, 8, 9])
    assert len(repetition_medians(result)) == 2


# -- the NVML probe ------------------------------------------------------------------------------------------


def _nvml_reason() -> str | None:
    from edgeai_core.builtins.nvml import NvmlUnavailable, load_nvml

    try:
        load_nvml().nvmlShutdown()
    except NvmlUnavailable as exc:
        return str(exc)
    return None


def test_the_nvml_probe_reads_every_gpu(core_host: PluginHost) -> None:
    reason = _nvml_reason()
    if reason is not None:
        pytest.skip(f"no NVIDIA GPU here: {reason}")
    probe = core_host.get("probe", "nvml").create({})
    try:
        reading = probe.sample()
    finally:
        probe.close()
    assert 0.0 <= reading["gpu0_util_percent"] <= 100.0
    assert 0.0 < reading["gpu0_memory_used_bytes"] <= reading["gpu0_memory_total_bytes"]


def test_an_absent_nvml_probe_is_left_out_with_the_reason(core_host: PluginHost, tmp_path: Path) -> None:
    reason = _nvml_reason()
    if reason is None:
        pytest.skip("NVML works here: the probe is not absent")
    doc = _run(core_host, tmp_path, _config())
    host = doc["resources"]["host"]
    assert host["probes_absent"] == {"nvml": f"NvmlUnavailable: {reason}"}
    assert host["probes"] == {} and host["probe_errors"] == {}
    _validate(doc)


# -- the target side: affinity through STATS START, the target's own validity checks ---------------------------


def _thread_cpus(pid: int) -> dict[str, str]:
    """``{thread name: Cpus_allowed_list}`` of every thread of process ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = dict(
            line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line
        )
        out[f"{fields['Name'].strip()}/{task.name}"] = fields["Cpus_allowed_list"].strip()
    return out


@linux_only
@pytest.mark.subprocess
def test_a_host_pins_the_target_within_the_cpus_the_operator_allowed(tmp_path: Path) -> None:
    import socket

    sys.path.insert(0, str(Path(__file__).parent / "support"))
    from edgeai_wire_testing import serving

    from edgeai_core.transports.tcp import TcpStream
    from edgeai_core.wire import messages as msg
    from edgeai_core.wire.client import Client, TargetError
    from edgeai_core.wire.framing import ErrorCode

    cpu = min(os.sched_getaffinity(0))
    with serving(["--protocol", "tcp", "--runtime", "numpy", "--port", "0"], tmp_path / "target") as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        client = Client(TcpStream(sock, f"127.0.0.1:{server.port}"), timeout_s=10)
        try:
            client.hello()
            before = _thread_cpus(server.proc.pid)
            started = client.stats(msg.STATS_START, 0.05, [cpu])
            assert started["cpu_affinity"] == [cpu]  # read back in the thread that runs inferences
            pinned = _thread_cpus(server.proc.pid)
            assert sum(1 for v in pinned.values() if v == str(cpu)) >= 1
            if len(os.sched_getaffinity(0)) > 1:  # the resource sampler's thread is left unpinned
                assert sum(1 for v in pinned.values() if v != str(cpu)) == 1
            stopped = client.stats(msg.STATS_STOP)
            assert stopped["cpu_affinity"] is None
            assert stopped["resources"]["system"]["cpu_count"] == os.cpu_count()
            restored = _thread_cpus(server.proc.pid)
            assert all(restored[k] == v for k, v in before.items() if k in restored)
            with pytest.raises(TargetError) as info:
                client.stats(msg.STATS_START, None, [4000])
            assert info.value.code == ErrorCode.NOT_ALLOWED
            assert "cpu_affinity: CPU 4000 is not among the CPUs this process may use" in str(info.value)
        finally:
            client.close()


@linux_only
@pytest.mark.subprocess
def test_a_remote_run_records_the_targets_affinity_and_validity(
    core_host: PluginHost, tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).parent / "support"))
    from edgeai_wire_testing import serving

    cpu = min(os.sched_getaffinity(0))
    with serving(["--protocol", "tcp", "--runtime", "numpy", "--port", "0"], tmp_path / "target") as server:
        config = _config(cpu_affinity=[cpu], repeat=2)
        config["target"] = {"protocol": "tcp", "host": "127.0.0.1", "port": server.port, "timeout_s": 10}
        doc = _run(core_host, tmp_path, config)
    _validate(doc)
    latency = doc["latency"]
    assert latency["cpu_affinity"] == [cpu]
    assert latency["repetitions"]["count"] == 2
    assert len(latency["target"]["samples_ns"]) == len(latency["samples_ns"])
    assert latency["target"]["warmup"]["count"] == latency["warmup"]["count"] == 10
    sides = {c["side"] for c in doc["validity"]["checks"]}
    assert {"samples", "host", "target"} <= sides
    reason = _nvml_reason()
    if reason is not None:  # the target starts its probes as the host does, and says why one is absent
        assert doc["resources"]["target"]["probes_absent"] == {"nvml": f"NvmlUnavailable: {reason}"}


def test_the_readme_documents_every_threshold() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert validity.threshold_table() in readme
