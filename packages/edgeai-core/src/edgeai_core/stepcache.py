"""A content-addressed cache of the artifacts that models and compile steps make.

A step's key is the SHA-256 of what decides its output: the component's kind, name and validated parameters
(a ``path`` parameter counts by the file's content, not its name), the version of the plugin that provides it,
the digest of its input artifact (none for a model), the dataset it trains or calibrates on, and the run's
seed. Runs that share a key share one computation: the first computes and stores the artifact under
``ROOT/<key>/``, every later one copies it into its own folder. Processes that need the same key at the same
time wait for each other on a file lock (``ROOT/<key>.lock``), so the step runs exactly once.

``ROOT/log.jsonl`` gets one line per use, ``{"key", "step", "kind", "event": "computed" | "reused", ...}``,
which is how a sweep proves what it compiled. The cache is a plain folder: delete it to start afresh, or pass
the same folder to several sweeps to share it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from edgeai_core.artifacts import Artifact, file_sha256, write_json_atomic
from edgeai_core.document import jsonable
from edgeai_core.errors import EdgeaiError

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system: one process at a time is the user's job
    fcntl = None  # type: ignore[assignment]

ENTRY_FILE = "entry.json"
LOG_FILE = "log.jsonl"


def canonical(value: Any) -> str:
    """The JSON text two equal configurations share: sorted keys, no spaces, no NaN."""
    return json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"), allow_nan=False, default=str)


def content_of_paths(params: Mapping[str, Any], path_params: set[str]) -> dict[str, Any]:
    """``params`` with each existing file named by a ``path`` parameter replaced by its SHA-256 (a file's
    content, not its name or place, decides what a step makes)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in path_params and isinstance(value, (str, os.PathLike)) and Path(value).is_file():
            out[name] = {"sha256": file_sha256(Path(value))}
        else:
            out[name] = value
    return out


class StepCache:
    """Artifacts by key under ``root`` (created on first use)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @staticmethod
    def key(
        *,
        kind: str,
        name: str,
        params: Mapping[str, Any],
        version: str | None,
        source: str | None,
        dataset: Mapping[str, Any] | None,
        seed: int,
    ) -> str:
        payload = {
            "kind": kind,
            "name": name,
            "params": dict(params),
            "version": version,
            "source": source,
            "dataset": dict(dataset) if dataset is not None else None,
            "seed": seed,
        }
        return hashlib.sha256(canonical(payload).encode()).hexdigest()[:40]

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Hold ``key`` exclusively (across processes) for a lookup and, on a miss, the computation."""
        self.root.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover
            yield
            return
        with (self.root / f"{key}.lock").open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def get(self, key: str) -> tuple[Artifact, dict[str, Any]] | None:
        """The stored artifact and its entry, or None (a half-written entry counts as absent)."""
        entry_path = self.root / key / ENTRY_FILE
        if not entry_path.is_file():
            return None
        try:
            entry = json.loads(entry_path.read_text(encoding="utf-8"))
            artifact = Artifact.load(self.root / key / entry["artifact"])
            artifact.verify()
        except (OSError, ValueError, KeyError, EdgeaiError):
            return None
        return artifact, entry

    def put(self, key: str, artifact: Artifact, facts: Mapping[str, Any]) -> Artifact:
        """Store a copy of ``artifact`` (its files and sidecar) under ``key``; the entry is written last, so an
        interrupted store is never read as a hit."""
        folder = self.root / key
        if folder.exists():
            for stale in sorted(folder.rglob("*"), reverse=True):
                stale.unlink() if stale.is_file() or stale.is_symlink() else stale.rmdir()
        stored = artifact.copy_to(folder / "artifact")
        if not stored.sidecar.exists():
            write_json_atomic(stored.sidecar, stored.to_json())
        entry = {
            "key": key,
            "artifact": str(stored.path.relative_to(folder)),
            "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **jsonable(dict(facts)),
        }
        write_json_atomic(folder / ENTRY_FILE, entry)
        return stored

    def log(self, key: str, event: str, **facts: Any) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        line = canonical({"key": key, "event": event, "at": time.time(), **facts})
        with (self.root / LOG_FILE).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def read_log(self) -> list[dict[str, Any]]:
        path = self.root / LOG_FILE
        if not path.is_file():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
        return out


__all__ = ["StepCache", "canonical", "content_of_paths"]
