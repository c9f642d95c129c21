"""mobilenetv2: output shapes across sizes and widths, residual blocks, strides for small inputs, training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from edgeai_core.api import make_divisible, mobilenetv2_strides
from edgeai_torch.nets import InvertedResidual, MobileNetV2


def _blocks(net: MobileNetV2) -> list[InvertedResidual]:
    return [m for m in net.modules() if isinstance(m, InvertedResidual)]


@pytest.mark.parametrize("image_size", [32, 64])
@pytest.mark.parametrize("width", [0.35, 1.0])
def test_shapes_and_residual_blocks(image_size: int, width: float) -> None:
    torch.manual_seed(0)
    net = MobileNetV2(channels=3, image_size=image_size, classes=7, width=width).eval()
    x = torch.randn(2, 3, image_size, image_size)
    with torch.inference_mode():
        features = net.features(x)
        logits = net(x)
    assert logits.shape == (2, 7)
    assert features.shape[-2:] == (2, 2)  # downsampled only as far as a 2x2 map
    assert features.shape[1] == make_divisible(1280 * width)
    blocks = _blocks(net)
    assert len(blocks) == 17  # 1 + 2 + 3 + 4 + 3 + 3 + 1, as in the paper
    # residual where stride 1 and channels match: every repeat after a stage's first block
    assert sum(b.use_residual for b in blocks) == 10
    for block in blocks:
        depthwise = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
        assert len(depthwise) == 1 and depthwise[0].kernel_size == (3, 3)
        assert depthwise[0].groups == depthwise[0].in_channels == depthwise[0].out_channels
        assert not isinstance(list(block.conv.children())[-1][-1], torch.nn.ReLU6)  # linear bottleneck


def test_residual_blocks_add_their_input() -> None:
    torch.manual_seed(0)
    block = InvertedResidual(16, 16, 1, 6).eval()
    for parameter in block.conv.parameters():
        torch.nn.init.zeros_(parameter)  # the branch is then exactly zero...
    x = torch.randn(1, 16, 4, 4)
    with torch.inference_mode():
        torch.testing.assert_close(block(x), x)  # ...so the output is the skip connection alone
    assert not InvertedResidual(16, 16, 2, 6).use_residual
    assert not InvertedResidual(16, 24, 1, 6).use_residual


@pytest.mark.parametrize(
    ("image_size", "stem", "stages", "final"),
    [
        (224, 2, [1, 2, 2, 2, 1, 2, 1], 7),  # ImageNet: the paper's strides, 32x
        (64, 2, [1, 2, 2, 2, 1, 2, 1], 2),
        (32, 2, [1, 2, 2, 2, 1, 1, 1], 2),  # the last stride-2 stage is dropped first
        (16, 2, [1, 2, 2, 1, 1, 1, 1], 2),
        (8, 2, [1, 2, 1, 1, 1, 1, 1], 2),
    ],
)
def test_strides_keep_a_2x2_map(image_size: int, stem: int, stages: list[int], final: int) -> None:
    assert mobilenetv2_strides(image_size) == (stem, stages)
    net = MobileNetV2(channels=1, image_size=image_size, classes=3, width=0.35).eval()
    with torch.inference_mode():
        assert net.features(torch.zeros(1, 1, image_size, image_size)).shape[-1] == final


def test_training_smoke_on_a_small_subset(make: Callable[..., Any], needs_datasets: None) -> None:
    data = make("dataset", "digits", image_size=16, channels=3, limit=300)
    data.prepare()
    artifact = make("model", "mobilenetv2", epochs=2, image_size=16, width=0.35, batch_size=32).prepare(data)
    meta = artifact.metadata
    assert meta["architecture"] == "mobilenetv2"
    assert meta["params"] == {"channels": 3, "image_size": 16, "classes": 10, "width": 0.35, "dropout": 0.2}
    assert meta["epochs"] == 2 and np.isfinite(meta["final_train_loss"])
    assert artifact.io.inputs[0].shape == (None, 3, 16, 16)
    loaded = make("model", "mobilenetv2", checkpoint=str(artifact.path)).prepare(None)
    assert loaded.metadata["params"] == meta["params"]


@pytest.mark.slow
def test_mobilenetv2_reaches_090_on_digits_32x32(make: Callable[..., Any], needs_datasets: None) -> None:
    """The spec's bar with the default parameters (10 epochs, width 0.5): about 30-50 s on one thread."""
    data = make("dataset", "digits", image_size=32, channels=3)
    data.prepare()
    artifact = make("model", "mobilenetv2").prepare(data)
    assert artifact.metadata["epochs"] == 10
    assert artifact.metadata["test_accuracy"] >= 0.90
