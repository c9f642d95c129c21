"""The network architectures, rebuilt from plain parameters so checkpoints never need to pickle a module.

Each architecture is a function of a few ints/floats (:data:`ARCHITECTURE_PARAMS`), which is exactly what a
checkpoint stores next to its ``state_dict``. :func:`build` is the single way to instantiate one, used by the
models (training), the checkpoint loader, the ONNX converter and the runtime alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from edgeai_core.api import build_architecture, mobilenetv2_plan

log = logging.getLogger(__name__)

#: Architecture parameters per architecture name; nothing else goes into a checkpoint's ``params``.
ARCHITECTURE_PARAMS: dict[str, tuple[str, ...]] = {
    "digits-cnn": ("channels", "image_size", "classes"),
    "mobilenetv2": ("channels", "image_size", "classes", "width", "dropout"),
    "shapes-detector": ("channels", "image_size", "classes", "width"),
    "shapes-segmenter": ("channels", "image_size", "classes", "width"),
}
#: The output stride of :class:`ShapesDetector` (its heads' grid is image_size / DETECTOR_STRIDE).
DETECTOR_STRIDE = 4
#: The initial bias of the detector's heatmap logits: every cell starts at a score of 0.1 (CenterNet's prior),
#: so the focal loss does not start from a flood of confident false positives.
HEATMAP_PRIOR_BIAS = -2.19


class DigitsCnn(nn.Module):
    """Two 3x3 convolutions, one max-pool and two linear layers: sized for 8x8 digit images.

    For 8x8 inputs: 1x8x8 -> 16x8x8 -> 32x6x6 -> 32x3x3 -> 64 -> classes (about 24k parameters), which trains to
    ~0.97 test accuracy on scikit-learn's digits in a few seconds on one core.
    """

    def __init__(self, channels: int = 1, image_size: int = 8, classes: int = 10) -> None:
        super().__init__()
        if image_size < 4:
            raise ValueError(f"digits-cnn needs image_size >= 4, got {image_size}")
        side = (image_size - 2) // 2
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(32 * side * side, 64),
            nn.ReLU(),
            nn.Linear(64, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ConvBnAct(nn.Sequential):
    """Convolution, BatchNorm and (optionally) ReLU6: the unit MobileNetV2 is built of."""

    def __init__(
        self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """1x1 expansion, depthwise 3x3, linear 1x1 bottleneck; a skip connection when shapes allow it."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBnAct(cin, hidden, kernel=1))
        layers.append(ConvBnAct(hidden, hidden, kernel=3, stride=stride, groups=hidden))
        layers.append(ConvBnAct(hidden, cout, kernel=1, act=False))  # linear bottleneck: no activation
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 with a width multiplier and strides adapted to small inputs (see :func:`mobilenetv2_strides`).

    The last 1x1 convolution scales with ``width`` too (1280 * width), which keeps the 0.5 model at ~0.6 M
    parameters: enough for small datasets, cheap enough to train on two CPU cores.
    """

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 32,
        classes: int = 10,
        width: float = 0.5,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        plan = mobilenetv2_plan(image_size, width)
        layers: list[nn.Module] = [ConvBnAct(channels, plan.stem_channels, stride=plan.stem_stride)]
        for block in plan.blocks:
            layers.append(InvertedResidual(block.cin, block.cout, block.stride, block.expansion))
        self.last_channels = plan.last_channels
        layers.append(ConvBnAct(plan.blocks[-1].cout, self.last_channels, kernel=1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(self.last_channels, classes)
        )
        for module in self.modules():  # the initialisation of the reference implementation (torchvision)
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, BatchNorm and ReLU (BatchNorm folds into the convolution in ONNX Runtime and TVM)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class ShapesDetector(nn.Module):
    """An anchor-free CenterNet-style detector: a tiny convolutional backbone to stride 4 and three heads.

    Outputs, all on the (image_size / 4)^2 grid: ``heatmap`` (N, classes, h, w) centre scores with the sigmoid
    inside the graph, ``size`` (N, 2, h, w) box width and height in input pixels, ``offset`` (N, 2, h, w) the
    centre's position inside its cell. Peak picking and box decoding happen outside the graph (the core's
    ``centernet`` decoder), so every output has a static shape. ``width`` scales the channels (16/24/32 at 1.0).
    """

    def __init__(self, channels: int = 3, image_size: int = 64, classes: int = 3, width: float = 1.0) -> None:
        super().__init__()
        if image_size % DETECTOR_STRIDE:
            raise ValueError(
                f"shapes-detector needs image_size divisible by {DETECTOR_STRIDE}, got {image_size}"
            )
        c1, c2, c3 = (max(4, round(c * width)) for c in (16, 24, 32))
        self.backbone = nn.Sequential(
            conv_bn_relu(channels, c1),
            conv_bn_relu(c1, c2, stride=2),
            conv_bn_relu(c2, c2),
            conv_bn_relu(c2, c3, stride=2),
            conv_bn_relu(c3, c3),
            conv_bn_relu(c3, c3),
            conv_bn_relu(c3, c3),
        )

        def head(out: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(c3, c3, 3, padding=1), nn.ReLU(), nn.Conv2d(c3, out, 1))

        self.heatmap = head(classes)
        self.size = head(2)
        self.offset = head(2)
        nn.init.constant_(self.heatmap[-1].bias, HEATMAP_PRIOR_BIAS)

    def raw(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heatmap logits (what training's focal loss takes), sizes and offsets."""
        features = self.backbone(x)
        return self.heatmap(features), self.size(features), self.offset(features)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, size, offset = self.raw(x)
        return torch.sigmoid(logits), size, offset


class ShapesSegmenter(nn.Module):
    """A tiny U-Net: two downsampling stages, two upsampling stages with skip connections, per-pixel logits.

    (N, channels, S, S) -> (N, classes, S, S). Max-pooling down, nearest-neighbour upsampling up (ONNX Resize),
    3x3 convolutions; the bottleneck (stride 4) has a dilated convolution, so its receptive field covers a
    whole shape, which is what tells a rectangle from an ellipse. ``width`` scales the channels (8/24/48 at 1.0).
    """

    def __init__(self, channels: int = 3, image_size: int = 64, classes: int = 4, width: float = 1.0) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"shapes-segmenter needs image_size divisible by 4, got {image_size}")
        c1, c2, c3 = (max(4, round(c * width)) for c in (8, 24, 48))
        self.enc1 = conv_bn_relu(channels, c1)
        self.enc2 = nn.Sequential(nn.MaxPool2d(2), conv_bn_relu(c1, c2), conv_bn_relu(c2, c2))
        self.enc3 = nn.Sequential(
            nn.MaxPool2d(2),
            conv_bn_relu(c2, c3),
            conv_bn_relu(c3, c3),
            nn.Sequential(nn.Conv2d(c3, c3, 3, 1, 2, dilation=2, bias=False), nn.BatchNorm2d(c3), nn.ReLU()),
        )
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec2 = conv_bn_relu(c3 + c2, c2)
        self.dec1 = conv_bn_relu(c2 + c1, c1)
        self.classifier = nn.Conv2d(c1, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self.up(e3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], dim=1))
        return self.classifier(d1)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "digits-cnn": DigitsCnn,
    "mobilenetv2": MobileNetV2,
    "shapes-detector": ShapesDetector,
    "shapes-segmenter": ShapesSegmenter,
}


def build(architecture: str, params: Mapping[str, Any]) -> nn.Module:
    """Instantiate ``architecture`` from its parameters; unknown names or parameters raise ArtifactError
    (they come from checkpoint files)."""
    return build_architecture(
        _BUILDERS,
        ARCHITECTURE_PARAMS,
        architecture,
        params,
        framework="torch",
        package="edgeai-torch",
        errors=(TypeError, ValueError, RuntimeError),
    )


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
