"""The target folder's state file (``DIR/edgeai-target.json``): what was built, the mounts, the servers.

Every command reads it first and writes it after each change, so ``start``, ``stop`` and ``status`` work from
the folder alone. ``stage`` is the last build stage that completed (:data:`STAGES`); a folder whose stage is
not ``complete`` is half-built, and ``failed`` says which stage failed and why.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.api import EdgeaiError

STATE_FILE = "edgeai-target.json"
FORMAT = 1
#: build stages in order; ``stage`` holds the last one completed
STAGES = ("rootfs", "venv", "packages", "complete")
#: paths inside the root filesystem
GUEST_HOME = "/opt/edgeai"
GUEST_VENV = f"{GUEST_HOME}/venv"


class TargetError(EdgeaiError):
    """A target folder, its prerequisites or its server is not as a command needs it (one line, what to do)."""


@dataclass
class ServerEntry:
    """One running ``edgeai serve`` inside the target."""

    runtime: str
    pid: int
    port: int
    token_file: str
    log: str
    started_at: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServerEntry:
        return cls(
            runtime=str(data["runtime"]),
            pid=int(data["pid"]),
            port=int(data["port"]),
            token_file=str(data["token_file"]),
            log=str(data["log"]),
            started_at=str(data.get("started_at", "")),
        )


@dataclass
class TargetState:
    """What ``DIR/edgeai-target.json`` holds."""

    arch: str
    suite: str
    mirror: str
    runtimes: list[str]
    created_at: str
    stage: str = ""
    failed: dict[str, str] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    mounts: list[str] = field(default_factory=list)
    servers: dict[str, ServerEntry] = field(default_factory=dict)
    format: int = FORMAT
    #: the instruction counter installed in the target (edgeai_emulator.counter), None without one
    counter: dict[str, str] | None = None

    @property
    def complete(self) -> bool:
        return self.stage == "complete"

    def describe_incomplete(self, folder: Path) -> str:
        """One line naming what is missing in a half-built folder and what to do."""
        done = self.stage or "nothing"
        why = f"; stage '{self.failed['stage']}' failed: {self.failed['error']}" if self.failed else ""
        return (
            f"{folder} is a half-built target (last completed stage: {done}{why}); "
            f"continue with `edgeai target create {self.arch} {folder} --resume` or remove the folder"
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["servers"] = {name: asdict(entry) for name, entry in self.servers.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TargetState:
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        stage = str(data.get("stage", ""))
        if stage and stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}")
        return cls(
            arch=str(data["arch"]),
            suite=str(data["suite"]),
            mirror=str(data["mirror"]),
            runtimes=[str(r) for r in data["runtimes"]],
            created_at=str(data["created_at"]),
            stage=stage,
            failed=None if data.get("failed") is None else {k: str(v) for k, v in data["failed"].items()},
            versions={str(k): str(v) for k, v in (data.get("versions") or {}).items()},
            mounts=[str(m) for m in data.get("mounts") or []],
            servers={str(k): ServerEntry.from_json(v) for k, v in (data.get("servers") or {}).items()},
            counter=None if not data.get("counter") else {str(k): str(v) for k, v in data["counter"].items()},
        )


def state_path(folder: Path) -> Path:
    return Path(folder) / STATE_FILE


def rootfs_of(folder: Path) -> Path:
    return Path(folder) / "rootfs"


def load_state(folder: Path) -> TargetState:
    """The folder's state; one-line :class:`TargetError` when it is missing or corrupt."""
    path = state_path(folder)
    if not path.is_file():
        if Path(folder).is_dir() and any(Path(folder).iterdir()):
            raise TargetError(
                f"{folder} is not an edgeai target (no {STATE_FILE}); remove it or pick another folder"
            )
        raise TargetError(
            f"{folder} is not an edgeai target (no {STATE_FILE}); "
            f"create one with `edgeai target create aarch64 {folder}`"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return TargetState.from_json(data)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TargetError(
            f"{path} is corrupt ({exc}); run `edgeai target stop {folder}`, then remove the folder "
            "and create the target again"
        ) from None


def save_state(folder: Path, state: TargetState) -> None:
    """Write the state file atomically (a crash leaves the old one or the new one)."""
    path = state_path(folder)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = [
    "GUEST_HOME",
    "GUEST_VENV",
    "STAGES",
    "STATE_FILE",
    "ServerEntry",
    "TargetError",
    "TargetState",
    "load_state",
    "rootfs_of",
    "save_state",
    "state_path",
]
