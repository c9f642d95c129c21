"""The model's own memory: what loading the model and running it add to the process that runs the runtime.

The whole-process resident set (``resources.*.rss_bytes``) includes the interpreter and every framework the
process imported, hundreds of megabytes for a model of a few kilobytes. :class:`ModelMemory` measures the
difference the model makes, in the process where the runtime runs (this one for local runs, ``edgeai serve``
for remote ones):

- ``before_load_rss_bytes``: resident set once the runtime component is built (its framework imported),
  just before it loads the model, after a garbage collection and glibc's ``malloc_trim`` (so that memory an
  earlier session freed but the heap kept does not absorb the load); ``after_load_rss_bytes``: just after.
- ``load_bytes`` = after - before: the model's weights, the runtime's session, arenas and caches.
- ``peak_rss_bytes``: the highest resident set from the start of the benchmark (from the end of the load
  when nothing marks the start, ``peak_window`` says which) to its end; ``peak_inference_bytes`` = that
  peak - before. On Linux the peak is the kernel's high-water mark (``VmHWM`` in ``/proc/self/status``),
  reset by writing ``5`` to ``/proc/self/clear_refs`` before loading and at the benchmark's start. Where the
  reset is not permitted (``hwm_reset: false``) the high-water mark covers the whole process lifetime: it is
  reported as ``process_hwm_bytes`` only, and the peak comes from resident-set readings (at the window's
  edges and, locally, the resource sampler's series), which can miss a short spike (``note`` says so).
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

from edgeai_core.document import MemorySection

_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_HWM = re.compile(r"^VmHWM:\s+(\d+)\s+kB", re.MULTILINE)
#: the ``note`` of a section whose high-water mark could not be reset
NO_RESET = (
    "the high-water mark could not be reset (/proc/self/clear_refs is not writable or absent), so it covers "
    "the whole process lifetime; the peak comes from resident-set readings and can miss a short spike"
)


def rss_bytes() -> int | None:
    """This process's resident set, in bytes."""
    try:
        return int(psutil.Process(os.getpid()).memory_info().rss)
    except psutil.Error:
        return None


def hwm_bytes() -> int | None:
    """This process's resident-set high-water mark (Linux ``VmHWM``), or None where the kernel has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open(_STATUS, encoding="ascii", errors="replace") as status:
            found = _HWM.search(status.read())
    except OSError:
        return None
    return int(found.group(1)) * 1024 if found else None


def release_free_memory() -> None:
    """Collect garbage and hand the C heap's free pages back to the kernel (glibc ``malloc_trim``), so that
    memory an earlier session freed (but the heap kept) does not hide what the next load allocates."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, another libc)
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


def reset_hwm() -> bool:
    """Reset the high-water mark to the current resident set; False where that is not permitted."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open(_CLEAR_REFS, "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


@dataclass
class ModelMemory:
    """Call :meth:`before_load`, :meth:`after_load`, then :meth:`start` and :meth:`stop` around the benchmark
    (``start`` may be left out: the window then starts after the load); :meth:`section` is the result."""

    where: str = "host"
    before: int | None = None
    after: int | None = None
    load_peak: int | None = None
    hwm_reset: bool = False
    window: str = "after load"
    start_rss: int | None = None
    peak: int | None = None
    peak_source: str | None = None
    process_hwm: int | None = None

    def before_load(self) -> None:
        release_free_memory()
        self.hwm_reset = reset_hwm()
        self.before = rss_bytes()

    def after_load(self) -> None:
        self.after = rss_bytes()
        self.load_peak = hwm_bytes() if self.hwm_reset else None
        self._mark("after load")

    def start(self) -> None:
        """The benchmark starts now."""
        self._mark("benchmark")

    def _mark(self, window: str) -> None:
        self.window = window
        self.hwm_reset = reset_hwm() and self.hwm_reset
        self.start_rss = rss_bytes()
        self.peak = None

    def stop(self, readings: Iterable[int | None] = ()) -> None:
        """The benchmark ended; ``readings``: resident-set samples taken during it (the resource sampler's)."""
        now = rss_bytes()
        values = [v for v in (self.start_rss, now, *readings) if v is not None]
        hwm = hwm_bytes()
        if self.hwm_reset and hwm is not None:
            self.peak, self.peak_source = max([hwm, *values]), "VmHWM"
        else:
            self.peak, self.peak_source = (max(values) if values else None), "rss readings"
            self.process_hwm = hwm

    def section(self) -> MemorySection:
        """The ``memory`` section of results.json as measured so far (after :meth:`stop`)."""
        before, after, peak = self.before, self.after, self.peak
        return MemorySection(
            where=self.where,
            load_bytes=None if before is None or after is None else after - before,
            peak_inference_bytes=None if before is None or peak is None else peak - before,
            before_load_rss_bytes=before,
            after_load_rss_bytes=after,
            peak_rss_bytes=peak,
            peak_source=self.peak_source,
            peak_window=f"{self.window} to the end of the benchmark",
            hwm_reset=self.hwm_reset,
            load_peak_rss_bytes=self.load_peak,
            process_hwm_bytes=self.process_hwm,
            note=None if self.hwm_reset else NO_RESET,
        )


__all__ = ["NO_RESET", "ModelMemory", "hwm_bytes", "release_free_memory", "reset_hwm", "rss_bytes"]
