"""``template-numpy``: runs npz-mlp archives (``layer{i}.weight``/``.bias``, int8 weights with ``.scale``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edgeai_core.api import Artifact, ArtifactError, IOSpec, Runtime, RuntimeFailure

FORMAT = "npz-mlp"


def read_layers(path: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) pairs as float32, int8 weights dequantized with their per-column scale."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path} is not a readable .npz archive: {exc}") from None
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    while f"layer{len(layers)}.weight" in arrays:
        i = len(layers)
        weight = arrays[f"layer{i}.weight"].astype(np.float32)
        if f"layer{i}.scale" in arrays:
            weight = weight * arrays[f"layer{i}.scale"].astype(np.float32)[None, :]
        layers.append((weight, arrays[f"layer{i}.bias"].astype(np.float32)))
    if not layers:
        raise ArtifactError(f"{path} holds no layer0.weight; it is not an npz-mlp model")
    return layers


class NumpyMlpRuntime(Runtime):
    """ReLU between layers; inputs are flattened per sample. Returns one output: the logits."""

    _artifact: Artifact  # the loaded model: its IO spec is the runtime's
    _layers: list[tuple[np.ndarray, np.ndarray]]

    @property
    def io(self) -> IOSpec:
        return self._artifact.io

    def load(self, artifact: Artifact) -> None:
        if artifact.format != FORMAT:
            raise RuntimeFailure(f"runtime {self.name} loads {FORMAT} models, not {artifact.format}")
        dtype = np.dtype(self.params["precision"])
        self._layers = [(w.astype(dtype), b.astype(dtype)) for w, b in read_layers(str(artifact.path))]
        self._artifact = artifact

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def _forward(self, x: np.ndarray) -> np.ndarray:
        h = x.reshape(len(x), -1).astype(self._layers[0][0].dtype, copy=False)
        for i, (weight, bias) in enumerate(self._layers):
            h = h @ weight + bias
            if i < len(self._layers) - 1:
                h = np.maximum(h, 0)
        return h.astype(np.float32, copy=False)

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(inputs) != 1:
            raise RuntimeFailure(f"runtime {self.name}: the model takes 1 input, got {len(inputs)}")
        return [self._forward(np.asarray(inputs[0]))]  # a list: one array per output of the IO spec

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        x = np.ascontiguousarray(inputs[0])  # input preparation stays outside the timed call
        return lambda: self._forward(x)
