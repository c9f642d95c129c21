"""The ``host`` target profile: this machine, measured (cores, RAM, ISA, CPU model and flags, clock).

Read from ``/proc/cpuinfo``, ``/proc/meminfo`` and ``/sys/devices/system/cpu`` on Linux, with psutil and the
:mod:`platform` module elsewhere. Every ``results.json`` records it as the profile its numbers belong to unless
the pipeline config names another (``[target] profile = "NAME"``).
"""

from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

from edgeai_core.targetprofiles import TargetProfile

HOST = "host"
_CPUINFO = Path("/proc/cpuinfo")
_MEMINFO = Path("/proc/meminfo")
_MAX_FREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
#: the ``CPU part`` of ARM cores in /proc/cpuinfo (which has no model name there)
_ARM_PARTS = {
    "0xd03": "Cortex-A53",
    "0xd04": "Cortex-A35",
    "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57",
    "0xd08": "Cortex-A72",
    "0xd09": "Cortex-A73",
    "0xd0b": "Cortex-A76",
    "0xd0c": "Neoverse-N1",
    "0xd40": "Neoverse-V1",
    "0xd41": "Cortex-A78",
    "0xd42": "Cortex-A78AE",
    "0xd4f": "Neoverse-V2",
    "0xd49": "Neoverse-N2",
}


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpuinfo_fields(text: str) -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo (keys lowercased)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields.get("processor") is not None and len(fields) > 1:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def memtotal_bytes(text: str) -> int | None:
    """``MemTotal`` of /proc/meminfo in bytes."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def _triple(machine: str) -> str:
    system = platform.system()
    if system == "Linux":
        return f"{machine}-unknown-linux-gnu"
    if system == "Darwin":
        return f"{'arm64' if machine in ('arm64', 'aarch64') else machine}-apple-darwin"
    if system == "Windows":
        return f"{machine.lower()}-pc-windows-msvc"
    return machine


def _clock_mhz(info: dict[str, str]) -> float | None:
    text = _read(_MAX_FREQ).strip()
    if text.isdigit():
        return round(int(text) / 1000, 1)
    mhz = info.get("cpu mhz")
    if mhz:
        try:
            return round(float(mhz), 1)
        except ValueError:
            pass
    try:
        import psutil

        freq = psutil.cpu_freq()
        if freq and (freq.max or freq.current):
            return round(float(freq.max or freq.current), 1)
    except (OSError, NotImplementedError, AttributeError):
        pass
    return None


def _cpu_model(info: dict[str, str]) -> str:
    for key in ("model name", "cpu model", "model"):
        if info.get(key):
            return info[key]
    part = info.get("cpu part", "").lower()
    if part in _ARM_PARTS:
        return _ARM_PARTS[part]
    return platform.processor() or platform.machine()


def _ram_bytes() -> int:
    total = memtotal_bytes(_read(_MEMINFO))
    if total:
        return total
    import psutil

    return int(psutil.virtual_memory().total)


@functools.lru_cache(maxsize=1)
def measure_host() -> TargetProfile:
    """This machine as a target profile (measured once per process)."""
    info = cpuinfo_fields(_read(_CPUINFO))
    machine = platform.machine() or "unknown"
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine.lower())
    flags = tuple(sorted(set((info.get("flags") or info.get("features") or "").split())))
    triple = _triple(arch)
    return TargetProfile(
        name=HOST,
        summary=f"this machine: {_cpu_model(info)}, measured",
        arch=arch,
        triple=triple,
        cpu=_cpu_model(info),
        cores=os.cpu_count() or 1,
        clock_mhz=_clock_mhz(info),
        ram_bytes=_ram_bytes(),
        dtypes=("float64", "float32", "float16", "int32", "int16", "int8", "uint8"),
        tvm_target=f"llvm -mtriple={triple}",
        cpu_flags=flags,
        source="measured on this machine (/proc/cpuinfo, /proc/meminfo, /sys/devices/system/cpu, psutil)",
        provider="edgeai-core",
    )


__all__ = ["HOST", "cpuinfo_fields", "measure_host", "memtotal_bytes"]
