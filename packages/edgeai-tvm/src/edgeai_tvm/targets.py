"""Target presets, cross toolchains and ELF checks: pure Python, so the plugin module may read them.

A TVM target is a dict (TVM 0.27 rejects ``"llvm -mcpu=..."`` strings). The presets name the common cases;
``target_options`` is merged over the preset, so ``{"mcpu": "cortex-a72"}`` refines ``aarch64`` and a dict with
its own ``mtriple`` describes any other LLVM target.

Cross compilation means two things: LLVM emits object code for the triple (TVM does that itself) and a C++
cross toolchain links it into a shared library. The toolchain is the only thing a host may lack, so the error
for a missing one names the Debian package that brings it.
"""

from __future__ import annotations

import platform
import shutil
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeai_core.api import ArtifactError, EdgeaiError, ParameterError

#: Named targets. ``llvm`` is this machine's architecture with a generic CPU (portable to its siblings).
PRESETS: dict[str, dict[str, Any]] = {
    "llvm": {"kind": "llvm"},
    "aarch64": {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mcpu": "generic", "mattr": ["+neon"]},
    "armv7": {
        "kind": "llvm",
        "mtriple": "armv7a-linux-gnueabihf",
        "mcpu": "generic",
        "mattr": ["+neon", "+vfp4", "+thumb2"],
    },
}

#: ELF ``e_machine`` values of the architectures edgeai knows by name.
ELF_MACHINES = {3: "x86", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv"}


@dataclass(frozen=True)
class Toolchain:
    """The C++ compiler that links objects for one architecture, and the Debian package that brings it."""

    arch: str
    compiler: str
    package: str


#: Cross toolchains by architecture (the ``arch`` of :func:`triple_arch`).
TOOLCHAINS = {
    "aarch64": Toolchain("aarch64", "aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu"),
    "arm": Toolchain("arm", "arm-linux-gnueabihf-g++", "g++-arm-linux-gnueabihf"),
    "riscv": Toolchain("riscv", "riscv64-linux-gnu-g++", "g++-riscv64-linux-gnu"),
}


def resolve_target(preset: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The TVM target dict of a preset with ``options`` merged over it (``options`` wins key by key)."""
    base = PRESETS.get(preset)
    if base is None:  # the record declares a choice; this guards direct callers
        raise ParameterError("tvm.target", f"must be one of {', '.join(PRESETS)}, got {preset!r}")
    target = {key: list(value) if isinstance(value, list) else value for key, value in base.items()}
    target.update(options or {})
    return target


def host_arch() -> str:
    """This machine's architecture in :func:`triple_arch`'s terms."""
    return normalize_arch(platform.machine())


def normalize_arch(name: str) -> str:
    name = name.lower()
    if name in ("x86_64", "amd64", "x64"):
        return "x86_64"
    if name in ("aarch64", "arm64", "aarch64_be"):
        return "aarch64"
    if name.startswith(("arm", "thumb")):
        return "arm"
    if name in ("i386", "i486", "i586", "i686", "x86"):
        return "x86"
    if name.startswith("riscv"):
        return "riscv"
    return name


def triple_arch(triple: str) -> str:
    """The architecture of an LLVM triple (``armv7a-linux-gnueabihf`` -> ``arm``)."""
    return normalize_arch(triple.split("-", 1)[0])


def target_arch(target: Mapping[str, Any], tvm_triple: str | None = None) -> str:
    """The architecture a target dict compiles for; without ``mtriple`` it is TVM's default (this host)."""
    triple = target.get("mtriple") or tvm_triple
    return triple_arch(str(triple)) if triple else host_arch()


def find_linker(arch: str, cross_compiler: str | Path | None) -> tuple[str | None, Toolchain | None]:
    """The compiler that links a library for ``arch``: ``(path, toolchain)``.

    ``path`` is None for the host's default linker (TVM then picks ``$CXX``, g++, gcc, clang++...). Raises
    with the exact package to install when a cross toolchain is missing.
    """
    if cross_compiler is not None:
        found = shutil.which(str(cross_compiler))
        if found is None:
            raise EdgeaiError(
                f"compiler tvm: cross_compiler '{cross_compiler}' is not an executable on PATH; install it "
                "or give its full path"
            )
        return found, TOOLCHAINS.get(arch)
    if arch == host_arch():
        return None, None
    toolchain = TOOLCHAINS.get(arch)
    if toolchain is None:
        raise EdgeaiError(
            f"compiler tvm: no known cross toolchain links {arch} libraries; set cross_compiler to a C++ "
            f"compiler for {arch}"
        )
    found = shutil.which(toolchain.compiler)
    if found is None:
        raise EdgeaiError(
            f"compiler tvm: linking the {arch} library needs the cross compiler {toolchain.compiler}, which is "
            f"not installed: apt-get install {toolchain.package} (or set cross_compiler)"
        )
    return found, toolchain


def host_linker_available() -> bool:
    """Whether TVM finds a C/C++ compiler to link host libraries with (its own search order)."""
    import os

    if os.environ.get("CXX") or os.environ.get("CC"):
        return True
    return any(shutil.which(name) for name in ("g++", "gcc", "clang++", "clang", "c++", "cc"))


def elf_arch(path: Path) -> str:
    """The architecture of an ELF file from its header (``e_machine``), or ArtifactError if it is no ELF."""
    try:
        with Path(path).open("rb") as handle:
            header = handle.read(20)
    except OSError as exc:
        raise ArtifactError(f"{path} is unreadable: {exc.strerror or exc}") from None
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise ArtifactError(
            f"{path} is not a shared library (no ELF header); it was not written by compiler tvm"
        )
    order = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(order + "H", header[18:20])
    return ELF_MACHINES.get(machine, f"elf-machine-{machine}")
