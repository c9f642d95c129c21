"""Whether a target server runs under an emulator, and its instruction set: facts for results.json.

``edgeai target start`` (edgeai-emulator) starts ``edgeai serve`` with ``EDGEAI_TARGET_EMULATED=<emulator>`` in
its environment; the server adds :func:`emulation_facts` to the machine facts it reports (STATS), and the host
copies ``emulated`` and ``isa`` into ``provenance.target``. Latency measured on an emulated target is emulated
time, never device time (the report says so).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any

#: set in a target server's environment by whatever emulates it (e.g. ``qemu-user``)
EMULATED_ENV = "EDGEAI_TARGET_EMULATED"
#: how the report labels latency measured on an emulated target
EMULATED_TIME_LABEL = "emulated time (not device time)"


def emulation_facts(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{"isa": platform.machine()}`` plus ``emulated`` and ``emulator`` when the environment says so."""
    env = os.environ if environ is None else environ
    emulator = env.get(EMULATED_ENV, "").strip()
    facts: dict[str, Any] = {"isa": platform.machine(), "emulated": bool(emulator)}
    if emulator:
        facts["emulator"] = emulator
    return facts


def is_emulated(document: Mapping[str, Any]) -> bool:
    """Whether a results.json document was measured on an emulated target."""
    target = (document.get("provenance") or {}).get("target") or {}
    return bool(target.get("emulated"))


__all__ = ["EMULATED_ENV", "EMULATED_TIME_LABEL", "emulation_facts", "is_emulated"]
