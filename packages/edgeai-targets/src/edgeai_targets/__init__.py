"""edgeai-targets: target profiles of public device classes, shipped as TOML data files in ``profiles/``.

The plugin (:mod:`edgeai_targets.plugin`) registers them through ``edgeai_register_targets``; the figures and
their sources live in the data files, not in code.
"""

from __future__ import annotations

__version__ = "0.1.0"
