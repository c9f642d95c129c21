"""edgeai-onnx: ONNX model checks, the ONNX Runtime runtime, ORT quantization and user ``.onnx`` models.

The registration module :mod:`edgeai_onnx.plugin` imports neither ``onnx`` nor ``onnxruntime``; the
implementations (:mod:`edgeai_onnx.runtime`, :mod:`edgeai_onnx.quantize`, :mod:`edgeai_onnx.model`,
:mod:`edgeai_onnx.checks`) import them when a component is built.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
