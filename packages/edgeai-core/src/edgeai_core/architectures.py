"""Framework-free plans of the image classifiers that first-party plugins build in their own frameworks.

Plugins in different frameworks build the same networks (twins compared layer for layer); the arithmetic that
decides their shapes lives here once, so both build exactly the same channels and strides. The frameworks only
turn a plan into layers (see :func:`build_architecture` for the single way a plugin instantiates one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from edgeai_core.errors import ArtifactError

#: (expansion t, channels c, repeats n, stride s) of MobileNetV2 (Sandler et al. 2018, table 2).
MOBILENETV2_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of ``divisor`` without losing more than 10% (as MobileNetV2)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def mobilenetv2_strides(image_size: int) -> tuple[int, list[int]]:
    """Stem stride and per-stage strides so the last feature map stays at least 2x2.

    ImageNet's MobileNetV2 downsamples 32x (224 -> 7). A 32x32 input would end at 1x1, so the total factor is
    cut to the largest power of two that leaves >= 2x2, dropping the *last* stride-2 steps first: the early,
    high-resolution layers keep their downsampling, which is where the compute is (32x32 -> 2x2 costs about a
    quarter of a stride-1 stem).
    """
    budget = 1
    while budget < 32 and image_size // (budget * 2) >= 2:
        budget *= 2
    stem = 2 if budget >= 2 else 1
    budget //= stem
    strides = []
    for _t, _c, _n, stride in MOBILENETV2_STAGES:
        if stride == 2 and budget >= 2:
            strides.append(2)
            budget //= 2
        else:
            strides.append(1)
    return stem, strides


@dataclass(frozen=True)
class InvertedResidualPlan:
    """One MobileNetV2 block: 1x1 expansion (when ``expansion`` > 1), depthwise 3x3, linear 1x1 projection."""

    cin: int
    cout: int
    stride: int
    expansion: int

    @property
    def residual(self) -> bool:
        """A skip connection adds the input when the shapes allow it."""
        return self.stride == 1 and self.cin == self.cout


@dataclass(frozen=True)
class MobileNetV2Plan:
    """The channels and strides of a MobileNetV2 with width multiplier ``width`` for ``image_size`` inputs."""

    stem_channels: int
    stem_stride: int
    last_channels: int
    blocks: tuple[InvertedResidualPlan, ...]


def mobilenetv2_plan(image_size: int, width: float) -> MobileNetV2Plan:
    """Stem, blocks and head of MobileNetV2; the last 1x1 convolution scales with ``width`` too (1280 * width)."""
    stem_stride, strides = mobilenetv2_strides(image_size)
    cin = stem = make_divisible(32 * width)
    blocks = []
    for (expansion, channels, repeats, _), stride in zip(MOBILENETV2_STAGES, strides, strict=True):
        cout = make_divisible(channels * width)
        for i in range(repeats):
            blocks.append(InvertedResidualPlan(cin, cout, stride if i == 0 else 1, expansion))
            cin = cout
    return MobileNetV2Plan(stem, stem_stride, make_divisible(1280 * width), tuple(blocks))


N = TypeVar("N")


def build_architecture(
    builders: Mapping[str, Callable[..., N]],
    allowed: Mapping[str, tuple[str, ...]],
    architecture: str,
    params: Mapping[str, Any],
    *,
    framework: str,
    package: str,
    errors: tuple[type[Exception], ...] = (TypeError, ValueError),
) -> N:
    """Instantiate ``architecture`` from its parameters with ``builders[architecture]``.

    Unknown names or parameters raise :class:`ArtifactError` (they come from checkpoint files), naming what
    ``package`` knows; a builder failing with one of ``errors`` does too.
    """
    if architecture not in builders:
        raise ArtifactError(
            f"unknown {framework} architecture '{architecture}' ({package} knows {', '.join(builders)})"
        )
    names = allowed[architecture]
    extra = sorted(set(params) - set(names))
    if extra:
        raise ArtifactError(
            f"architecture '{architecture}' takes parameters {', '.join(names)}, not {', '.join(extra)}"
        )
    try:
        return builders[architecture](**params)
    except errors as exc:
        raise ArtifactError(f"cannot build '{architecture}' from {dict(params)}: {exc}") from None
