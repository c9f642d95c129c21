"""Mounts inside the root filesystem, with bookkeeping so that nothing stays mounted.

A target needs ``/proc`` and ``/sys`` inside ``ROOTFS`` and an ARM-format cpuinfo bind-mounted over
``ROOTFS/proc/cpuinfo`` (see :mod:`edgeai_emulator.cpuinfo`). Each mount is recorded in the state file before
the next one; :meth:`Mounts.release` unmounts everything under ``ROOTFS`` that the kernel lists
(``/proc/self/mountinfo``), newest first, whether or not the state file knows it (a lazy unmount when a plain
one fails), so ``edgeai target stop`` also cleans up after a crash.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from edgeai_emulator.state import TargetError, TargetState

MOUNTINFO = Path("/proc/self/mountinfo")
Runner = Callable[[list[str]], "tuple[int, str]"]
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def mounted_under(root: Path, mountinfo: Path = MOUNTINFO) -> list[str]:
    """Mount points at or below ``root``, in the order the kernel lists them (oldest first)."""
    base = str(Path(root).resolve())
    points: list[str] = []
    try:
        lines = mountinfo.read_text(encoding="utf-8").splitlines()
    except OSError:
        return points
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if point == base or point.startswith(base + "/"):
            points.append(point)
    return points


def run_command(command: list[str]) -> tuple[int, str]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.returncode, (done.stderr or done.stdout).strip()


class Mounts:
    """The target's mounts: :meth:`ensure` mounts what is missing, :meth:`release` unmounts everything."""

    def __init__(
        self,
        rootfs: Path,
        state: TargetState,
        save: Callable[[], None],
        *,
        run: Runner = run_command,
        mountinfo: Path = MOUNTINFO,
    ) -> None:
        self.rootfs = Path(rootfs).resolve()
        self.state = state
        self.save = save
        self.run = run
        self.mountinfo = mountinfo

    def plan(self, cpuinfo: Path) -> list[tuple[list[str], Path]]:
        """``(mount arguments, mount point)`` in mounting order."""
        return [
            (["-t", "proc", "proc"], self.rootfs / "proc"),
            (["-t", "sysfs", "sysfs"], self.rootfs / "sys"),
            (["--bind", str(Path(cpuinfo).resolve())], self.rootfs / "proc" / "cpuinfo"),
        ]

    def ensure(self, cpuinfo: Path) -> None:
        """Mount what is not mounted yet; on a failure unmount what this call mounted, then raise."""
        present = set(mounted_under(self.rootfs, self.mountinfo))
        try:
            for args, point in self.plan(cpuinfo):
                if str(point) in present:
                    continue
                self.state.mounts.append(str(point))  # recorded first: a crash right after leaves a trace
                self.save()
                code, message = self.run(["mount", *args, str(point)])
                if code != 0:
                    self.state.mounts.remove(str(point))
                    self.save()
                    raise TargetError(f"mount {' '.join(args)} {point} failed: {message or f'exit {code}'}")
        except BaseException:
            self.release()
            raise

    def release(self) -> list[str]:
        """Unmount everything under the root filesystem, newest first; return the ones that stayed mounted."""
        known = list(self.state.mounts)
        listed = mounted_under(self.rootfs, self.mountinfo)
        order = list(reversed(listed)) + [p for p in reversed(known) if p not in listed]
        stuck: list[str] = []
        for point in order:
            if point not in listed:  # only in the state file: already gone
                continue
            code, _ = self.run(["umount", point])
            if code != 0:
                code, _ = self.run(["umount", "-l", point])
                if code != 0:
                    stuck.append(point)
        self.state.mounts = stuck
        self.save()
        return stuck


__all__ = ["MOUNTINFO", "Mounts", "mounted_under", "run_command"]
