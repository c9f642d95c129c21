"""edgeai-torch: PyTorch models (``digits-cnn``, ``mobilenetv2``), the ``torch-to-onnx`` converter and the
``torch`` runtime.

Importing this package imports no torch; :mod:`edgeai_torch.plugin` only declares records, and the
implementation modules (``nets``, ``checkpoint``, ``training``, ``models``, ``export``, ``runtime``) import torch
when a component is built.
"""

from __future__ import annotations

__version__ = "0.1.0"
FORMAT = "torch"
"""Artifact format of the checkpoints this package writes: ``model.pt`` holding a weights-only dict."""
