"""``python -m edgeai_core``: the ``edgeai`` command, for environments without the console script."""

from __future__ import annotations

from edgeai_core.cli import main

if __name__ == "__main__":
    main()
