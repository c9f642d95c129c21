"""The ``torch`` artifact format: ``model.pt`` written by :func:`torch.save` holding only plain data.

Layout (format_version 1)::

    {"format_version": 1, "architecture": "digits-cnn", "params": {"channels": 1, ...}, "state_dict": {...}}

It is read with ``torch.load(weights_only=True)``, which refuses arbitrary pickles, and the network is rebuilt
from ``architecture`` and ``params`` by :func:`edgeai_torch.nets.build`. A pickled ``nn.Module`` (what
``torch.save(model)`` writes) is therefore rejected rather than executed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeai_core.api import ArtifactError, IOSpec, TensorSpec
from edgeai_torch.nets import ARCHITECTURE_PARAMS, DETECTOR_STRIDE, build

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt network (in eval mode) and what it was built from."""

    architecture: str
    params: dict[str, Any]
    module: nn.Module

    @property
    def io(self) -> IOSpec:
        return io_spec(self.params, self.architecture)


#: the outputs of the detector (CenterNet heads) and the segmenter (per-pixel logits)
DETECTOR_OUTPUTS = ("heatmap", "size", "offset")
SEGMENTER_OUTPUT = "logits"


def io_spec(params: Mapping[str, Any], architecture: str = "digits-cnn") -> IOSpec:
    """NCHW float32 images in; out one logit per class (classifiers), the detector's three head maps on the
    stride-4 grid, or the segmenter's per-pixel logits. The batch dimension is dynamic."""
    size, classes = int(params["image_size"]), int(params["classes"])
    inputs = (TensorSpec(INPUT_NAME, (None, int(params["channels"]), size, size), "float32", layout="NCHW"),)
    if architecture == "shapes-detector":
        grid = size // DETECTOR_STRIDE
        outputs = tuple(
            TensorSpec(name, (None, channels, grid, grid), "float32")
            for name, channels in zip(DETECTOR_OUTPUTS, (classes, 2, 2), strict=True)
        )
    elif architecture == "shapes-segmenter":
        outputs = (TensorSpec(SEGMENTER_OUTPUT, (None, classes, size, size), "float32"),)
    else:
        outputs = (TensorSpec(OUTPUT_NAME, (None, classes), "float32"),)
    return IOSpec(inputs=inputs, outputs=outputs)


def save_checkpoint(
    path: Path, architecture: str, params: Mapping[str, Any], module: nn.Module, *, resized: bool = False
) -> None:
    """Write ``module``'s weights and the parameters that rebuild it (never the module object itself).

    ``resized``: channels were pruned (:mod:`edgeai_torch.surgery`), so the loader resizes the rebuilt layers
    to the weights' shapes before loading them."""
    plain = {k: params[k] for k in ARCHITECTURE_PARAMS[architecture]}
    for key, value in plain.items():
        if not isinstance(value, (int, float, str)) or isinstance(value, bool):
            raise TypeError(f"architecture parameter {key}={value!r} must be a plain int, float or str")
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "params": plain,
        "state_dict": state,
    }
    if resized:
        data["resized"] = True
    torch.save(data, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path, expected: str | None = None, *, field: str = "") -> Checkpoint:
    """Read ``path`` with ``weights_only=True`` and rebuild its network; every problem is an ArtifactError.

    ``expected`` is the architecture the caller wants (a model named ``digits-cnn`` must not silently load a
    MobileNetV2); ``field`` prefixes errors with the config field that named the file (``model.checkpoint``).
    """
    where = f"{field}: " if field else ""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{where}{path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip), EOFError, ...
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ArtifactError(
            f"{where}{path} is not an edgeai torch checkpoint loadable with weights_only=True ({reason}); "
            "write checkpoints with `edgeai train` (a dict of weights, never a pickled module)"
        ) from None
    if not isinstance(data, dict) or "state_dict" not in data or "architecture" not in data:
        raise ArtifactError(
            f"{where}{path} holds no edgeai checkpoint (a dict with format_version, architecture, params, "
            "state_dict); write checkpoints with `edgeai train`"
        )
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{where}{path} has checkpoint format_version {version!r}; this edgeai-torch reads "
            f"{FORMAT_VERSION}: upgrade edgeai-torch or re-train"
        )
    architecture = data["architecture"]
    if not isinstance(architecture, str) or architecture not in ARCHITECTURE_PARAMS:
        raise ArtifactError(
            f"{where}{path} holds architecture {architecture!r}, which edgeai-torch does not know "
            f"({', '.join(ARCHITECTURE_PARAMS)})"
        )
    if expected is not None and architecture != expected:
        raise ArtifactError(
            f"{where}{path} is a '{architecture}' checkpoint, not '{expected}'; "
            f"use model '{architecture}' or a {expected} checkpoint"
        )
    params, state = data.get("params"), data["state_dict"]
    if not isinstance(params, dict) or not all(isinstance(v, (int, float, str)) for v in params.values()):
        raise ArtifactError(f"{where}{path}: 'params' must be a table of plain numbers and strings")
    missing = [k for k in ARCHITECTURE_PARAMS[architecture] if k not in params]
    if missing:
        raise ArtifactError(f"{where}{path}: 'params' lacks {', '.join(missing)} for '{architecture}'")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ArtifactError(f"{where}{path}: 'state_dict' must map names to tensors")
    module = build(architecture, params)
    if data.get("resized") is True:
        from edgeai_torch.surgery import fit_to_state_dict

        fit_to_state_dict(module, state)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0][:300]
        raise ArtifactError(
            f"{where}{path}: the weights do not fit '{architecture}' with {params}: {reason}"
        ) from None
    module.eval()
    return Checkpoint(architecture, dict(params), module)
