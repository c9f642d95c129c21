"""Starting a target server on this machine: ``edgeai serve`` as a child process, for demos and tests.

:func:`start_local_server` starts ``edgeai serve --protocol tcp --port 0`` with a fresh token, waits for its
``listening`` line and returns a :class:`LocalServer` handle: its address, the ``[target]`` table a pipeline
config needs to reach it, and :meth:`LocalServer.stop`. The server's log goes to a file next to the token.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeai_core.errors import EdgeaiError

LOOPBACK = "127.0.0.1"


@dataclass
class LocalServer:
    """A running ``edgeai serve`` child process listening on ``host:port``."""

    process: subprocess.Popen[str]
    runtime: str
    host: str
    port: int
    token_file: Path
    log_path: Path

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def target_table(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """The ``[target]`` table of a pipeline config that runs its runtime on this server."""
        return {"protocol": "tcp", "host": self.host, "port": self.port, "token_file": str(self.token_file),
                "timeout_s": timeout_s}  # fmt: skip

    def stop(self, grace_s: float = 2.0) -> None:
        """Wait ``grace_s`` for the server to exit by itself (``--once``), then terminate it (kill if needed)."""
        _stop(self.process, grace_s)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_local_server(
    runtime: str,
    folder: Path,
    *,
    once: bool = True,
    timeout_s: float = 120.0,
    extra_args: Sequence[str] = (),
) -> LocalServer:
    """Start ``edgeai serve --protocol tcp --runtime RUNTIME --port 0`` on the loopback interface.

    ``folder`` receives the token (``target.token``), the log (``target.log``) and the server's work folder
    (``target/``). With ``once`` the server exits after its first session. Raises :class:`EdgeaiError`
    naming the log's last line when it does not report listening within ``timeout_s``.
    """
    from edgeai_core.wire.auth import write_token

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    token = folder / "target.token"
    write_token(token)
    log_path = folder / "target.log"
    command = [sys.executable, "-m", "edgeai_core", "serve", "--protocol", "tcp", "--runtime", runtime,
               "--port", "0", "--token-file", str(token), "--workdir", str(folder / "target"),
               *(["--once"] if once else []), *extra_args]  # fmt: skip
    with log_path.open("w", encoding="utf-8") as log_file:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL, text=True
        )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout_s)
    try:
        event = json.loads(lines[0]) if lines and lines[0] else None
    except json.JSONDecodeError:
        event = None
    if not isinstance(event, dict) or event.get("event") != "listening":
        _stop(proc, 0.0)
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or [
            "no output"
        ]
        raise EdgeaiError(f"the local target (edgeai serve) did not start: {tail[0]} (log: {log_path})")
    return LocalServer(proc, runtime, LOOPBACK, int(event["port"]), token, log_path)


def _stop(proc: subprocess.Popen[str], grace_s: float) -> None:
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()
