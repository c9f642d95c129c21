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


def cross_architecture(
    fidelity: Mapping[str, Any], target: Mapping[str, Any] | None, host_isa: str | None
) -> dict[str, Any] | None:
    """The final runtime's fidelity entry restated as "same answers on another ISA": for a target whose ISA
    differs from the host's, or that is emulated. None for local runs and same-ISA native targets.

    The reference ran on the host (``fidelity.reference``), the runtime on the target, on the same inputs:
    ``top1_agreement`` is the class agreement and ``max_abs_diff`` the largest output difference between them.
    """
    if not target or not target.get("isa"):
        return None
    isa, emulated = str(target["isa"]), bool(target.get("emulated"))
    if isa == host_isa and not emulated:
        return None
    steps = [s for s in fidelity.get("steps") or [] if s.get("kind") == "runtime"]
    if not steps:
        return None
    step = steps[-1]
    return {
        "host_isa": host_isa,
        "target_isa": isa,
        "emulated": emulated,
        "step": step.get("step"),
        "status": step.get("status"),
        "samples": step.get("samples"),
        "top1_agreement": step.get("top1_agreement"),
        "max_abs_diff": step.get("max_abs_diff"),
        "within_tolerance": step.get("within_tolerance"),
    }


def is_emulated(document: Mapping[str, Any]) -> bool:
    """Whether a results.json document was measured on an emulated target."""
    target = (document.get("provenance") or {}).get("target") or {}
    return bool(target.get("emulated"))


__all__ = ["EMULATED_ENV", "EMULATED_TIME_LABEL", "cross_architecture", "emulation_facts", "is_emulated"]
