"""Progress reporting for long work (training, compiling, benchmarking).

Library code calls :meth:`Progress.stage` for each stage and :meth:`Progress.update` within one; the CLI
supplies :class:`StreamProgress`, which draws on stderr, and tests or libraries use :class:`NullProgress`.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

log = logging.getLogger(__name__)


class Progress:
    """Interface: the default implementation only logs."""

    def stage(self, message: str) -> None:
        """A new stage starts (``training numpy-mlp``)."""
        log.info("%s", message)

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        """Progress within the current stage."""

    def done(self, message: str = "") -> None:
        """The current stage ended."""
        if message:
            log.info("%s", message)


class NullProgress(Progress):
    """Reports nothing beyond debug logging."""


class StreamProgress(Progress):
    """Writes stage lines to a stream; on a terminal also a live bar for updates (at most 10 per second)."""

    def __init__(self, stream: TextIO | None = None, *, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._last = 0.0
        self._drawn = False
        self._stage = ""
        self._started = time.monotonic()

    def stage(self, message: str) -> None:
        self._clear()
        self._stage = message
        self._started = time.monotonic()
        print(f"- {message}", file=self.stream, flush=True)

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        if not self.interactive:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and (total is None or done < total):
            return
        self._last = now
        if total:
            frac = max(0.0, min(1.0, done / total))
            bar = "#" * int(frac * 30)
            text = f"  [{bar:<30}] {frac * 100:5.1f}% {detail}"
        else:
            text = f"  {done:g} {detail}"
        self.stream.write("\r" + text[:100].ljust(100))
        self.stream.flush()
        self._drawn = True

    def done(self, message: str = "") -> None:
        self._clear()
        elapsed = time.monotonic() - self._started
        if message:
            print(f"  {message} ({elapsed:.1f} s)", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
            self._drawn = False
