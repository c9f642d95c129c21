"""Capture what native code writes to stdout and stderr, so library code prints nothing on its own.

TensorFlow, the TFLite converter and the TFLite interpreters write from C++ straight to file descriptors 1 and 2
(``oneDNN custom operations are on``, ``fully_quantize: 0 ...``, ``Created TensorFlow Lite XNNPACK delegate``).
Their errors often say more there than in the exception they raise (``Didn't find op for builtin opcode ...``),
so callers put the captured text into their one-line errors and log the rest at debug level. No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

log = logging.getLogger(__name__)


class Captured:
    """The text written while a :func:`captured` block ran (available once the block has ended)."""

    text: str = ""

    def lines(self, limit: int = 3) -> str:
        """The last ``limit`` non-empty lines joined with '; ', for error messages."""
        found = [line.strip() for line in self.text.splitlines() if line.strip()]
        return "; ".join(found[-limit:])


@contextlib.contextmanager
def captured() -> Iterator[Captured]:
    """Route fds 1 and 2 (and Python's streams) into a temporary file while the block runs; silence warnings."""
    result = Captured()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError, OSError):
                stream.flush()
        saved: list[tuple[int, int]] = []
        try:
            for fd in (1, 2):
                copy = os.dup(fd)
                saved.append((fd, copy))
                os.dup2(sink.fileno(), fd)
        except OSError:  # no such descriptor (an embedding host): leave the streams alone
            _restore(saved)
            saved = []
        python_out = io.StringIO()
        try:
            with (
                contextlib.redirect_stdout(python_out),
                contextlib.redirect_stderr(python_out),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")
                yield result
        finally:
            _restore(saved)
            sink.seek(0)
            result.text = sink.read().decode("utf-8", "replace") + python_out.getvalue()


@contextlib.contextmanager
def quiet(what: str = "TensorFlow") -> Iterator[None]:
    """:func:`captured`, with the text logged at debug level."""
    output = Captured()
    try:
        with captured() as output:
            yield
    finally:
        if output.text.strip():
            log.debug("%s said:\n%s", what, output.text.rstrip())


def _restore(saved: list[tuple[int, int]]) -> None:
    for fd, copy in saved:
        os.dup2(copy, fd)
        os.close(copy)
