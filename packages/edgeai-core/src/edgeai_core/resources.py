"""Background sampling of CPU and memory use (and plugin probes such as GPU load) during a benchmark.

A :class:`ResourceSampler` runs a daemon thread that reads, every ``interval_s``: the CPU use of the
benchmarked process (psutil semantics: 100 = one core fully busy, so multi-threaded runtimes exceed 100),
its resident memory, the system-wide CPU use (0-100, all cores), what disturbs a measurement (load
average, steal time, CPU clock, thermal throttling, memory pressure, read by
:class:`edgeai_core.systemfacts.SystemReader`, under ``system``) and whatever each
:class:`~edgeai_core.components.ResourceProbe` returns. CPU percentages are computed from CPU-time deltas
between the sampler's own readings rather than with ``psutil.cpu_percent``, whose state is shared with
any other caller in the process.

The first sample is taken at start and the last at stop, so even a very short run has two. CPU figures
need an interval, so the first sample's (and any sample closer than :data:`MIN_CPU_WINDOW_S` to the
previous one, where clock-tick resolution makes them meaningless) are ``None``. Every series is aligned
with ``t_s``; missing values are ``None`` (JSON ``null``), never NaN.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import psutil

from edgeai_core.components import ResourceProbe
from edgeai_core.systemfacts import SystemReader

log = logging.getLogger(__name__)

#: CPU percentages over a shorter window than this are not reported (CPU times tick at 10 ms on Linux).
MIN_CPU_WINDOW_S = 0.02

Sample = dict[str, Any]


class ResourceSampler:
    """Samples resource use on a background thread; use as ``with ResourceSampler() as s:`` or
    :meth:`start`/:meth:`stop`.

    ``pid`` defaults to this process. Probes are called from the sampler thread and are not closed by it;
    a probe that raises is recorded in ``probe_errors`` once and not called again, while sampling goes on.
    ``on_sample(sample)`` is called (also from the sampler thread) with each new sample, e.g. to append
    it to a progress file; an exception there is logged, never raised.
    """

    def __init__(
        self,
        interval_s: float = 0.1,
        probes: Mapping[str, ResourceProbe] | None = None,
        pid: int | None = None,
        *,
        on_sample: Callable[[Sample], None] | None = None,
        system: bool = True,
    ) -> None:
        if not interval_s > 0:  # also rejects NaN
            raise ValueError(f"sampling interval must be > 0 seconds, got {interval_s!r}")
        self.interval_s = float(interval_s)
        self.probes: dict[str, ResourceProbe] = dict(probes or {})
        self.on_sample = on_sample
        self.probe_errors: dict[str, str] = {}
        #: probes that could not start on this machine, with the reason (recorded as ``probes_absent``)
        self.probes_absent: dict[str, str] = {}
        self._process = psutil.Process(os.getpid() if pid is None else pid)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._t0 = 0.0
        self._t_s: list[float] = []
        self._cpu: list[float | None] = []
        self._rss: list[int | None] = []
        self._system_cpu: list[float | None] = []
        self._probe_series: dict[str, dict[str, list[float | None]]] = {name: {} for name in self.probes}
        self._last_wall: float | None = None
        self._last_proc_cpu: float | None = None
        self._last_sys_times: tuple[float, float] | None = None
        self._process_error_logged = False
        self._callback_error_logged = False
        self._system_reader: SystemReader | None = None
        self._system_series: dict[str, list[float | None]] = {}
        if system:
            try:
                self._system_reader = SystemReader()
            except Exception as error:  # an exotic platform: validity says what it could not check
                log.warning("resource sampler: system readings unavailable: %s", error)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> ResourceSampler:
        """Take the first sample now and keep sampling every ``interval_s`` on a daemon thread."""
        if self._thread is not None or self._stopped:
            raise RuntimeError("a ResourceSampler can be started only once")
        self._t0 = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._run, name="edgeai-resource-sampler", daemon=True)
        self._thread.start()
        return self

    def close_probes(self) -> None:
        """Close every probe (after :meth:`stop`; the sampler itself never closes them)."""
        for name, probe in self.probes.items():
            try:
                probe.close()
            except Exception as error:
                log.warning("resource probe '%s' failed to close: %s", name, error)

    def stop(self) -> dict[str, Any]:
        """Stop the thread, take a final sample and return :meth:`to_json`. Calling it again only returns."""
        if self._thread is None or self._stopped:
            return self.to_json()
        self._stop_event.set()
        self._thread.join()
        self._stopped = True
        self._sample()
        return self.to_json()

    def __enter__(self) -> ResourceSampler:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        # Deadlines on a fixed grid, so the time spent sampling does not stretch the interval.
        next_at = self._t0 + self.interval_s
        while not self._stop_event.wait(max(0.0, next_at - time.monotonic())):
            self._sample()
            next_at += self.interval_s
            now = time.monotonic()
            if next_at < now:  # fell behind (suspended, overloaded): skip missed ticks, do not burst
                next_at = now + self.interval_s

    # -- sampling -----------------------------------------------------------------------------------

    def _sample(self) -> None:
        now = time.monotonic()
        cpu, rss = self._read_process(now)
        system_cpu = self._read_system()
        window = None if self._last_wall is None else now - self._last_wall
        self._last_wall = now
        if window is None or window < MIN_CPU_WINDOW_S:
            cpu = system_cpu = None
        probe_values = self._read_probes()
        system_values = self._read_system_facts()
        sample: Sample = {
            "t_s": now - self._t0,
            "cpu_percent": cpu,
            "rss_bytes": rss,
            "system_cpu_percent": system_cpu,
            "probes": probe_values,
        }
        with self._lock:
            index = len(self._t_s)
            self._t_s.append(sample["t_s"])
            self._cpu.append(cpu)
            self._rss.append(rss)
            self._system_cpu.append(system_cpu)
            for key, value in system_values.items():
                self._system_series.setdefault(key, [None] * index).append(value)
            for name, values in probe_values.items():
                series = self._probe_series[name]
                for metric, value in values.items():
                    series.setdefault(metric, [None] * index).append(value)
            for series in self._probe_series.values():  # pad metrics a probe did not report this time
                for values_list in series.values():
                    if len(values_list) <= index:
                        values_list.append(None)
        if self.on_sample is not None:
            try:
                self.on_sample(sample)
            except Exception:
                if not self._callback_error_logged:
                    log.exception("resource sampler: on_sample callback failed (further failures not logged)")
                    self._callback_error_logged = True

    def _read_process(self, now: float) -> tuple[float | None, int | None]:
        """Return (CPU percent since the previous sample, RSS bytes) of the process."""
        try:
            with self._process.oneshot():
                times = self._process.cpu_times()
                rss = int(self._process.memory_info().rss)
        except psutil.Error as error:
            if not self._process_error_logged:
                log.warning("resource sampler: cannot read process %d: %s", self._process.pid, error)
                self._process_error_logged = True
            self._last_proc_cpu = None
            return None, None
        used = times.user + times.system
        cpu = None
        if self._last_proc_cpu is not None and self._last_wall is not None and now > self._last_wall:
            cpu = max(0.0, 100.0 * (used - self._last_proc_cpu) / (now - self._last_wall))
        self._last_proc_cpu = used
        return cpu, rss

    def _read_system(self) -> float | None:
        """System-wide CPU percent since the previous sample, computed as psutil does (iowait is idle)."""
        times = psutil.cpu_times()
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        idle = times.idle + getattr(times, "iowait", 0.0)
        previous, self._last_sys_times = self._last_sys_times, (total, idle)
        if previous is None or total <= previous[0]:
            return None
        busy = (total - previous[0]) - (idle - previous[1])
        return min(100.0, max(0.0, 100.0 * float(busy) / float(total - previous[0])))

    def _read_system_facts(self) -> dict[str, float | None]:
        if self._system_reader is None:
            return {}
        try:
            return {k: None if v is None else _finite(v) for k, v in self._system_reader.read().items()}
        except Exception as error:
            log.warning("resource sampler: system readings failed and stop: %s", error)
            self._system_reader = None
            return {}

    def _read_probes(self) -> dict[str, dict[str, float | None]]:
        readings: dict[str, dict[str, float | None]] = {}
        for name, probe in self.probes.items():
            if name in self.probe_errors:
                continue
            try:
                raw = probe.sample()
                if not isinstance(raw, Mapping):
                    raise TypeError(f"sample() returned {type(raw).__name__}, not a dict of numbers")
                readings[name] = {str(metric): _finite(float(value)) for metric, value in raw.items()}
            except Exception as error:
                message = f"{type(error).__name__}: {error}"
                log.warning("resource probe '%s' failed and is no longer sampled: %s", name, message)
                self.probe_errors[name] = message
        return readings

    # -- results ------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The samples so far as JSON-ready data (safe to call while sampling)."""
        with self._lock:
            series: dict[str, list[Any]] = {
                "t_s": list(self._t_s),
                "cpu_percent": list(self._cpu),
                "rss_bytes": list(self._rss),
                "system_cpu_percent": list(self._system_cpu),
            }
            probes = {
                name: {metric: list(values) for metric, values in metrics.items()}
                for name, metrics in self._probe_series.items()
            }
            count = len(self._t_s)
            system_series = {k: v + [None] * (count - len(v)) for k, v in self._system_series.items()}
        summary: dict[str, Any] = {
            key: _summarize(series[key]) for key in ("cpu_percent", "rss_bytes", "system_cpu_percent")
        }
        summary["probes"] = {
            name: {metric: _summarize(values) for metric, values in metrics.items()}
            for name, metrics in probes.items()
        }
        data = {
            "interval_s": self.interval_s,
            **series,
            "probes": probes,
            "probe_errors": dict(self.probe_errors),
            "summary": summary,
        }
        if self.probes_absent:
            data["probes_absent"] = dict(self.probes_absent)
        reader = self._system_reader
        if reader is not None or system_series:
            data["system"] = {
                "cpu_count": reader.cpu_count if reader is not None else psutil.cpu_count() or 1,
                "unavailable": dict(reader.unavailable) if reader is not None else {},
                **system_series,
            }
        return data


def start_probes(
    records: Iterable[Any], context: Any = None
) -> tuple[dict[str, ResourceProbe], dict[str, str]]:
    """Create a probe from each record: ``(probes that started, {name: why each other one is absent})``.

    A probe raises from its constructor when its hardware or library is missing; that is normal, logged at
    info level and recorded (``probes_absent``), never an error."""
    probes: dict[str, ResourceProbe] = {}
    absent: dict[str, str] = {}
    for record in records:
        try:
            probes[record.name] = record.create({}, context=context)
        except Exception as exc:
            log.info("resource probe %s unavailable: %s", record.name, exc)
            absent[record.name] = f"{type(exc).__name__}: {exc}"
    return probes, absent


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _summarize(values: list[Any]) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "max": None}
    return {"mean": sum(present) / len(present), "max": max(present)}
