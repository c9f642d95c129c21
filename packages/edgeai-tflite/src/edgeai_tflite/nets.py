"""The Keras architectures: twins of edgeai-torch's networks in NHWC, built from plain parameters.

Each architecture is a function of a few ints/floats/strings (:data:`ARCHITECTURE_PARAMS`). The Keras model's
``name`` records the architecture (``edgeai_digits_cnn``), so a ``.keras`` checkpoint says what it holds even
without its sidecar. Only stock Keras layers are used: a ``.keras`` file loads with ``safe_mode=True`` and no
custom objects, and every layer converts to TFLite builtin operators (int8 kernels included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from edgeai_core.api import ArtifactError, UsageError, build_architecture, mobilenetv2_plan
from edgeai_tflite._tf import keras

log = logging.getLogger(__name__)

#: Architecture parameters per architecture name; this is what the sidecar's ``params`` holds.
ARCHITECTURE_PARAMS: dict[str, tuple[str, ...]] = {
    "digits-cnn": ("channels", "image_size", "classes"),
    "mobilenetv2": ("channels", "image_size", "classes", "width", "dropout", "implementation"),
    "shapes-segmenter": ("channels", "image_size", "classes", "width"),
}
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
#: BatchNorm momentum of PyTorch's default (0.1 there is 1 - 0.9 here): Keras' 0.99 (0.999 in
#: keras.applications) leaves the moving statistics far from the data after the few hundred steps a small
#: dataset gives, and evaluation then runs on stale statistics.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def model_name(architecture: str) -> str:
    return "edgeai_" + architecture.replace("-", "_")


def digits_cnn(channels: int = 1, image_size: int = 8, classes: int = 10) -> keras.Model:
    """conv 3x3 (16, same), ReLU, conv 3x3 (32, valid), ReLU, max-pool 2, dense 64, ReLU, dense ``classes``.

    The same layers and parameter count (23,946 for 8x8x1 and 10 classes) as edgeai-torch's ``digits-cnn``; the
    flatten order differs (NHWC), so weights are not interchangeable.
    """
    if image_size < 4:
        raise UsageError(f"model.image_size: digits-cnn-keras needs image_size >= 4, got {image_size}")
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, channels), name=INPUT_NAME)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(32, 3, padding="valid", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="fc1")(x)
    outputs = layers.Dense(classes, name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name=model_name("digits-cnn"))


def _conv_bn(x: Any, filters: int, kernel: int, stride: int, name: str, act: bool = True) -> Any:
    layers = keras.layers
    init = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")
    x = layers.Conv2D(
        filters, kernel, stride, padding="same", use_bias=False, kernel_initializer=init, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu6")(x) if act else x


def _inverted_residual(x: Any, cin: int, cout: int, stride: int, expansion: int, name: str) -> Any:
    layers = keras.layers
    init = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="untruncated_normal")
    shortcut = x
    if expansion != 1:
        x = _conv_bn(x, cin * expansion, 1, 1, f"{name}_expand")
    x = layers.DepthwiseConv2D(
        3, stride, padding="same", use_bias=False, depthwise_initializer=init, name=f"{name}_dw_conv"
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, cout, 1, 1, f"{name}_project", act=False)  # linear bottleneck
    if stride == 1 and cin == cout:
        x = layers.Add(name=f"{name}_add")([shortcut, x])
    return x


def mobilenetv2(
    channels: int = 3,
    image_size: int = 32,
    classes: int = 10,
    width: float = 0.5,
    dropout: float = 0.2,
    implementation: str = "edgeai",
) -> keras.Model:
    """MobileNetV2 with a width multiplier: edgeai-torch's twin, or ``keras.applications.MobileNetV2``."""
    if implementation == "keras-applications":
        return _keras_applications_mobilenetv2(channels, image_size, classes, width)
    if implementation != "edgeai":
        raise ArtifactError(
            f"unknown mobilenetv2 implementation '{implementation}' (edgeai, keras-applications)"
        )
    layers = keras.layers
    plan = mobilenetv2_plan(image_size, width)
    inputs = keras.Input((image_size, image_size, channels), name=INPUT_NAME)
    x = _conv_bn(inputs, plan.stem_channels, 3, plan.stem_stride, "stem")
    for i, block in enumerate(plan.blocks):
        x = _inverted_residual(x, block.cin, block.cout, block.stride, block.expansion, f"block{i}")
    x = _conv_bn(x, plan.last_channels, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(
        classes, kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01), name=OUTPUT_NAME
    )(x)
    return keras.Model(inputs, outputs, name=model_name("mobilenetv2"))


def _keras_applications_mobilenetv2(
    channels: int, image_size: int, classes: int, width: float
) -> keras.Model:
    """``keras.applications.MobileNetV2(weights=None)`` with logits out and PyTorch's BatchNorm momentum."""
    if image_size < 32:
        raise UsageError(
            f"model.image_size: keras.applications.MobileNetV2 needs inputs of at least 32x32, got {image_size}; "
            "use implementation edgeai for small images"
        )
    inputs = keras.Input((image_size, image_size, channels), name=INPUT_NAME)
    base = keras.applications.MobileNetV2(
        input_tensor=inputs,
        alpha=width,
        include_top=True,
        weights=None,
        classes=classes,
        classifier_activation=None,
    )
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = BN_MOMENTUM
    outputs = keras.layers.Identity(name=OUTPUT_NAME)(base.output)
    return keras.Model(inputs, outputs, name=model_name("mobilenetv2"))


def _unet_block(x: Any, filters: int, stride: int, name: str, dilation: int = 1) -> Any:
    """conv 3x3 (``stride``, same padding, no bias), BatchNorm, ReLU."""
    layers = keras.layers
    x = layers.Conv2D(
        filters, 3, stride, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def shapes_segmenter(
    channels: int = 3, image_size: int = 64, classes: int = 4, width: int = 8
) -> keras.Model:
    """A tiny U-Net: 2 steps down, 2 steps up, skip connections; logits per pixel, NHWC.

    With ``w = width``: stem conv (w) at full size; down 1: stride-2 conv (2w), conv (2w); down 2: stride-2
    conv (4w), conv (4w), conv dilated by 2 (4w: the receptive field covers a whole shape, which tells an
    ellipse from a rectangle); up 1: nearest 2x upsampling, concatenated with down 1's output, conv (2w); up 2:
    upsampling, concatenated with the stem's output, conv (w); a 1x1 conv to ``classes`` logits. Every conv
    but the last is 3x3 + BatchNorm + ReLU. Input ``(N, S, S, channels)``, output ``(N, S, S, classes)``;
    ``image_size`` must be a multiple of 4. 36,028 parameters (35,388 trainable) for width 8, 3 channels and
    4 classes.
    """
    if image_size % 4:
        raise UsageError(
            f"model.image_size: shapes-segmenter-keras halves the image twice; give a multiple of 4, got "
            f"{image_size}"
        )
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, channels), name=INPUT_NAME)
    stem = _unet_block(inputs, width, 1, "stem")
    down1 = _unet_block(_unet_block(stem, 2 * width, 2, "down1a"), 2 * width, 1, "down1b")
    down2 = _unet_block(_unet_block(down1, 4 * width, 2, "down2a"), 4 * width, 1, "down2b")
    down2 = _unet_block(down2, 4 * width, 1, "down2c", dilation=2)
    x = layers.UpSampling2D(2, interpolation="nearest", name="up1_resize")(down2)
    x = _unet_block(layers.Concatenate(name="up1_skip")([x, down1]), 2 * width, 1, "up1")
    x = layers.UpSampling2D(2, interpolation="nearest", name="up2_resize")(x)
    x = _unet_block(layers.Concatenate(name="up2_skip")([x, stem]), width, 1, "up2")
    outputs = layers.Conv2D(classes, 1, name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name=model_name("shapes-segmenter"))


_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "digits-cnn": digits_cnn,
    "mobilenetv2": mobilenetv2,
    "shapes-segmenter": shapes_segmenter,
}


def build(architecture: str, params: Mapping[str, Any]) -> keras.Model:
    """Instantiate ``architecture`` from its parameters (unknown names or parameters raise ArtifactError)."""
    return build_architecture(
        _BUILDERS, ARCHITECTURE_PARAMS, architecture, params, framework="Keras", package="edgeai-tflite"
    )
