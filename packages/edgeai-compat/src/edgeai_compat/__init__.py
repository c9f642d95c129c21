"""edgeai-compat: the compatibility commands of edgeai.

* ``edgeai grid`` (:mod:`edgeai_compat.grid`): the ONNX support grid, every model of every framework's grid
  suite exported to ONNX, run in an ONNX runtime and imported back;
* ``edgeai onnx-backend-tests`` (:mod:`edgeai_compat.onnx_backends`): ONNX's own backend test data on every
  installed ONNX backend;
* ``edgeai matrix`` (:mod:`edgeai_compat.matrix`): every compiler x runtime road the installed plugins allow
  for one model.

The suites and backends come from the framework plugins, through hooks and interfaces declared in edgeai-core
(:mod:`edgeai_core.api`), so a plugin never depends on this package.
"""

from __future__ import annotations

__version__ = "0.1.0"
