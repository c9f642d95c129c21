"""edgeai-tflite's side of the ONNX support grid (``edgeai grid``, suite ``keras``).

The models are this package's Keras networks (``digits-cnn`` and ``mobilenetv2``, built by
:func:`edgeai_tflite.nets.build` as a checkpoint rebuilds them) plus the standard Keras layers and blocks an edge
model is made of: convolutions (plain, strided, dilated, depthwise, separable, transposed, 1-d), normalization,
activations, pooling, recurrent layers, attention, resizing and a few blocks, all NHWC like Keras. Each is saved
as ``model.keras`` and exported by the ``keras-to-onnx`` converter itself (SavedModel signature, then
``tf2onnx.convert.from_function``), with the converter's own check against ONNX Runtime switched off: the grid
compares the numbers itself.

Import back: ONNX -> Keras/TensorFlow needs onnx2tf, which cannot be a dependency (it pins protobuf 4.25.5 and
breaks TensorFlow 2.21; see the package README for the install that works). Where it imports, the ONNX file is
converted with it and the resulting SavedModel run; otherwise the import column says ``unsupported`` and why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import (
    Artifact,
    Context,
    GridModel,
    GridSuite,
    Prepared,
    grid_models,
    import_for_onnx,
    module_versions,
    seeded_input,
)
from edgeai_tflite._tf import keras, quiet, tf, versions
from edgeai_tflite.models import keras_io_spec, save_keras
from edgeai_tflite.nets import build

log = logging.getLogger(__name__)

BATCH = 2
IMAGE = (16, 16, 3)
SEQUENCE = (5, 16)
layers = keras.layers


@dataclass(frozen=True)
class _Spec:
    """One grid model: a function from the input tensor to the output tensor (or a whole model), the input
    shape without the batch, and the input dtype."""

    summary: str
    category: str
    make: Callable[[Any], Any]
    shape: tuple[int, ...]
    dtype: str = "float32"
    high: int = 0
    whole: Callable[[], Any] | None = None


def _residual(x: Any) -> Any:
    y = layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(8, 3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    return layers.ReLU()(layers.Add()([x, y]))


def _inverted_residual(x: Any) -> Any:
    y = layers.Conv2D(48, 1, use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(6.0)(y)
    y = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(6.0)(y)
    y = layers.Conv2D(8, 1, use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    return layers.Add()([x, y])


def _squeeze_excitation(x: Any) -> Any:
    s = layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = layers.Conv2D(2, 1, activation="relu")(s)
    s = layers.Conv2D(8, 1, activation="hard_sigmoid")(s)
    return layers.Multiply()([x, s])


def _inception(x: Any) -> Any:
    a = layers.Conv2D(4, 1)(x)
    b = layers.Conv2D(6, 3, padding="same")(layers.Conv2D(4, 1, activation="relu")(x))
    c = layers.Conv2D(2, 1)(layers.MaxPooling2D(3, strides=1, padding="same")(x))
    return layers.Concatenate()([a, b, c])


def _mlp(x: Any) -> Any:
    return layers.Dense(10)(layers.Dropout(0.5)(layers.Dense(32, activation="relu")(x)))


def _transformer(x: Any) -> Any:
    attended = layers.MultiHeadAttention(num_heads=4, key_dim=4)(x, x)
    x = layers.LayerNormalization()(layers.Add()([x, attended]))
    feed = layers.Dense(16)(layers.Dense(32, activation="relu")(x))
    return layers.LayerNormalization()(layers.Add()([x, feed]))


def _embedding(x: Any) -> Any:
    return layers.GlobalAveragePooling1D()(layers.Embedding(50, 8)(x))


def _activation(name: str) -> Callable[[Any], Any]:
    return lambda x: layers.Activation(name)(x)


MODELS: dict[str, _Spec] = {
    "digits-cnn": _Spec(
        "the Keras digits CNN (2 conv, max-pool, 2 dense), 8x8x1",
        "model",
        lambda x: x,
        (8, 8, 1),
        whole=lambda: build("digits-cnn", {"channels": 1, "image_size": 8, "classes": 10}),
    ),
    "mobilenetv2": _Spec(
        "MobileNetV2 (edgeai's Keras twin) width 0.35, 32x32x3",
        "model",
        lambda x: x,
        (32, 32, 3),
        whole=lambda: build(
            "mobilenetv2",
            {
                "channels": 3,
                "image_size": 32,
                "classes": 10,
                "width": 0.35,
                "dropout": 0.2,
                "implementation": "edgeai",
            },
        ),
    ),
    "residual-block": _Spec("ResNet basic block (conv-BN-ReLU x2 + skip)", "block", _residual, (8, 8, 8)),
    "inverted-residual": _Spec(
        "MobileNetV2 inverted residual (expand 6, depthwise, linear bottleneck, skip)",
        "block",
        _inverted_residual,
        (8, 8, 8),
    ),
    "squeeze-excitation": _Spec(
        "squeeze-and-excitation gate (GAP, 1x1 convs, hard sigmoid)", "block", _squeeze_excitation, (8, 8, 8)
    ),
    "inception": _Spec("1x1 / 3x3 / pooled branches concatenated", "block", _inception, IMAGE),
    "mlp": _Spec("Dense-ReLU-Dropout-Dense (dropout inactive at inference)", "block", _mlp, (16,)),
    "transformer-encoder": _Spec(
        "self-attention + feed-forward with residuals and LayerNorm (d 16, 4 heads)",
        "block",
        _transformer,
        SEQUENCE,
    ),
    "conv2d": _Spec("Conv2D 3x3, same", "layer", lambda x: layers.Conv2D(8, 3, padding="same")(x), IMAGE),
    "conv2d-strided": _Spec(
        "Conv2D 3x3, stride 2, same",
        "layer",
        lambda x: layers.Conv2D(8, 3, strides=2, padding="same")(x),
        IMAGE,
    ),
    "conv2d-dilated": _Spec(
        "Conv2D 3x3, dilation 2", "layer", lambda x: layers.Conv2D(8, 3, dilation_rate=2)(x), IMAGE
    ),
    "depthwise-conv2d": _Spec(
        "DepthwiseConv2D 3x3, same",
        "layer",
        lambda x: layers.DepthwiseConv2D(3, padding="same")(x),
        (16, 16, 8),
    ),
    "separable-conv2d": _Spec(
        "SeparableConv2D 3x3, same", "layer", lambda x: layers.SeparableConv2D(8, 3, padding="same")(x), IMAGE
    ),
    "conv2d-transpose": _Spec(
        "Conv2DTranspose 3x3, stride 2, same",
        "layer",
        lambda x: layers.Conv2DTranspose(4, 3, strides=2, padding="same")(x),
        IMAGE,
    ),
    "conv1d": _Spec("Conv1D kernel 3", "layer", lambda x: layers.Conv1D(8, 3)(x), (20, 4)),
    "dense": _Spec("Dense 16 -> 10", "layer", lambda x: layers.Dense(10)(x), (16,)),
    "batchnorm": _Spec(
        "BatchNormalization (inference, non-trivial statistics)",
        "layer",
        lambda x: layers.BatchNormalization()(x),
        IMAGE,
    ),
    "layernorm": _Spec(
        "LayerNormalization over the last axis", "layer", lambda x: layers.LayerNormalization()(x), SEQUENCE
    ),
    "groupnorm": _Spec(
        "GroupNormalization, 2 groups", "layer", lambda x: layers.GroupNormalization(groups=2)(x), (8, 8, 4)
    ),
    "relu": _Spec("ReLU", "layer", lambda x: layers.ReLU()(x), IMAGE),
    "relu6": _Spec("ReLU(max_value=6)", "layer", lambda x: layers.ReLU(6.0)(x), IMAGE),
    "leaky-relu": _Spec("LeakyReLU 0.1", "layer", lambda x: layers.LeakyReLU(0.1)(x), IMAGE),
    "prelu": _Spec(
        "PReLU, one slope per channel",
        "layer",
        lambda x: layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2])(x),
        IMAGE,
    ),
    "elu": _Spec("ELU", "layer", lambda x: layers.ELU()(x), IMAGE),
    "gelu": _Spec("GELU (erf)", "layer", _activation("gelu"), IMAGE),
    "silu": _Spec("SiLU (swish)", "layer", _activation("silu"), IMAGE),
    "hard-silu": _Spec("hard SiLU (hard swish)", "layer", _activation("hard_silu"), IMAGE),
    "hard-sigmoid": _Spec("hard sigmoid", "layer", _activation("hard_sigmoid"), IMAGE),
    "sigmoid": _Spec("sigmoid", "layer", _activation("sigmoid"), IMAGE),
    "tanh": _Spec("tanh", "layer", _activation("tanh"), IMAGE),
    "mish": _Spec("mish", "layer", _activation("mish"), IMAGE),
    "softplus": _Spec("softplus", "layer", _activation("softplus"), IMAGE),
    "softmax": _Spec("softmax over the channels", "layer", lambda x: layers.Softmax()(x), IMAGE),
    "maxpool2d": _Spec(
        "MaxPooling2D 3x3, stride 2, same",
        "layer",
        lambda x: layers.MaxPooling2D(3, strides=2, padding="same")(x),
        IMAGE,
    ),
    "avgpool2d": _Spec("AveragePooling2D 2x2", "layer", lambda x: layers.AveragePooling2D(2)(x), IMAGE),
    "avgpool2d-same": _Spec(
        "AveragePooling2D 3x3, stride 2, same (padding excluded)",
        "layer",
        lambda x: layers.AveragePooling2D(3, strides=2, padding="same")(x),
        IMAGE,
    ),
    "global-avgpool": _Spec(
        "GlobalAveragePooling2D", "layer", lambda x: layers.GlobalAveragePooling2D()(x), IMAGE
    ),
    "global-maxpool": _Spec("GlobalMaxPooling2D", "layer", lambda x: layers.GlobalMaxPooling2D()(x), IMAGE),
    "lstm": _Spec(
        "LSTM 8 -> 16, every step", "layer", lambda x: layers.LSTM(16, return_sequences=True)(x), (5, 8)
    ),
    "lstm-bidirectional": _Spec(
        "2-layer bidirectional LSTM",
        "layer",
        lambda x: layers.Bidirectional(layers.LSTM(16, return_sequences=True))(
            layers.Bidirectional(layers.LSTM(16, return_sequences=True))(x)
        ),
        (5, 8),
    ),
    "gru": _Spec(
        "GRU 8 -> 16, every step", "layer", lambda x: layers.GRU(16, return_sequences=True)(x), (5, 8)
    ),
    "simple-rnn": _Spec(
        "SimpleRNN (tanh) 8 -> 16", "layer", lambda x: layers.SimpleRNN(16, return_sequences=True)(x), (5, 8)
    ),
    "multihead-attention": _Spec(
        "MultiHeadAttention self-attention (4 heads, key dim 4)",
        "layer",
        lambda x: layers.MultiHeadAttention(num_heads=4, key_dim=4)(x, x),
        SEQUENCE,
    ),
    "upsample-nearest": _Spec(
        "UpSampling2D x2, nearest", "layer", lambda x: layers.UpSampling2D(2)(x), IMAGE
    ),
    "upsample-bilinear": _Spec(
        "UpSampling2D x2, bilinear",
        "layer",
        lambda x: layers.UpSampling2D(2, interpolation="bilinear")(x),
        IMAGE,
    ),
    "resizing-bicubic": _Spec(
        "Resizing to 24x24, bicubic",
        "layer",
        lambda x: layers.Resizing(24, 24, interpolation="bicubic")(x),
        IMAGE,
    ),
    "flatten": _Spec("Flatten", "layer", lambda x: layers.Flatten()(x), IMAGE),
    "embedding": _Spec(
        "Embedding (int32 token ids in) + mean over the sequence",
        "layer",
        _embedding,
        (6,),
        dtype="int32",
        high=50,
    ),
    "argmax": _Spec(
        "argmax over the last axis (integer out)", "layer", lambda x: keras.ops.argmax(x, axis=-1), (10,)
    ),
}


def _randomize_statistics(model: Any, rng: np.random.Generator) -> None:
    """Non-trivial BatchNorm moving statistics and affine parameters, so folding them is exercised."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    (rng.random(gamma.shape) + 0.5).astype(gamma.dtype),
                    (rng.standard_normal(beta.shape) * 0.1).astype(beta.dtype),
                    (rng.standard_normal(mean.shape) * 0.5).astype(mean.dtype),
                    (rng.random(var.shape) + 0.5).astype(var.dtype),
                ]
            )


class KerasGridSuite(GridSuite):
    """Builds the models of :data:`MODELS` and exports them with the ``keras-to-onnx`` converter."""

    def versions(self) -> dict[str, str]:
        return {**versions(), **module_versions(("tf2onnx", "onnx", "onnx2tf"))}

    def models(self) -> list[GridModel]:
        return grid_models(MODELS)

    def build(self, name: str, seed: int) -> Prepared:
        spec = MODELS[name]
        keras.utils.set_random_seed(seed)
        with quiet():
            if spec.whole is not None:
                model = spec.whole()
            else:
                inputs = keras.Input(spec.shape, dtype=spec.dtype, name="input")
                model = keras.Model(inputs, spec.make(inputs), name=f"grid_{name.replace('-', '_')}")
        _randomize_statistics(model, np.random.default_rng(seed + 1))
        return Prepared(model, [seeded_input((BATCH, *spec.shape), spec.dtype, seed, spec.high)])

    def run(self, prepared: Prepared, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = prepared.native(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(o) for o in outs]

    def _converter(self, workdir: Path) -> Any:
        from edgeai_tflite.onnx_export import KerasToOnnx
        from edgeai_tflite.plugin import edgeai_register_converters

        record = next(r for r in edgeai_register_converters() if r.name == "keras-to-onnx")
        params = record.params.validate(
            {"opset": self.params["opset"], "layout": "NHWC", "verify": False}, "grid"
        )
        return KerasToOnnx(
            record=record, params=params, context=Context(workdir=workdir, seed=self.context.seed)
        )

    def export(self, prepared: Prepared, path: Path) -> dict[str, Any]:
        folder = path.parent
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / "model.keras"
        save_keras(prepared.native, source)
        artifact = Artifact(source, "keras", keras_io_spec(prepared.native), producer="grid:keras").save()
        exported = self._converter(folder / "keras-to-onnx").convert(artifact)
        Path(exported.path).replace(path)
        return {"exporter": str(exported.metadata.get("exporter")), "opset_requested": self.params["opset"]}

    def import_onnx(self, path: Path, prepared: Prepared) -> Any:
        onnx2tf = import_for_onnx(
            "onnx2tf",
            "ONNX -> Keras/TensorFlow needs onnx2tf, which is not installed (it pins protobuf 4.25.5 and breaks "
            "TensorFlow; install it with --no-deps as the edgeai-tflite README shows)",
        )
        out = path.parent / "onnx2tf"
        with quiet():
            onnx2tf.convert(
                input_onnx_file_path=str(path),
                output_folder_path=str(out),
                non_verbose=True,
                keep_shape_absolutely_input_names=None,
            )
        loaded = tf.saved_model.load(str(out))
        return loaded.signatures["serving_default"]

    def run_imported(
        self, imported: Any, prepared: Prepared, inputs: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        _args, kwargs = imported.structured_input_signature
        names = sorted(kwargs)
        outputs = imported(**{n: tf.constant(x) for n, x in zip(names, inputs, strict=True)})
        return [np.asarray(outputs[k]) for k in sorted(outputs)]
