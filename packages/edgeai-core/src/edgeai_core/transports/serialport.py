"""The ``serial`` protocol: the wire protocol over a serial line (UART, USB CDC-ACM, a pty pair in tests).

pyserial opens and configures the port (raw mode, baud rate, exclusive lock) and is imported only when a
port is opened (``pip install 'edgeai-core[serial]'``). Bytes then move with ``select`` and ``os.readv`` /
``os.write`` on its file descriptor, which gives exact timeouts without reconfiguring the port per read.

A serial line can corrupt or drop bytes, so the stream is marked unreliable: the core adds a CRC32 to every
frame, acknowledges each one and retransmits corrupted frames (see :mod:`edgeai_core.wire.connection`).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import select
from typing import Any

from edgeai_core.components import Protocol, Stream
from edgeai_core.errors import MissingDependencyError, RuntimeFailure, UsageError

log = logging.getLogger(__name__)


def _open_port(device: str, baudrate: int, where: str) -> Any:
    try:
        serial = importlib.import_module("serial")  # pyserial, only when a port is opened
    except ModuleNotFoundError:
        raise MissingDependencyError("protocol:serial", "pyserial", "edgeai-core[serial]") from None
    try:
        return serial.Serial(port=device, baudrate=baudrate, timeout=0, write_timeout=None, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise RuntimeFailure(
            f"{where}.device: cannot open {device} ({exc}); check the port's name and that this user may "
            "use it (on Linux, the dialout group)"
        ) from None


class SerialStream(Stream):
    """An open serial port."""

    reliable = False
    chunk_bytes = 4096

    def __init__(self, port: Any, device: str, baudrate: int) -> None:
        self._port = port
        self._device = device
        self.bytes_per_s = baudrate / 10.0  # 8N1: ten bits per byte
        self._timeout: float | None = None
        try:
            self._fd: int | None = port.fileno()
        except (AttributeError, OSError, ValueError):  # pyserial backends without a descriptor (Windows)
            self._fd = None
        self._closed = False
        port.reset_input_buffer()

    def describe(self) -> str:
        return f"serial {self._device}"

    def settimeout(self, seconds: float | None) -> None:
        self._timeout = seconds

    def send(self, *parts: bytes | bytearray | memoryview) -> None:
        data = memoryview(b"".join(parts))
        if self._fd is None:
            self._port.write_timeout = self._timeout
            self._port.write(data)
            return
        while data:
            _, writable, _ = select.select([], [self._fd], [], self._timeout)
            if not writable:
                raise TimeoutError(f"{self.describe()}: the line takes no data")
            written = os.write(self._fd, data)
            data = data[written:]

    def recv_into(self, buffer: memoryview) -> int:
        if self._fd is None:
            self._port.timeout = self._timeout
            first = self._port.read(1)
            if not first:
                raise TimeoutError(f"{self.describe()}: nothing received")
            rest = self._port.read(min(len(buffer) - 1, self._port.in_waiting))
            data = first + rest
            buffer[: len(data)] = data
            return len(data)
        readable, _, _ = select.select([self._fd], [], [], self._timeout)
        if not readable:
            raise TimeoutError(f"{self.describe()}: nothing received")
        try:
            return os.readv(self._fd, [buffer])
        except OSError as exc:
            if exc.errno == errno.EIO:  # the other end of a pty went away, or the device was unplugged
                return 0
            raise

    def pending(self) -> bool:
        if self._fd is None:
            return bool(self._port.in_waiting)
        readable, _, _ = select.select([self._fd], [], [], 0)
        return bool(readable)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._port.close()


class SerialProtocol(Protocol):
    """Host and target each open their end of the line; one host at a time by nature."""

    concurrent = False
    _stream: SerialStream | None = None

    def describe(self) -> str:
        return f"serial {self.params['device']}"

    def _open(self, where: str) -> SerialStream:
        device = self.params["device"]
        if not device:
            raise UsageError(f"{where}.device: name the serial port, e.g. /dev/ttyUSB0")
        port = _open_port(device, self.params["baudrate"], where)
        return SerialStream(port, device, self.params["baudrate"])

    def connect(self, timeout: float) -> Stream:
        stream = self._open("target")
        stream.settimeout(timeout)
        return stream

    def listen(self) -> dict[str, Any]:
        self._stream = self._open("serve")
        return {"device": self.params["device"], "baudrate": self.params["baudrate"]}

    def accept(self, timeout: float | None) -> Stream:
        if self._stream is None:
            raise RuntimeError("listen() first")
        return self._stream

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
