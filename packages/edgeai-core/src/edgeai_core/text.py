"""One-line texts for error messages: a framework's error condensed to one line, a shape shown readably.

Pure Python; plugins use these (through :mod:`edgeai_core.api`) so every package words shapes and framework
errors the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

#: The longest condensed message, in characters.
MAX_MESSAGE = 300


def condense(
    message: object,
    limit: int = MAX_MESSAGE,
    *,
    drop_lines: re.Pattern[str] | None = None,
    drop: Iterable[re.Pattern[str]] = (),
) -> str:
    """One line from a framework's (often multi-line) error message, for errors that must stay one line.

    White space is folded and the text cut to ``limit`` characters (ending in ``...``). A plugin drops its
    framework's noise: ``drop_lines`` matches whole lines to leave out (backtrace frames), each pattern of
    ``drop`` is removed from the folded text, in order (source locations, error-code prefixes).
    """
    lines = str(message).splitlines()
    if drop_lines is not None:
        lines = [line for line in lines if not drop_lines.match(line)]
    text = " ".join(" ".join(lines).split())
    for pattern in drop:
        text = pattern.sub("", text)
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text or "(no message)"


def shape_text(shape: Sequence[object], *, names: bool = True) -> str:
    """``(None, 1, 8, 8)`` shown as ``(?, 1, 8, 8)``: readable in error messages.

    Unknown dimensions (None, or negative as TFLite writes them) show as ``?``; a named dimension (``batch``)
    shows its name, or ``?`` with ``names=False``.
    """
    dims = [
        "?" if d is None or (isinstance(d, int) and d < 0) or (isinstance(d, str) and not names) else str(d)
        for d in shape
    ]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
