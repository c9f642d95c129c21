"""A numpy multilayer perceptron: model (trained with Adam), int8 weight compiler and reference runtime.

Format ``npz-mlp``: a ``.npz`` archive (loaded with ``allow_pickle=False``) holding, per layer ``i``,
``layer{i}.weight`` (in x out, float32, or int8 with ``layer{i}.scale`` per output channel) and
``layer{i}.bias``; ReLU between layers; inputs are flattened. Small enough to read on a microcontroller,
which makes it the reference model for the wire protocol and for plugin authors.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.components import Compiler, Dataset, Model, Runtime
from edgeai_core.errors import ArtifactError, EdgeaiError, RuntimeFailure

FORMAT = "npz-mlp"


def _layers(weights: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Float (weight, bias) pairs from an archive, dequantizing int8 weights."""
    layers = []
    i = 0
    while f"layer{i}.weight" in weights:
        w = weights[f"layer{i}.weight"]
        if w.dtype == np.int8:
            scale = weights.get(f"layer{i}.scale")
            if scale is None:
                raise ArtifactError(f"layer{i}.weight is int8 but layer{i}.scale is missing")
            w = w.astype(np.float32) * scale.astype(np.float32)[None, :]
        b = weights.get(f"layer{i}.bias")
        if b is None or w.ndim != 2 or b.shape != (w.shape[1],):
            raise ArtifactError(f"layer{i}: weight {w.shape} and bias {getattr(b, 'shape', None)} do not fit")
        layers.append((np.ascontiguousarray(w, dtype=np.float32), b.astype(np.float32)))
        i += 1
    if not layers:
        raise ArtifactError("the archive holds no layer0.weight; it is not an npz-mlp model")
    for i in range(1, len(layers)):
        if layers[i][0].shape[0] != layers[i - 1][0].shape[1]:
            raise ArtifactError(
                f"layer{i} takes {layers[i][0].shape[0]} inputs but layer{i - 1} gives "
                f"{layers[i - 1][0].shape[1]}"
            )
    return layers


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a readable .npz archive: {exc}") from None


def forward(layers: Sequence[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    h = x.reshape(x.shape[0], -1)
    last = len(layers) - 1
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < last:
            np.maximum(h, 0, out=h)
    return h


def io_spec(input_shape: Sequence[int], classes: int) -> IOSpec:
    return IOSpec(
        inputs=(TensorSpec("input", (None, *input_shape), "float32"),),
        outputs=(TensorSpec("logits", (None, classes), "float32"),),
    )


class NumpyMlp(Model):
    """Trains an MLP with mini-batch Adam on softmax cross-entropy, or loads one from ``checkpoint``."""

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def prepare(self, dataset: Dataset | None) -> Artifact:
        checkpoint = self.params["checkpoint"]
        if checkpoint is not None:
            return self._load(Path(checkpoint))
        if dataset is None:
            raise EdgeaiError("model numpy-mlp needs a dataset to train on, or model.checkpoint to load")
        return self.train(dataset)

    def _load(self, path: Path) -> Artifact:
        if not path.is_file():
            raise ArtifactError(f"model.checkpoint: {path} does not exist")
        layers = _layers(read_npz(path))
        target = self.context.workdir / "model.npz"
        if path.resolve() != target.resolve():
            shutil.copyfile(path, target)
        shape = self.params["input_shape"] or [layers[0][0].shape[0]]
        if int(np.prod(shape)) != layers[0][0].shape[0]:
            raise ArtifactError(
                f"model.input_shape {shape} has {int(np.prod(shape))} values but the model "
                f"takes {layers[0][0].shape[0]}"
            )
        return Artifact(
            target,
            FORMAT,
            io_spec(shape, layers[-1][0].shape[1]),
            producer="model:numpy-mlp",
            versions=self.versions(),
            metadata={"loaded_from": path.name},
        ).save()

    def train(self, dataset: Dataset) -> Artifact:
        p = self.params
        train = dataset.split("train")
        x = train.input.reshape(len(train), -1).astype(np.float32)
        y = train.targets.astype(np.int64)
        classes = max(len(dataset.class_names), int(y.max()) + 1)
        rng = np.random.default_rng(self.context.seed)
        sizes = [x.shape[1], *p["hidden"], classes]
        params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            params.append(rng.standard_normal((fan_in, fan_out)).astype(np.float32) * np.sqrt(2.0 / fan_in))
            params.append(np.zeros(fan_out, np.float32))
        adam_m = [np.zeros_like(v) for v in params]
        adam_v = [np.zeros_like(v) for v in params]
        lr, b1, b2, eps, decay = p["learning_rate"], 0.9, 0.999, 1e-8, p["weight_decay"]
        step = 0
        loss = float("nan")
        for epoch in range(p["epochs"]):
            order = rng.permutation(len(x))
            losses = []
            for start in range(0, len(x), p["batch_size"]):
                idx = order[start : start + p["batch_size"]]
                grads, batch_loss = _gradients(params, x[idx], y[idx])
                losses.append(batch_loss)
                step += 1
                for k, g in enumerate(grads):
                    if decay and k % 2 == 0:
                        g = g + decay * params[k]
                    adam_m[k] = b1 * adam_m[k] + (1 - b1) * g
                    adam_v[k] = b2 * adam_v[k] + (1 - b2) * g * g
                    m_hat = adam_m[k] / (1 - b1**step)
                    v_hat = adam_v[k] / (1 - b2**step)
                    params[k] -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
            loss = float(np.mean(losses))
            self.context.progress.step(epoch + 1, p["epochs"], f"epoch {epoch + 1} loss {loss:.4f}")
        layers = [(params[2 * i], params[2 * i + 1]) for i in range(len(params) // 2)]
        train_acc = float(np.mean(np.argmax(forward(layers, x), axis=1) == y))
        path = self.context.workdir / "model.npz"
        np.savez(
            path,
            **{
                f"layer{i}.{n}": v for i, (w, b) in enumerate(layers) for n, v in (("weight", w), ("bias", b))
            },
        )
        return Artifact(
            path,
            FORMAT,
            io_spec(train.input.shape[1:], classes),
            producer="model:numpy-mlp",
            versions=self.versions(),
            metadata={
                "hidden": list(p["hidden"]),
                "epochs": p["epochs"],
                "final_loss": loss,
                "train_accuracy": train_acc,
            },
        ).save()


def _gradients(params: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Backpropagation for ReLU layers and softmax cross-entropy."""
    activations = [x]
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n_layers - 1:
            h = np.maximum(h, 0)
        activations.append(h)
    logits = activations[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    sums = probs.sum(axis=1, keepdims=True)
    probs /= sums
    n = len(x)
    # log-softmax, exact even where a probability underflows
    loss = float(np.mean(np.log(sums[:, 0]) - shifted[np.arange(n), y]))
    delta = probs
    delta[np.arange(n), y] -= 1
    delta /= n
    grads: list[np.ndarray] = [np.empty(0)] * len(params)
    for i in reversed(range(n_layers)):
        grads[2 * i] = activations[i].T @ delta
        grads[2 * i + 1] = delta.sum(axis=0)
        if i:
            delta = (delta @ params[2 * i].T) * (activations[i] > 0)
    return grads, loss


class WeightInt8(Compiler):
    """Symmetric per-output-channel int8 quantization of the weights (activations stay float)."""

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        weights = read_npz(artifact.path)
        layers = _layers(weights)
        out: dict[str, Any] = {}
        worst = 0.0
        for i, (w, b) in enumerate(layers):
            scale = np.abs(w).max(axis=0) / 127.0
            scale[scale == 0] = 1.0
            q = np.clip(np.round(w / scale[None, :]), -127, 127).astype(np.int8)
            worst = max(worst, float(np.abs(q.astype(np.float32) * scale[None, :] - w).max()))
            out[f"layer{i}.weight"], out[f"layer{i}.scale"], out[f"layer{i}.bias"] = (
                q,
                scale.astype(np.float32),
                b,
            )
        path = self.context.workdir / "model-int8.npz"
        np.savez(path, **out)
        return Artifact(
            path,
            FORMAT,
            artifact.io,
            producer="compiler:weight-int8",
            versions=self.versions(),
            metadata={
                **artifact.metadata,
                "weights": "int8 per-channel symmetric",
                "max_abs_weight_error": worst,
            },
        ).save()


class NumpyRuntime(Runtime):
    """Runs ``npz-mlp`` models with numpy: the reference runtime (and the one a numpy-only target can use)."""

    _layers: list[tuple[np.ndarray, np.ndarray]]
    _io: IOSpec

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def load(self, artifact: Artifact) -> None:
        if artifact.format != FORMAT:
            raise RuntimeFailure(f"runtime numpy loads {FORMAT} models, not {artifact.format}")
        self._layers = _layers(read_npz(artifact.path))
        self._io = artifact.io

    @property
    def io(self) -> IOSpec:
        return self._io

    def _check(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        if len(inputs) != 1:
            raise RuntimeFailure(f"the model takes 1 input, got {len(inputs)}")
        x = np.ascontiguousarray(inputs[0], dtype=np.float32)
        width = self._layers[0][0].shape[0]
        if x.ndim < 1 or x.size != x.shape[0] * width:
            raise RuntimeFailure(f"input of shape {x.shape} does not flatten to {width} values per sample")
        return x

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [forward(self._layers, self._check(inputs))]

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], Any]:
        x = self._check(inputs)
        layers = self._layers
        return lambda: forward(layers, x)
