"""The ``tcp`` protocol: the wire protocol over TCP, with TCP_NODELAY and zero-copy-ish bulk transfers.

Sends are one ``sendmsg`` of the header and the payload's buffers (no concatenation); model files go out with
``sendfile``. On Linux, timeouts are the kernel's (``SO_RCVTIMEO``/``SO_SNDTIMEO``) on a blocking socket, so
a receive is one system call instead of Python's poll-then-receive.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import select
import socket
import struct
import sys
from collections.abc import Sequence
from typing import Any, BinaryIO

from edgeai_core.components import Protocol, Stream
from edgeai_core.errors import RuntimeFailure, UsageError

log = logging.getLogger(__name__)

DEFAULT_PORT = 7575
_KERNEL_TIMEOUTS = sys.platform.startswith("linux") and hasattr(socket, "SO_RCVTIMEO")


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


class TcpStream(Stream):
    """A connected TCP socket."""

    reliable = True
    chunk_bytes = 64 << 20

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self._sock = sock
        self._peer = peer
        if sock.family in (socket.AF_INET, socket.AF_INET6):  # (tests also use Unix socket pairs)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if _KERNEL_TIMEOUTS:
            sock.settimeout(None)
        self._closed = False

    @property
    def socket(self) -> socket.socket:
        return self._sock

    def describe(self) -> str:
        return f"tcp {self._peer}"

    def settimeout(self, seconds: float | None) -> None:
        if not _KERNEL_TIMEOUTS:
            self._sock.settimeout(seconds)
            return
        if seconds is None:
            packed = struct.pack("ll", 0, 0)  # 0: wait forever
        else:
            usec = max(1, round(seconds * 1e6))
            packed = struct.pack("ll", usec // 1_000_000, usec % 1_000_000)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, packed)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, packed)

    def send(self, *parts: bytes | bytearray | memoryview) -> None:
        try:
            sent = self._sock.sendmsg(parts)
        except BlockingIOError:
            raise TimeoutError(f"{self.describe()}: the peer takes no data") from None
        total = 0
        for part in parts:
            total += len(part)
        if sent < total:
            self._send_rest(parts, sent)

    def sendv(self, parts: list[bytes | bytearray | memoryview], total: int) -> None:
        """:meth:`send` for callers that know the total size (the connection's hot path)."""
        try:
            sent = self._sock.sendmsg(parts)
        except BlockingIOError:
            raise TimeoutError(f"{self.describe()}: the peer takes no data") from None
        if sent < total:
            self._send_rest(parts, sent)

    def _send_rest(self, parts: Sequence[bytes | bytearray | memoryview], sent: int) -> None:
        views = []
        for part in parts:
            size = len(part)
            if sent >= size:
                sent -= size
                continue
            views.append(memoryview(part)[sent:] if sent else memoryview(part))
            sent = 0
        while views:
            try:
                n = self._sock.sendmsg(views)
            except BlockingIOError:
                raise TimeoutError(f"{self.describe()}: the peer takes no data") from None
            while views and n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            if n:
                views[0] = views[0][n:]

    def send_file(self, file: BinaryIO, offset: int, count: int) -> None:
        try:
            source = file.fileno()
        except (AttributeError, OSError):
            super().send_file(file, offset, count)
            return
        if not hasattr(os, "sendfile") or not _KERNEL_TIMEOUTS:
            super().send_file(file, offset, count)
            return
        out = self._sock.fileno()
        while count > 0:
            try:
                n = os.sendfile(out, source, offset, min(count, 1 << 30))
            except BlockingIOError:
                raise TimeoutError(f"{self.describe()}: the peer takes no data") from None
            if not n:
                raise OSError(f"{getattr(file, 'name', 'file')} ended {count} bytes early")
            offset += n
            count -= n

    def recv_into(self, buffer: memoryview) -> int:
        try:
            return self._sock.recv_into(buffer)
        except BlockingIOError:
            raise TimeoutError(f"{self.describe()}: no reply within the timeout") from None
        except ConnectionResetError:
            return 0

    def pending(self) -> bool:
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return bool(readable)

    def shutdown_write(self) -> None:
        """Half-close: the peer reads end-of-stream, replies can still arrive (tests, truncation)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.close()


class TcpProtocol(Protocol):
    """Host side connects to ``host:port``; target side listens there (port 0 picks a free one)."""

    _listener: socket.socket | None = None

    def describe(self) -> str:
        if self._listener is not None:
            host, port = self._listener.getsockname()[:2]
            return f"tcp {host}:{port}"
        return f"tcp {self.params['host']}:{self.params['port']}"

    def connect(self, timeout: float) -> Stream:
        host, port = self.params["host"], self.params["port"]
        if not port:
            raise UsageError("target.port: give the port `edgeai serve` printed (port 0 is for listening)")
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise RuntimeFailure(
                f"cannot connect to the target at tcp {host}:{port}: {reason}; "
                "is `edgeai serve --protocol tcp` running there?"
            ) from None
        stream = TcpStream(sock, f"{host}:{port}")
        stream.settimeout(timeout)
        return stream

    def listen(self) -> dict[str, Any]:
        host, port = self.params["host"], self.params["port"]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except OSError as exc:
            raise UsageError(f"--host {host}: cannot resolve it: {exc}") from None
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
            sock.listen(8)
        except OSError as exc:
            sock.close()
            raise UsageError(f"cannot listen on tcp {host}:{port}: {exc.strerror or exc}") from None
        self._listener = sock
        bound_host, bound_port = sock.getsockname()[:2]
        return {"host": bound_host, "port": bound_port}

    def accept(self, timeout: float | None) -> Stream:
        if self._listener is None:
            raise RuntimeError("listen() first")
        self._listener.settimeout(timeout)
        conn, address = self._listener.accept()
        return TcpStream(conn, f"{address[0]}:{address[1]}")

    def close(self) -> None:
        listener, self._listener = self._listener, None  # two threads may stop a server at once
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes a thread blocked in accept(); close alone does not
                listener.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                listener.close()
