"""Prerequisites of an emulated target, each checked with a one-line error naming the fix.

Root (mount, chroot, debootstrap), the tools (``debootstrap``; ``qemu-aarch64-static`` from qemu-user-static;
``update-binfmts`` from binfmt-support), binfmt_misc mounted and ``qemu-aarch64`` registered and enabled in it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from edgeai_emulator.state import TargetError

#: where the kernel's binfmt_misc file system is mounted
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
#: tool -> the Debian package that brings it
CREATE_TOOLS = {
    "debootstrap": "debootstrap",
    "qemu-aarch64-static": "qemu-user-static",
    "update-binfmts": "binfmt-support",
    "chroot": "coreutils",
    "mount": "mount",
}
START_TOOLS = {"chroot": "coreutils", "mount": "mount", "umount": "mount"}
APT_ALL = "apt-get install -y qemu-user-static binfmt-support debootstrap"


def check_root(euid: int | None = None) -> None:
    if (os.geteuid() if euid is None else euid) != 0:
        raise TargetError(
            "an emulated target needs root (debootstrap, mount, chroot): run the command as root or with sudo"
        )


def check_tools(tools: Mapping[str, str], path: str | None = None) -> None:
    """Every tool on ``PATH`` (or ``path``); the error names all missing ones and one ``apt-get install``."""
    missing = {tool: pkg for tool, pkg in tools.items() if shutil.which(tool, path=path) is None}
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        raise TargetError(f"{', '.join(missing)} not found on PATH: apt-get install -y {packages} (as root)")


def check_binfmt(
    binfmt_dir: Path = BINFMT_DIR,
    *,
    fix: bool = False,
    run: Callable[[list[str]], int] | None = None,
) -> None:
    """binfmt_misc mounted and ``qemu-aarch64`` enabled; with ``fix`` (as root) mount/enable it first."""
    runner = run or _run_quietly
    status = binfmt_dir / "status"
    if not status.exists() and fix:
        runner(["mount", "binfmt_misc", "-t", "binfmt_misc", str(binfmt_dir)])
    if not status.exists():
        raise TargetError(
            f"binfmt_misc is not mounted: mount binfmt_misc -t binfmt_misc {binfmt_dir} (as root)"
        )
    entry = binfmt_dir / "qemu-aarch64"
    if not _enabled(entry) and fix and shutil.which("update-binfmts"):
        runner(["update-binfmts", "--enable", "qemu-aarch64"])
    if not entry.exists():
        raise TargetError(
            "qemu-aarch64 is not registered with binfmt_misc: apt-get install -y qemu-user-static "
            "binfmt-support, then update-binfmts --enable qemu-aarch64 (as root)"
        )
    if not _enabled(entry):
        raise TargetError("qemu-aarch64 is disabled in binfmt_misc: update-binfmts --enable qemu-aarch64")
    flags = _field(entry, "flags:")
    if "F" not in flags:
        raise TargetError(
            "qemu-aarch64 is registered without the F (fix binary) flag, so it cannot run inside a chroot: "
            "use the qemu-user-static package's registration (update-binfmts --enable qemu-aarch64)"
        )


def _enabled(entry: Path) -> bool:
    try:
        return entry.read_text(encoding="utf-8").splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def _field(entry: Path, name: str) -> str:
    try:
        for line in entry.read_text(encoding="utf-8").splitlines():
            if line.startswith(name):
                return line[len(name) :].strip()
    except OSError:
        pass
    return ""


def _run_quietly(command: list[str]) -> int:
    return subprocess.run(command, capture_output=True, check=False).returncode


__all__ = [
    "APT_ALL",
    "BINFMT_DIR",
    "CREATE_TOOLS",
    "START_TOOLS",
    "check_binfmt",
    "check_root",
    "check_tools",
]
