"""Helpers of the wire-protocol tests: start `edgeai serve` as a real subprocess, and link two serial
ports through a relay of two pseudo-terminal pairs (which can corrupt bytes on purpose)."""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

EDGEAI_BIN = Path(sys.executable).parent / "edgeai"


def edgeai_command() -> list[str]:
    """The `edgeai` console script next to this interpreter, else `python -m edgeai_core`."""
    if EDGEAI_BIN.exists():
        return [str(EDGEAI_BIN)]
    return [sys.executable, "-m", "edgeai_core"]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    env["EDGEAI_LOAD_PLUGINS"] = ""  # only the core's built-ins: fast and independent of other packages
    return env


class Server:
    """A running `edgeai serve` subprocess and its listening event."""

    def __init__(self, proc: subprocess.Popen[str], event: dict[str, Any], stderr: Path) -> None:
        self.proc = proc
        self.event = event
        self.stderr_path = stderr

    @property
    def port(self) -> int:
        return int(self.event["port"])

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(args: Sequence[str], workdir: Path, *, timeout: float = 60.0) -> Server:
    """Start `edgeai serve ARGS --workdir WORKDIR` and wait for its listening line."""
    workdir.mkdir(parents=True, exist_ok=True)
    stderr = workdir.parent / f"{workdir.name}.stderr.txt"
    handle = stderr.open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [*edgeai_command(), "serve", *args, "--workdir", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=handle,
        stdin=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    handle.close()
    assert proc.stdout is not None
    ready: list[str] = []
    reader = threading.Thread(target=lambda: ready.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not ready or not ready[0]:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"edgeai serve did not start: {stderr.read_text(encoding='utf-8')}")
    event = json.loads(ready[0])
    assert event["event"] == "listening", event
    return Server(proc, event, stderr)


@contextmanager
def serving(args: Sequence[str], workdir: Path) -> Iterator[Server]:
    server = start_server(args, workdir)
    try:
        yield server
    finally:
        server.stop()


class PtyLink:
    """Two serial ports (pty slaves) joined by a relay thread between their masters.

    ``corrupt_every`` > 0 flips one random bit in every n-th chunk the relay forwards, to exercise CRC
    and retransmission. ``device_a``/``device_b`` are the paths to hand to the two sides.
    """

    def __init__(self, corrupt_every: int = 0, seed: int = 0) -> None:
        self.master_a, self.slave_a = os.openpty()
        self.master_b, self.slave_b = os.openpty()
        for fd in (self.slave_a, self.slave_b):
            tty.setraw(fd)  # no echo, no line editing, before anybody opens the ports
        self.device_a = os.ttyname(self.slave_a)
        self.device_b = os.ttyname(self.slave_b)
        self.corrupt_every = corrupt_every
        self.rng = random.Random(seed)
        self.chunks = 0
        self.corrupted = 0
        self.forwarded = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, name="pty-relay", daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        peers = {self.master_a: self.master_b, self.master_b: self.master_a}
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select(list(peers), [], [], 0.05)
            except (OSError, ValueError):
                return
            for fd in readable:
                try:
                    data = bytearray(os.read(fd, 65536))
                except OSError:  # the slave side is not open right now
                    time.sleep(0.01)
                    continue
                self.chunks += 1
                if self.corrupt_every and self.chunks % self.corrupt_every == 0 and data:
                    position = self.rng.randrange(len(data) * 8)
                    data[position // 8] ^= 1 << (position % 8)
                    self.corrupted += 1
                view = memoryview(data)
                while view:
                    try:
                        written = os.write(peers[fd], view)
                    except BlockingIOError:
                        time.sleep(0.001)
                        continue
                    except OSError:
                        break
                    view = view[written:]
                self.forwarded += len(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self.master_a, self.master_b, self.slave_a, self.slave_b):
            with suppress(OSError):
                os.close(fd)


# -- a raw client that speaks frames by hand (fuzzing, misbehaving hosts) ------------------------------


class RawClient:
    """Frames over a plain socket, without the library's client logic, recording every byte it sends."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rid = 0
        self.sent = bytearray()

    def frame(self, type: int, payload: bytes = b"", *, flags: int = 0, crc: bool = False) -> bytes:
        from edgeai_core.wire.framing import encode_frame

        self.rid += 1
        return encode_frame(type, payload, request_id=self.rid, flags=flags, crc=crc)

    def send(self, data: bytes) -> None:
        self.sent += data
        self.sock.sendall(data)

    def _exactly(self, n: int) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < n:
            try:
                chunk = self.sock.recv(n - len(chunks))
            except (ConnectionResetError, BrokenPipeError):
                return None
            if not chunk:
                return None
            chunks += chunk
        return bytes(chunks)

    def read(self) -> tuple[Any, bytes] | None:
        """The next frame as (header, payload), or None when the server closed the connection."""
        from edgeai_core.wire.framing import HEADER_SIZE, decode_header

        head = self._exactly(HEADER_SIZE)
        if head is None:
            return None
        header = decode_header(head)
        payload = self._exactly(header.length) if header.length else b""
        if payload is None:
            return None
        return header, payload

    def request(self, type: int, payload: bytes = b"", **kw: Any) -> tuple[Any, bytes]:
        self.send(self.frame(type, payload, **kw))
        reply = self.read()
        assert reply is not None, "the server closed the connection"
        return reply

    def hello(self) -> Any:
        from edgeai_core.wire import messages as msg
        from edgeai_core.wire.framing import MessageType

        header, payload = self.request(MessageType.HELLO, msg.Hello(nonce=os.urandom(16)).encode())
        assert header.type == MessageType.HELLO, error_of(payload)
        return msg.HelloReply.decode(payload)

    def shutdown_write(self) -> None:
        import socket

        self.sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


def error_of(payload: bytes) -> tuple[int, str]:
    from edgeai_core.wire import messages as msg

    return msg.decode_error(payload)


# -- a small npz-mlp model and its numpy reference -----------------------------------------------------


def write_mlp(path: Path, features: int = 6, hidden: int = 8, classes: int = 3, seed: int = 0) -> Any:
    """An npz-mlp artifact with seeded weights (no training needed)."""
    import numpy as np

    from edgeai_core.artifacts import Artifact
    from edgeai_core.builtins.mlp import io_spec

    rng = np.random.default_rng(seed)
    np.savez(
        path,
        **{
            "layer0.weight": rng.standard_normal((features, hidden)).astype(np.float32),
            "layer0.bias": rng.standard_normal(hidden).astype(np.float32),
            "layer1.weight": rng.standard_normal((hidden, classes)).astype(np.float32),
            "layer1.bias": rng.standard_normal(classes).astype(np.float32),
        },
    )
    return Artifact(path, "npz-mlp", io_spec((features,), classes), producer="test").save()


def reference(artifact: Any, x: Any) -> Any:
    from edgeai_core.builtins.mlp import _layers, forward, read_npz

    return forward(_layers(read_npz(artifact.path)), x)


def upload_raw(client: RawClient, artifact: Any, name: str | None = None) -> tuple[Any, bytes]:
    """IOSPEC then a one-chunk MODEL by hand; return the MODEL reply."""
    from edgeai_core.wire import messages as msg
    from edgeai_core.wire.framing import MessageType

    header, payload = client.request(MessageType.IOSPEC, msg.encode_json(artifact.to_json()))
    assert header.type == MessageType.OK, error_of(payload)
    data = artifact.path.read_bytes()
    name = artifact.path.name if name is None else name
    return client.request(MessageType.MODEL, msg.encode_model_head(len(data), name) + data)
