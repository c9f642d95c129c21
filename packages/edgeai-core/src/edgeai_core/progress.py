"""Progress reporting for long work (training, compiling, benchmarking).

Library code calls :meth:`Progress.stage` for each stage and :meth:`Progress.update` within one (or
:meth:`Progress.step` for a coarse unit worth a line of its own, an epoch); the CLI supplies
:class:`StreamProgress`, which writes to stderr, and tests or libraries use :class:`NullProgress`.

:class:`StreamProgress` behaves differently on a terminal and elsewhere:

- on a terminal, one live line redrawn at most 10 times a second: a bar, the percentage, done/total, the rate
  and the ETA, cut to the terminal's width (read at every redraw, so a resized window is followed; the line
  never reaches the last column, so it never wraps);
- elsewhere (a pipe, a log file, CI), plain lines: one per stage, one per :meth:`~Progress.step`, and one per
  update at most every ``EDGEAI_PROGRESS_INTERVAL`` seconds (default 5; ``0`` writes every update), so a log
  shows that a long stage is alive without filling up.

The benchmark reports against both its stopping rules: see :func:`stopping_fraction`.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)

#: Environment variable: seconds between two progress lines outside a terminal.
INTERVAL_ENV = "EDGEAI_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 5.0
#: Seconds between two redraws of the live line on a terminal.
REDRAW_S = 0.1
BAR_WIDTH = 24
MIN_BAR_WIDTH = 8


class Progress:
    """Interface: the default implementation only logs."""

    def stage(self, message: str) -> None:
        """A new stage starts (``training numpy-mlp``)."""
        log.info("%s", message)

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        """Progress within the current stage."""

    def step(self, done: float, total: float | None = None, detail: str = "") -> None:
        """A coarse unit of the current stage ended (an epoch): like :meth:`update`, but worth its own line
        in a log. The default hands it to :meth:`update`."""
        self.update(done, total, detail)

    def done(self, message: str = "") -> None:
        """The current stage ended."""
        if message:
            log.info("%s", message)


class NullProgress(Progress):
    """Reports nothing beyond debug logging."""


def stopping_fraction(
    count: float,
    elapsed_s: float,
    *,
    min_count: float,
    min_duration_s: float,
    max_count: float | None = None,
    max_duration_s: float | None = None,
) -> float:
    """How far a run with two minimums and two optional caps is from stopping, in [0, 1].

    The run stops once *both* minimums hold, or at either cap. So the fraction is the smaller of the count's
    and the duration's shares of their minimums (a zero minimum counts as met), raised to a cap's share where
    that is larger: ``max(min(count/min_count, elapsed/min_duration), count/max_count, elapsed/max_duration)``.
    A benchmark of 1000 samples that took them in 0.2 s of a 1 s minimum is at 20 %, not 100 %.
    """
    by_count = 1.0 if min_count <= 0 else count / min_count
    by_time = 1.0 if min_duration_s <= 0 else elapsed_s / min_duration_s
    fraction = min(by_count, by_time)
    if max_count:
        fraction = max(fraction, count / max_count)
    if max_duration_s:
        fraction = max(fraction, elapsed_s / max_duration_s)
    return max(0.0, min(1.0, fraction))


def progress_total(
    count: int,
    elapsed_s: float,
    *,
    min_count: int,
    min_duration_s: float,
    max_count: int | None = None,
    max_duration_s: float | None = None,
) -> float:
    """The ``total`` to report with ``done=count`` so that ``count / total`` is :func:`stopping_fraction`:
    ``min_count`` while the count binds, else the projected number of samples at the stop (so the rate and
    ETA a display derives from done/total are those of the binding rule)."""
    fraction = stopping_fraction(
        count,
        elapsed_s,
        min_count=min_count,
        min_duration_s=min_duration_s,
        max_count=max_count,
        max_duration_s=max_duration_s,
    )
    if fraction >= 1.0:
        return float(max(count, 1))
    if count <= 0 or fraction <= 0.0:
        return float(max(min_count, count + 1))
    if min_count > 0 and math.isclose(fraction, count / min_count):
        return float(min_count)
    return count / fraction


def interval_from_env(default: float = DEFAULT_INTERVAL_S) -> float:
    """Seconds between progress lines outside a terminal: ``EDGEAI_PROGRESS_INTERVAL`` or ``default``."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %g", INTERVAL_ENV, text, default)
        return default
    return max(0.0, value) if math.isfinite(value) else default


def format_count(value: float) -> str:
    """``950``, ``12.3k``, ``4.56M``: a count in at most 6 characters or so."""
    if value < 10_000:
        return f"{value:.0f}" if float(value).is_integer() or value >= 100 else f"{value:.3g}"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.0f}"  # pragma: no cover


def format_duration(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_rate(rate: float) -> str:
    return f"{rate:.3g}/s" if rate < 1000 else f"{format_count(rate)}/s"


class StreamProgress(Progress):
    """Writes stage lines to a stream; on a terminal also a live line for updates, elsewhere throttled lines.

    ``width`` (columns) defaults to the terminal's, ``interval_s`` to ``EDGEAI_PROGRESS_INTERVAL`` (5 s), and
    ``clock`` to :func:`time.monotonic` (tests pass a fake one).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interactive: bool | None = None,
        width: int | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        if interactive is None:
            isatty = getattr(self.stream, "isatty", None)
            interactive = bool(isatty()) if callable(isatty) else False
        self.interactive = interactive
        self.width = width
        self.interval_s = interval_from_env() if interval_s is None else interval_s
        self.clock = clock
        self._stage = ""
        self._started = clock()
        self._last_draw = -math.inf
        self._last_line = self._started
        self._drawn = 0  # characters of the live line now on screen
        self._base: tuple[float, float] | None = None  # (time, done) the rate is measured from
        self._last_done = 0.0

    # -- the Progress interface -------------------------------------------------------------------------

    def stage(self, message: str) -> None:
        self._clear()
        self._stage = message
        self._started = self._last_line = self.clock()
        self._last_draw = -math.inf
        self._base = (self._started, 0.0)  # the rate counts from the stage's start
        self._last_done = 0.0
        self._write_line(f"- {message}")

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        self._report(done, total, detail, force=False)

    def step(self, done: float, total: float | None = None, detail: str = "") -> None:
        self._report(done, total, detail, force=True)

    def done(self, message: str = "") -> None:
        self._clear()
        elapsed = self.clock() - self._started
        if message:
            self._write_line(f"  {message} ({elapsed:.1f} s)")

    # -- drawing ----------------------------------------------------------------------------------------

    def columns(self) -> int:
        """The width lines are cut to: ``width``, else the terminal's (80 where unknown)."""
        if self.width is not None:
            return self.width
        return shutil.get_terminal_size(fallback=(80, 24)).columns

    def _report(self, done: float, total: float | None, detail: str, *, force: bool) -> None:
        now = self.clock()
        if self._base is None or done < self._last_done:  # the first update, or a new phase (warm-up ended)
            self._base = (now, done)
        self._last_done = done
        finished = total is not None and done >= total
        if self.interactive:
            if not force and not finished and now - self._last_draw < REDRAW_S:
                return
            self._last_draw = now
            text = self.line(done, total, detail, now=now, bar=True)[: max(1, self.columns() - 1)]
            pad = " " * max(0, self._drawn - len(text))
            self.stream.write("\r" + text + pad)
            self.stream.flush()
            self._drawn = len(text)
            return
        if not force and now - self._last_line < self.interval_s:
            return
        self._last_line = now
        self._write_line(self.line(done, total, detail, now=now, bar=False))

    def line(self, done: float, total: float | None, detail: str, *, now: float, bar: bool) -> str:
        """The progress text: ``[####----]  42%  420/1000  310/s  ETA 0:02  detail`` (no bar outside a
        terminal); rate and ETA once two updates of the stage are apart in time."""
        parts: list[str] = []
        rate = self._rate(done, now)
        if total:
            fraction = max(0.0, min(1.0, done / total))
            parts.append(f"{fraction * 100:3.0f}%")
            parts.append(f"{format_count(done)}/{format_count(total)}")
        else:
            parts.append(format_count(done))
        if rate is not None:
            parts.append(format_rate(rate))
            if total and done < total:
                parts.append(f"ETA {format_duration((total - done) / rate)}")
        if detail:
            parts.append(detail)
        text = "  ".join(parts)
        if bar and total:
            fraction = max(0.0, min(1.0, done / total))
            width = max(MIN_BAR_WIDTH, min(BAR_WIDTH, (self.columns() - 1) // 4))  # the detail is what is cut
            filled = int(fraction * width)
            text = f"[{'#' * filled}{'.' * (width - filled)}] {text}"
        return "  " + text

    def _rate(self, done: float, now: float) -> float | None:
        if self._base is None:
            return None
        since, first = self._base
        if now - since <= 0 or done <= first:
            return None
        return (done - first) / (now - since)

    def _write_line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0
