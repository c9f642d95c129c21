"""An ARM-format ``/proc/cpuinfo`` for the guest.

QEMU user mode shows an aarch64 process the host's x86 ``/proc/cpuinfo``; ONNX Runtime's CPU detection
(cpuinfo) crashes on it (the guest gets SIGSEGV at import). ``edgeai target start`` bind-mounts this file over
``ROOTFS/proc/cpuinfo``. It describes Arm Neoverse-N1 cores with the ARMv8.2 features QEMU's default ``max`` CPU
also has; the number of processors is the host's.
"""

from __future__ import annotations

import os

FEATURES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
)


def arm_cpuinfo(processors: int | None = None) -> str:
    count = max(1, processors if processors is not None else (os.cpu_count() or 1))
    blocks = [
        f"processor\t: {i}\n"
        "BogoMIPS\t: 50.00\n"
        f"Features\t: {FEATURES}\n"
        "CPU implementer\t: 0x41\n"
        "CPU architecture: 8\n"
        "CPU variant\t: 0x3\n"
        "CPU part\t: 0xd0c\n"
        "CPU revision\t: 1\n"
        for i in range(count)
    ]
    return "\n".join(blocks) + "\n"


__all__ = ["FEATURES", "arm_cpuinfo"]
