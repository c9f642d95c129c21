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


def _conv_bn_relu(x: Any, filters: int, name: str, dilation: int = 1) -> Any:
    """conv 3x3 (same padding, no bias), BatchNorm, ReLU: edgeai-torch's ``conv_bn_relu``."""
    layers = keras.layers
    x = layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def shapes_segmenter(
    channels: int = 3, image_size: int = 64, classes: int = 4, width: float = 1.0
) -> keras.Model:
    """A tiny U-Net, edgeai-torch's ``shapes-segmenter`` in NHWC: 2 stages down, 2 up, skip connections.

    Channels ``c1, c2, c3`` = 8, 24, 48 scaled by ``width`` (at least 4). enc1: conv (c1) at full size; enc2:
    2x2 max-pool, conv (c2), conv (c2); enc3: max-pool, conv (c3), conv (c3), conv dilated by 2 (c3: the
    receptive field covers a whole shape, which is what tells an ellipse from a rectangle); dec2: nearest 2x
    upsampling of enc3 concatenated with enc2, conv (c2); dec1: upsampling concatenated with enc1, conv (c1); a
    1x1 conv to ``classes`` logits. Every 3x3 conv has BatchNorm and ReLU. Input ``(N, S, S, channels)``,
    output ``(N, S, S, classes)``; ``image_size`` must be a multiple of 4. 77,324 trainable parameters at
    width 1.0 for 3 channels and 4 classes, as edgeai-torch's (the concatenations put the upsampled features
    first there too, so the weights correspond up to the NCHW/NHWC transposition).
    """
    if image_size % 4:
        raise UsageError(
            f"model.image_size: shapes-segmenter-keras halves the image twice; give a multiple of 4, got "
            f"{image_size}"
        )
    c1, c2, c3 = (max(4, round(c * width)) for c in (8, 24, 48))
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, channels), name=INPUT_NAME)
    e1 = _conv_bn_relu(inputs, c1, "enc1")
    e2 = layers.MaxPooling2D(2, name="enc2_pool")(e1)
    e2 = _conv_bn_relu(_conv_bn_relu(e2, c2, "enc2a"), c2, "enc2b")
    e3 = layers.MaxPooling2D(2, name="enc3_pool")(e2)
    e3 = _conv_bn_relu(_conv_bn_relu(e3, c3, "enc3a"), c3, "enc3b")
    e3 = _conv_bn_relu(e3, c3, "enc3c", dilation=2)
    up2 = layers.UpSampling2D(2, interpolation="nearest", name="dec2_up")(e3)
    d2 = _conv_bn_relu(layers.Concatenate(name="dec2_skip")([up2, e2]), c2, "dec2")
    up1 = layers.UpSampling2D(2, interpolation="nearest", name="dec1_up")(d2)
    d1 = _conv_bn_relu(layers.Concatenate(name="dec1_skip")([up1, e1]), c1, "dec1")
    outputs = layers.Conv2D(classes, 1, name=OUTPUT_NAME)(d1)
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
