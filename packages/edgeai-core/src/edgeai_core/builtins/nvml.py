"""The ``nvml`` resource probe: NVIDIA GPU utilisation, memory and power through NVML.

``pynvml`` (distribution ``nvidia-ml-py``) is imported when the probe is created, never when the plugin
registers, and creating the probe raises when the module, the driver or a GPU is missing: the runner then
leaves it out and records why under ``resources.host.probes_absent``. Readings per GPU ``i`` (``gpu0_...``):
``util_percent``, ``memory_util_percent``, ``memory_used_bytes``, ``memory_total_bytes`` and, where the
board reports it, ``power_w``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from edgeai_core.components import Context, ResourceProbe
from edgeai_core.errors import EdgeaiError
from edgeai_core.records import Registration

INSTALL_HINT = "pip install nvidia-ml-py (and an NVIDIA driver)"


class NvmlUnavailable(EdgeaiError):
    """NVML cannot be used here: no module, no driver or no GPU."""


def load_nvml() -> Any:
    """The initialised ``pynvml`` module, or :class:`NvmlUnavailable` saying what is missing."""
    try:
        import pynvml
    except ImportError:
        raise NvmlUnavailable(f"NVML Python bindings are not installed ({INSTALL_HINT})") from None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml.NVMLError_LibraryNotFound, _DriverNotLoaded, ...
        raise NvmlUnavailable(f"NVML could not start: {exc}") from None
    return pynvml


class NvmlProbe(ResourceProbe):
    """Samples every visible NVIDIA GPU."""

    def __init__(
        self, *, record: Registration, params: Mapping[str, Any], context: Context | None = None
    ) -> None:
        super().__init__(record=record, params=params, context=context)
        self._nvml = load_nvml()
        count = int(self._nvml.nvmlDeviceGetCount())
        if count == 0:
            self._nvml.nvmlShutdown()
            raise NvmlUnavailable("NVML reports no GPU")
        self._handles = [self._nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        self._power = [True] * count

    def sample(self) -> dict[str, float]:
        nvml = self._nvml
        out: dict[str, float] = {}
        for i, handle in enumerate(self._handles):
            util = nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            out[f"gpu{i}_util_percent"] = float(util.gpu)
            out[f"gpu{i}_memory_util_percent"] = float(util.memory)
            out[f"gpu{i}_memory_used_bytes"] = float(memory.used)
            out[f"gpu{i}_memory_total_bytes"] = float(memory.total)
            if self._power[i]:
                try:
                    out[f"gpu{i}_power_w"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
                except Exception:  # not supported on this board: stop asking
                    self._power[i] = False
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()
