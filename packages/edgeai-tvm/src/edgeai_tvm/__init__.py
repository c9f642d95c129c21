"""edgeai-tvm: the Apache TVM compiler (ONNX -> Relax -> shared library) and the exported-library runtime.

The registration module :mod:`edgeai_tvm.plugin` imports no TVM; :mod:`edgeai_tvm.compiler` (full TVM, onnx)
and :mod:`edgeai_tvm.runtime` (TVM's runtime library only) import it when a component is built.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
