"""edgeai-torch's side of the ONNX support grid (``edgeai grid``, suites ``torch`` and ``torch-dynamo``).

The models are this package's own networks (``digits-cnn``, ``mobilenetv2``, built by :func:`edgeai_torch.nets
.build` exactly as a checkpoint rebuilds them) plus the standard layers and blocks an edge model is made of:
convolutions (plain, strided, dilated, depthwise, transposed, 1-d), normalizations, activations, pooling,
recurrent layers, attention, resizing and a few blocks. Each takes one input and returns one output, so it goes
through the converter's own export code (:meth:`edgeai_torch.export.TorchToOnnx._export`, with the dynamic
batch axis) unchanged.

Import back: ONNX -> torch needs ``onnx2torch``. Where it imports, it is used; on this project's reference
machines it is not installable (its torchvision dependency has no CPU build that imports with torch 2.13), so
the import column says ``unsupported`` with that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeai_core import api
from edgeai_torch.nets import InvertedResidual, build

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "output"
BATCH = 2


@dataclass(frozen=True)
class _Spec:
    """How to build one grid model: a module factory, the input shape (batch first) and dtype."""

    summary: str
    category: str
    make: Callable[[], nn.Module]
    shape: tuple[int, ...]
    dtype: str = "float32"
    high: int = 0  # integer inputs: values in [0, high)


class _First(nn.Module):
    """Keep the first output of a module returning a tuple (LSTM, GRU, attention)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)[0]


class _SelfAttention(nn.Module):
    def __init__(self, dim: int = 16, heads: int = 4) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, need_weights=False)[0]


class _Interpolate(nn.Module):
    def __init__(self, mode: str, scale: float = 2.0, align_corners: bool | None = None) -> None:
        super().__init__()
        self.mode, self.scale, self.align_corners = mode, scale, align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(
            x, scale_factor=self.scale, mode=self.mode, align_corners=self.align_corners
        )


class _Residual(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN plus the input, then ReLU."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class _SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: global average pool, bottleneck MLP, sigmoid gate on the channels."""

    def __init__(self, channels: int = 8, reduction: int = 4) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Hardsigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool(x))


class _Inception(nn.Module):
    """Parallel 1x1, 3x3 and pooled branches concatenated on the channels."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.a = nn.Conv2d(channels, 4, 1)
        self.b = nn.Sequential(nn.Conv2d(channels, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))
        self.c = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(channels, 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x), self.c(x)], dim=1)


class _Argmax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.argmax(x, dim=-1)


class _Embedding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(50, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x).mean(dim=1)


def _digits_cnn() -> nn.Module:
    return build("digits-cnn", {"channels": 1, "image_size": 8, "classes": 10})


def _mobilenetv2() -> nn.Module:
    return build(
        "mobilenetv2", {"channels": 3, "image_size": 32, "classes": 10, "width": 0.35, "dropout": 0.2}
    )


IMAGE = (BATCH, 3, 16, 16)
SEQUENCE = (BATCH, 5, 16)

MODELS: dict[str, _Spec] = {
    # this package's networks
    "digits-cnn": _Spec(
        "the digits CNN (2 conv, max-pool, 2 linear), 1x8x8", "model", _digits_cnn, (BATCH, 1, 8, 8)
    ),
    "mobilenetv2": _Spec("MobileNetV2 width 0.35, 3x32x32", "model", _mobilenetv2, (BATCH, 3, 32, 32)),
    # blocks
    "residual-block": _Spec(
        "ResNet basic block (conv-BN-ReLU x2 + skip)", "block", _Residual, (BATCH, 8, 8, 8)
    ),
    "inverted-residual": _Spec(
        "MobileNetV2 inverted residual (expand 6, depthwise, linear bottleneck, skip)",
        "block",
        lambda: InvertedResidual(8, 8, 1, 6),
        (BATCH, 8, 8, 8),
    ),
    "squeeze-excitation": _Spec(
        "squeeze-and-excitation gate (GAP, 1x1 convs, hard sigmoid)",
        "block",
        _SqueezeExcitation,
        (BATCH, 8, 8, 8),
    ),
    "inception": _Spec("1x1 / 3x3 / pooled branches concatenated", "block", _Inception, IMAGE),
    "mlp": _Spec(
        "Linear-ReLU-Dropout-Linear (dropout inactive at inference)",
        "block",
        lambda: nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10)),
        (BATCH, 16),
    ),
    "transformer-encoder": _Spec(
        "nn.TransformerEncoderLayer (d 16, 4 heads, ff 32)",
        "block",
        lambda: nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True),
        SEQUENCE,
    ),
    # convolutions
    "conv2d": _Spec("Conv2d 3x3, padding 1", "layer", lambda: nn.Conv2d(3, 8, 3, padding=1), IMAGE),
    "conv2d-strided": _Spec(
        "Conv2d 3x3, stride 2", "layer", lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1), IMAGE
    ),
    "conv2d-dilated": _Spec("Conv2d 3x3, dilation 2", "layer", lambda: nn.Conv2d(3, 8, 3, dilation=2), IMAGE),
    "depthwise-conv2d": _Spec(
        "depthwise Conv2d 3x3 (groups = channels)",
        "layer",
        lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8),
        (BATCH, 8, 16, 16),
    ),
    "conv-transpose2d": _Spec(
        "ConvTranspose2d 3x3, stride 2",
        "layer",
        lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
        IMAGE,
    ),
    "conv1d": _Spec("Conv1d kernel 3", "layer", lambda: nn.Conv1d(4, 8, 3), (BATCH, 4, 20)),
    "linear": _Spec("Linear 16 -> 10", "layer", lambda: nn.Linear(16, 10), (BATCH, 16)),
    # normalization
    "batchnorm2d": _Spec(
        "BatchNorm2d (inference, non-trivial statistics)", "layer", lambda: nn.BatchNorm2d(3), IMAGE
    ),
    "layernorm": _Spec("LayerNorm over the last axis", "layer", lambda: nn.LayerNorm(16), SEQUENCE),
    "groupnorm": _Spec("GroupNorm, 2 groups", "layer", lambda: nn.GroupNorm(2, 4), (BATCH, 4, 8, 8)),
    "instancenorm2d": _Spec(
        "InstanceNorm2d (affine)", "layer", lambda: nn.InstanceNorm2d(3, affine=True), IMAGE
    ),
    # activations
    "relu": _Spec("ReLU", "layer", nn.ReLU, IMAGE),
    "relu6": _Spec("ReLU6", "layer", nn.ReLU6, IMAGE),
    "leaky-relu": _Spec("LeakyReLU 0.1", "layer", lambda: nn.LeakyReLU(0.1), IMAGE),
    "prelu": _Spec("PReLU, one slope per channel", "layer", lambda: nn.PReLU(3), IMAGE),
    "elu": _Spec("ELU", "layer", nn.ELU, IMAGE),
    "gelu": _Spec("GELU (erf)", "layer", nn.GELU, IMAGE),
    "gelu-tanh": _Spec("GELU, tanh approximation", "layer", lambda: nn.GELU(approximate="tanh"), IMAGE),
    "silu": _Spec("SiLU (swish)", "layer", nn.SiLU, IMAGE),
    "hardswish": _Spec("Hardswish", "layer", nn.Hardswish, IMAGE),
    "hardsigmoid": _Spec("Hardsigmoid", "layer", nn.Hardsigmoid, IMAGE),
    "sigmoid": _Spec("Sigmoid", "layer", nn.Sigmoid, IMAGE),
    "tanh": _Spec("Tanh", "layer", nn.Tanh, IMAGE),
    "mish": _Spec("Mish", "layer", nn.Mish, IMAGE),
    "softplus": _Spec("Softplus", "layer", nn.Softplus, IMAGE),
    "softmax": _Spec("Softmax over the channels", "layer", lambda: nn.Softmax(dim=1), IMAGE),
    # pooling
    "maxpool2d": _Spec("MaxPool2d 3x3, stride 2, padding 1", "layer", lambda: nn.MaxPool2d(3, 2, 1), IMAGE),
    "avgpool2d": _Spec("AvgPool2d 2x2", "layer", lambda: nn.AvgPool2d(2), IMAGE),
    "avgpool2d-ceil": _Spec(
        "AvgPool2d 3x3 stride 2, ceil mode, padding excluded",
        "layer",
        lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        IMAGE,
    ),
    "global-avgpool": _Spec("AdaptiveAvgPool2d(1)", "layer", lambda: nn.AdaptiveAvgPool2d(1), IMAGE),
    "global-maxpool": _Spec("AdaptiveMaxPool2d(1)", "layer", lambda: nn.AdaptiveMaxPool2d(1), IMAGE),
    "adaptive-avgpool-5x5": _Spec(
        "AdaptiveAvgPool2d(5) on 16x16 (output size does not divide the input)",
        "layer",
        lambda: nn.AdaptiveAvgPool2d(5),
        IMAGE,
    ),
    # recurrent and attention
    "lstm": _Spec(
        "LSTM 8 -> 16, batch first (outputs of every step)",
        "layer",
        lambda: _First(nn.LSTM(8, 16, batch_first=True)),
        (BATCH, 5, 8),
    ),
    "lstm-bidirectional": _Spec(
        "2-layer bidirectional LSTM",
        "layer",
        lambda: _First(nn.LSTM(8, 16, num_layers=2, bidirectional=True, batch_first=True)),
        (BATCH, 5, 8),
    ),
    "gru": _Spec(
        "GRU 8 -> 16, batch first", "layer", lambda: _First(nn.GRU(8, 16, batch_first=True)), (BATCH, 5, 8)
    ),
    "rnn": _Spec(
        "Elman RNN (tanh) 8 -> 16", "layer", lambda: _First(nn.RNN(8, 16, batch_first=True)), (BATCH, 5, 8)
    ),
    "multihead-attention": _Spec(
        "MultiheadAttention self-attention (16, 4 heads)", "layer", _SelfAttention, SEQUENCE
    ),
    # resizing and reshaping
    "upsample-nearest": _Spec("interpolate x2, nearest", "layer", lambda: _Interpolate("nearest"), IMAGE),
    "upsample-bilinear": _Spec(
        "interpolate x2, bilinear", "layer", lambda: _Interpolate("bilinear", align_corners=False), IMAGE
    ),
    "upsample-bicubic": _Spec(
        "interpolate x2, bicubic, align corners",
        "layer",
        lambda: _Interpolate("bicubic", align_corners=True),
        IMAGE,
    ),
    "pixel-shuffle": _Spec("PixelShuffle x2", "layer", lambda: nn.PixelShuffle(2), (BATCH, 8, 8, 8)),
    "flatten": _Spec("Flatten", "layer", nn.Flatten, IMAGE),
    # integer tensors
    "embedding": _Spec(
        "Embedding (int64 token ids in) + mean over the sequence",
        "layer",
        _Embedding,
        (BATCH, 6),
        dtype="int64",
        high=50,
    ),
    "argmax": _Spec("argmax over the last axis (int64 out)", "layer", _Argmax, (BATCH, 10)),
}


def _randomize_statistics(module: nn.Module, generator: torch.Generator) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, so folding them into convolutions is exercised."""
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm) and layer.running_mean is not None:
            assert layer.running_var is not None
            with torch.no_grad():
                layer.running_mean.copy_(torch.randn(layer.running_mean.shape, generator=generator) * 0.5)
                layer.running_var.copy_(torch.rand(layer.running_var.shape, generator=generator) + 0.5)
                if layer.weight is not None:
                    layer.weight.copy_(torch.rand(layer.weight.shape, generator=generator) + 0.5)
                    layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator) * 0.1)


class TorchGridSuite(api.GridSuite):
    """Builds the models of :data:`MODELS` and exports them with ``torch-to-onnx``'s exporter code.

    The grid's interface and the steps every suite shares come from the plugin API (``api.*``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        torch.set_num_threads(1)  # the same numbers on every machine load, and no oversubscription

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__, **api.module_versions(("onnx", "onnxscript", "onnx2torch"))}

    def models(self) -> list[api.GridModel]:
        return api.grid_models(MODELS)

    def build(self, name: str, seed: int) -> api.Prepared:
        spec = MODELS[name]
        torch.manual_seed(seed)
        module = spec.make()
        _randomize_statistics(module, torch.Generator().manual_seed(seed + 1))
        module.eval()
        x = api.seeded_input(spec.shape, spec.dtype, seed, spec.high)
        return api.Prepared(module, [x], {"shape": list(spec.shape), "dtype": spec.dtype})

    def run(self, prepared: api.Prepared, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        with torch.inference_mode():
            out = prepared.native(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().numpy() for o in outs]

    def _converter(self) -> Any:
        """The ``torch-to-onnx`` converter with this suite's opset and exporter."""
        from edgeai_torch.export import TorchToOnnx
        from edgeai_torch.plugin import edgeai_register_converters

        record = next(r for r in edgeai_register_converters() if r.name == "torch-to-onnx")
        params = record.params.validate(
            {"opset": self.params["opset"], "exporter": self.params["exporter"], "verify": False}, "grid"
        )
        return TorchToOnnx(record=record, params=params, context=self.context)

    def export(self, prepared: api.Prepared, path: Path) -> dict[str, Any]:
        path.parent.mkdir(parents=True, exist_ok=True)
        example = torch.from_numpy(np.ascontiguousarray(prepared.inputs[0]))
        self._converter()._export(prepared.native, example, path, INPUT_NAME, OUTPUT_NAME)
        extra = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + "."))
        return {
            "exporter": self.params["exporter"],
            "opset_requested": self.params["opset"],
            "external_data": ", ".join(extra) or None,
        }

    def import_onnx(self, path: Path, prepared: api.Prepared) -> Any:
        # a torchvision that does not import with this torch: "operator torchvision::nms does not exist"
        onnx2torch = api.import_for_onnx(
            "onnx2torch",
            "ONNX -> torch needs onnx2torch, which is not installed (pip install onnx2torch; it needs a "
            "torchvision build that imports with this torch)",
        )
        module = onnx2torch.convert(str(path))
        return module.eval()
