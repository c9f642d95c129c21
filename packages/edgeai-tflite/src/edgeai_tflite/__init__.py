"""edgeai-tflite: Keras models (``digits-cnn-keras``, ``mobilenetv2-keras``, ``keras-file``,
``savedmodel-dir``, ``tflite-file``), the ``tflite`` compiler, the ``keras-to-tflite``, ``onnx-to-tflite`` and
``keras-to-onnx`` converters and the ``tflite`` runtime (LiteRT).

Importing this package imports no TensorFlow. :mod:`edgeai_tflite.plugin` only declares records; the runtime
side (``runtime``, ``iospec``, ``files``) needs only an interpreter package (``ai-edge-litert``), and the
compile side (``nets``, ``training``, ``models``, ``compiler``, ``onnx_export``) imports TensorFlow when a
component is built.
"""

from __future__ import annotations

__version__ = "0.1.0"

KERAS = "keras"
"""Artifact format of Keras models: one ``.keras`` file (Keras 3's zip of config and weights)."""
SAVEDMODEL = "savedmodel"
"""Artifact format of TensorFlow SavedModel directories."""
TFLITE = "tflite"
"""Artifact format of TensorFlow Lite flatbuffers (``.tflite``)."""
ONNX = "onnx"
