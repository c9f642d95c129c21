"""Test helpers for tests/onnx: in-test datasets registered as a plugin, a tiny digits CNN and its ONNX forms.

Importable by name (tests/onnx/conftest.py puts this folder on sys.path) so that records can name the datasets'
factories ("edgeai_onnx_testkit:SkDigits") and the core runner can build them like any plugin's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core import DatasetRecord, Param, hookimpl
from edgeai_core.components import Dataset, Split
from edgeai_core.errors import DatasetError

# helper-built models use this IR version: onnx 1.23 writes IR 14 by default, which onnxruntime 1.31 rejects
IR_VERSION = 8
OPSET = 17


class _PreparedSplits(Dataset):
    """A dataset whose ``prepare`` fills ``_splits`` (on first use when nobody called it)."""

    _splits: dict[str, Split]

    def split(self, name: str) -> Split:
        if not hasattr(self, "_splits"):
            self.prepare()
        if name not in self._splits:
            raise DatasetError(f"unknown split '{name}'")
        return self._splits[name]


class SkDigits(_PreparedSplits):
    """scikit-learn's bundled 8x8 digits as (N, 1, 8, 8) float32 in [0, 1], split 60/20/20 with the seed."""

    def prepare(self) -> None:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.images / 16.0).astype(np.float32)[:, None]
        y = digits.target.astype(np.int64)
        order = np.random.default_rng(self.context.seed).permutation(len(x))
        a, b = int(len(x) * 0.6), int(len(x) * 0.8)
        self._splits = {
            "train": Split(x[order[:a]], y[order[:a]]),
            "validation": Split(x[order[a:b]], y[order[a:b]]),
            "test": Split(x[order[b:]], y[order[b:]]),
        }

    @property
    def class_names(self) -> list[str]:
        return [str(i) for i in range(10)]


class Generated(_PreparedSplits):
    """Seeded standard-normal samples of a given per-sample shape with random labels (calibration tests)."""

    def prepare(self) -> None:
        rng = np.random.default_rng(self.context.seed)
        shape = tuple(self.params["shape"])
        n = self.params["samples"]
        x = rng.standard_normal((n, *shape)).astype(np.float32)
        y = rng.integers(0, self.params["classes"], n).astype(np.int64)
        self._splits = {name: Split(x, y) for name in ("train", "validation", "test")}

    @property
    def class_names(self) -> list[str]:
        return [str(i) for i in range(self.params["classes"])]


@hookimpl
def edgeai_register_datasets() -> list[DatasetRecord]:
    return [
        DatasetRecord(
            name="test-digits",
            summary="scikit-learn digits, (N, 1, 8, 8)",
            factory="edgeai_onnx_testkit:SkDigits",
            task="classification",
        ),
        DatasetRecord(
            name="test-generated",
            summary="random samples",
            factory="edgeai_onnx_testkit:Generated",
            task="classification",
            params=(
                Param("shape", "list[int]", default=[1, 8, 8], help="per-sample shape"),
                Param("samples", "int", default=64, help="samples per split"),
                Param("classes", "int", default=10, help="label range"),
            ),
        ),
    ]


# -- the digits CNN --------------------------------------------------------------------------------


def make_cnn(width: int = 8) -> Any:
    import torch

    return torch.nn.Sequential(
        torch.nn.Conv2d(1, width, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(width, 2 * width, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * width * 16, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )


def train_cnn(x: np.ndarray, y: np.ndarray, epochs: int = 10, seed: int = 0) -> Any:
    """A few Adam epochs on one thread (two threads on a busy 2-core machine are much slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        net = make_cnn()
        opt = torch.optim.Adam(net.parameters(), 3e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            perm = torch.randperm(len(xt), generator=gen)
            for i in range(0, len(xt), 64):
                batch = perm[i : i + 64]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(net(xt[batch]), yt[batch]).backward()
                opt.step()
        return net.eval()
    finally:
        torch.set_num_threads(threads)


def torch_forward(net: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


def cnn_to_onnx(net: Any, path: Path, batch: int | str = "batch") -> Path:
    """The CNN written node by node with onnx.helper (fast and exporter-independent)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = {name: p.detach().numpy() for name, p in net.state_dict().items()}
    inits = [
        numpy_helper.from_array(weights["0.weight"], "w1"),
        numpy_helper.from_array(weights["0.bias"], "b1"),
        numpy_helper.from_array(weights["2.weight"], "w2"),
        numpy_helper.from_array(weights["2.bias"], "b2"),
        numpy_helper.from_array(weights["6.weight"], "w3"),
        numpy_helper.from_array(weights["6.bias"], "b3"),
        numpy_helper.from_array(weights["8.weight"], "w4"),
        numpy_helper.from_array(weights["8.bias"], "b4"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["g1"], transB=1),
        helper.make_node("Relu", ["g1"], ["r3"]),
        helper.make_node("Gemm", ["r3", "w4", "b4"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.save(model, str(path))
    return path


def export_dynamo(net: Any, path: Path) -> Path:
    """The CNN through torch.onnx.export's default (dynamo) exporter as one file, with a dynamic batch."""
    import warnings

    import torch

    with warnings.catch_warnings():  # the exporter's own deprecation chatter (torch 2.13)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            net,
            (torch.zeros(1, 1, 8, 8),),
            str(path),
            dynamo=True,
            external_data=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
    return path


def save_model(graph: Any, path: Path, opset: int = OPSET) -> Path:
    """Save a helper-built graph with the IR version onnxruntime accepts."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)
    onnx.save(model, str(path))
    return path


def accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.argmax(outputs, axis=1) == targets))


def artifact_for(path: Path, **io_overrides: Any) -> Any:
    """An ``onnx`` artifact (sidecar written) for a model file, its IO spec read from the graph."""
    import onnx

    from edgeai_core.artifacts import Artifact
    from edgeai_onnx.checks import io_spec_from_model

    io = io_spec_from_model(onnx.load(str(path)))
    return Artifact(Path(path), "onnx", io, producer="test", **io_overrides).save()
