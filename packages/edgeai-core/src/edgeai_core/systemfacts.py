"""What the kernel reports that can disturb a measurement, read once per resource sample.

:class:`SystemReader` reads the load average, CPU steal time (``/proc/stat`` through psutil), the CPU clock
(``/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq``), thermal throttle counters
(``.../thermal_throttle/*_throttle_count``), memory pressure (``/proc/pressure/memory``) and the share of
memory in use. What a platform does not expose is named in :attr:`SystemReader.unavailable` with the reason.
:mod:`edgeai_core.validity` judges the series these readings make.
"""

from __future__ import annotations

import glob
import os

_CPU_ROOT = "/sys/devices/system/cpu"
_PSI_MEMORY = "/proc/pressure/memory"


class SystemReader:
    """Reads the system facts that disturb a measurement; one :meth:`read` per resource sample.

    Values that cannot be read on this machine are left out of every reading and named, with the reason,
    in :attr:`unavailable`. Steal is computed from CPU-time deltas between readings (None on the first).
    """

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self.cpu_count = psutil.cpu_count() or 1
        self.unavailable: dict[str, str] = {}
        self._last_times: tuple[float, float] | None = None
        self._freq_files = sorted(glob.glob(f"{_CPU_ROOT}/cpu[0-9]*/cpufreq/scaling_cur_freq"))
        self._throttle_files = sorted(glob.glob(f"{_CPU_ROOT}/cpu[0-9]*/thermal_throttle/*_throttle_count"))
        if not hasattr(os, "getloadavg"):
            self.unavailable["load_avg_1m"] = "os.getloadavg is not available on this platform"
        if not hasattr(psutil.cpu_times(), "steal"):
            self.unavailable["steal_percent"] = "the kernel reports no steal time on this platform"
        if not self._freq_files:
            self.unavailable["cpu_freq_mhz"] = f"no readable {_CPU_ROOT}/cpu*/cpufreq/scaling_cur_freq"
        if not self._throttle_files:
            self.unavailable["thermal_throttle_count"] = (
                f"no readable {_CPU_ROOT}/cpu*/thermal_throttle/*_throttle_count"
            )
        if _read_psi(_PSI_MEMORY) is None:
            self.unavailable["memory_pressure_percent"] = f"{_PSI_MEMORY} is not readable (no PSI)"

    def read(self) -> dict[str, float | None]:
        """One reading: every available value (None where this reading has none, e.g. the first steal)."""
        out: dict[str, float | None] = {}
        if "load_avg_1m" not in self.unavailable:
            try:
                out["load_avg_1m"] = os.getloadavg()[0]
            except OSError:
                out["load_avg_1m"] = None
        if "steal_percent" not in self.unavailable:
            out["steal_percent"] = self._steal()
        if "cpu_freq_mhz" not in self.unavailable:
            freqs = [v for v in (_read_number(p) for p in self._freq_files) if v is not None]
            out["cpu_freq_mhz"] = sum(freqs) / len(freqs) / 1000.0 if freqs else None
        if "thermal_throttle_count" not in self.unavailable:
            counts = [v for v in (_read_number(p) for p in self._throttle_files) if v is not None]
            out["thermal_throttle_count"] = float(sum(counts)) if counts else None
        if "memory_pressure_percent" not in self.unavailable:
            out["memory_pressure_percent"] = _read_psi(_PSI_MEMORY)
        try:
            memory = self._psutil.virtual_memory()
            out["memory_used_percent"] = 100.0 * (1.0 - memory.available / memory.total)
        except Exception:  # psutil on an exotic platform
            out["memory_used_percent"] = None
        return out

    def _steal(self) -> float | None:
        times = self._psutil.cpu_times()
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        steal = float(getattr(times, "steal", 0.0))
        previous, self._last_times = self._last_times, (total, steal)
        if previous is None or total <= previous[0]:
            return None
        return max(0.0, 100.0 * (steal - previous[1]) / (total - previous[0]))


def _read_number(path: str) -> float | None:
    try:
        with open(path, encoding="ascii") as handle:
            return float(handle.read().strip())
    except (OSError, ValueError):
        return None


def _read_psi(path: str) -> float | None:
    """The ``some avg10`` value of a pressure-stall file (percent of the last 10 s), or None."""
    try:
        with open(path, encoding="ascii") as handle:
            first = handle.readline().split()
    except OSError:
        return None
    for part in first[1:]:
        key, _, value = part.partition("=")
        if key == "avg10":
            try:
                return float(value)
            except ValueError:
                return None
    return None


__all__ = ["SystemReader"]
