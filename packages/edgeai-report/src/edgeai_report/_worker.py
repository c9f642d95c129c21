"""A drawing worker: :func:`main` draws the pickled plot jobs in ``JOBS.pickle`` and writes the pickled
results (or the error) to stdout. ``python -m edgeai_report._worker JOBS.pickle`` runs it by hand.

:func:`edgeai_report.render.draw` starts these as plain subprocesses rather than through multiprocessing:
they never re-import the caller's ``__main__`` (a script without an ``if __name__ == "__main__"`` guard is
fine) and never fork a process that may hold other threads' locks (the demo has torch's threads).
The pickle is written by the parent process for its own child, in a private temporary folder.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    jobs = pickle.loads(Path(argv[0]).read_bytes())
    try:
        from edgeai_report.render import _draw_one

        results = [_draw_one(job) for job in jobs]
    except Exception:
        sys.stdout.buffer.write(pickle.dumps(("error", traceback.format_exc())))
        return 1
    sys.stdout.buffer.write(pickle.dumps(("ok", results)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
