"""The shared helpers the plugin API exports: messages, tensors against their IO spec, JSON values, the
framework-free training kit, architecture plans, grid-suite steps and optional imports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from edgeai_core import api
from edgeai_core.artifacts import IOSpec, TensorSpec
from edgeai_core.components import Context, Dataset, Split
from edgeai_core.errors import (
    ArtifactError,
    DatasetError,
    EdgeaiError,
    MissingDependencyError,
    ParameterError,
    UsageError,
)
from edgeai_core.records import DatasetRecord, ModelRecord

# -- messages -------------------------------------------------------------------------------------------


def test_condense_folds_cuts_and_drops_what_the_plugin_names() -> None:
    assert api.condense("  a\n  b\tc ") == "a b c"
    assert api.condense("") == "(no message)"
    assert api.condense("x" * 20, 10) == "xxxxxxx..."
    frame = re.compile(r"^\s*\d+: ")
    source = re.compile(r"/\S+\.cc:\d+ ")
    message = "Check failed\n  0: tvm::Foo\n  1: tvm::Bar\nat /src/x.cc:12 here"
    assert api.condense(message, drop_lines=frame, drop=(source,)) == "Check failed at here"


def test_shape_text_marks_unknown_dimensions() -> None:
    assert api.shape_text((None, 1, 8, 8)) == "(?, 1, 8, 8)"
    assert api.shape_text((-1, 4)) == "(?, 4)"
    assert api.shape_text(("batch", 3)) == "(batch, 3)"
    assert api.shape_text(("batch", 3), names=False) == "(?, 3)"
    assert api.shape_text((5,)) == "(5,)"


# -- tensors ----------------------------------------------------------------------------------------------


def test_quantize_and_dequantize_per_tensor() -> None:
    spec = TensorSpec("x", (None, 4), "int8", scale=0.5, zero_point=-3)
    q = api.quantize(np.array([[0.0, 1.0, -1.0, 100.0]], dtype=np.float32), spec)
    assert q.dtype == np.int8
    assert q.tolist() == [[-3, -1, -5, 127]]  # 100 / 0.5 - 3 saturates
    assert api.dequantize(q, spec).tolist() == [[0.0, 1.0, -1.0, 65.0]]


def test_quantize_per_channel_follows_the_layout() -> None:
    nhwc = TensorSpec("x", (None, 1, 1, 2), "uint8", scale=(1.0, 0.25), zero_point=(0, 10), layout="NHWC")
    x = np.array([[[[2.0, 2.0]]]], dtype=np.float32)
    assert api.quantize(x, nhwc).tolist() == [[[[2, 18]]]]
    nchw = TensorSpec("x", (None, 2, 1, 1), "uint8", scale=(1.0, 0.25), zero_point=(0, 10), layout="NCHW")
    assert api.quantize(x.reshape(1, 2, 1, 1), nchw).reshape(-1).tolist() == [2, 18]
    assert api.channel_axis("NHWC") == -1 and api.channel_axis(None) == 1
    # an explicit axis and dtype (a runtime's own tensor description) win over the spec's
    assert api.quantize(x, nchw, np.int8, axis=-1).reshape(-1).tolist() == [2, 18]


def test_check_input_shape_names_both_shapes() -> None:
    spec = TensorSpec("input", (None, 1, 8, 8), "float32")
    api.check_input_shape((1, 8, 8), spec, "digits")
    with pytest.raises(UsageError) as exc:
        api.check_input_shape((8, 8, 1), spec, "digits")
    assert (
        str(exc.value)
        == "dataset digits gives samples of shape (8, 8, 1), but the model's input 'input' expects (1, 8, 8)"
    )
    with pytest.raises(
        DatasetError, match=r"calibration samples of shape \(3,\).* expects \(4,\) per sample$"
    ):
        api.check_input_shape(
            (3,),
            TensorSpec("x", (1, 4), "float32"),
            "d",
            what="calibration samples",
            note=" per sample",
            error=DatasetError,
        )
    assert api.fits_input((5, 8), ("n", None)) and not api.fits_input((5,), (5, 1))


def test_input_normalization_checks_channels() -> None:
    first = TensorSpec("input", (None, 8, 8, 3), "float32")
    assert api.input_normalization(first, "NHWC", [0.5], None) == {"mean": [0.5], "std": [1.0], "axis": -1}
    assert api.input_normalization(first, "NHWC", None, None) is None
    with pytest.raises(ParameterError) as exc:
        api.input_normalization(first, "NHWC", [0.1, 0.2], None)
    assert exc.value.field == "model.mean" and "has 2 values, but input 'input' has 3 channels" in str(
        exc.value
    )
    with pytest.raises(ParameterError, match="must not contain 0"):
        api.input_normalization(first, "NHWC", None, [1.0, 0.0, 1.0])


def test_jsonable() -> None:
    value = {"p": Path("a/b"), 1: (np.float32(0.5), np.int64(3)), "n": None, "o": object}
    assert api.jsonable(value) == {"p": "a/b", "1": [0.5, 3], "n": None, "o": "<class 'object'>"}
    json.dumps(api.jsonable(value))


# -- training kit -------------------------------------------------------------------------------------------


def test_training_params_keep_the_framework_words() -> None:
    words = api.TrainingHelp("NHWC", "model.keras", weight_decay="wd", logdir="logs", threads="th")
    params = {
        p.name: p
        for p in api.training_params(
            words, epochs=3, batch_size=8, learning_rate=0.1, channels=1, image_size=8
        )
    }
    assert list(params) == [
        "epochs", "batch_size", "learning_rate", "weight_decay", "schedule", "channels", "image_size", "classes",
        "checkpoint", "logdir", "threads",
    ]  # fmt: skip
    assert params["epochs"].default == 3 and params["channels"].help == "input channels (NHWC)"
    assert params["checkpoint"].help == "load this model.keras (written by edgeai train) instead of training"
    assert (params["weight_decay"].help, params["logdir"].help, params["threads"].help) == (
        "wd",
        "logs",
        "th",
    )
    verify, tolerance = api.verify_params("compare", "tol")
    assert (verify.default, tolerance.default, tolerance.help) == (True, 1e-4, "tol")


def test_epoch_book_keeps_the_best_epoch_and_writes_metrics(tmp_path: Path) -> None:
    settings = api.TrainSettings(epochs=3, batch_size=4, learning_rate=0.1, logdir=tmp_path / "logs")
    written: list[tuple[int, dict[str, Any]]] = []

    class Sink:
        def write(self, step: int, row: dict[str, Any]) -> None:
            written.append((step, row))

        def close(self) -> None:
            written.append((-1, {}))

    book = api.EpochBook(settings, sink=Sink())
    for epoch, (loss, acc) in enumerate([(1.0, 0.5), (0.5, 0.8), (0.4, 0.8)], start=1):
        book.epoch_end(epoch, loss, acc, 0.1, lambda e=epoch: f"weights-{e}")
    book.stop()
    result = book.result(0.75)
    book.close()
    assert (result.best_epoch, result.best_validation_accuracy, book.best_weights) == (3, 0.8, "weights-3")
    assert (result.final_train_loss, result.test_accuracy, result.epochs) == (0.4, 0.75, 3)
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    rows = [json.loads(line) for line in (tmp_path / "logs" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 3]
    assert rows[-1] == {
        "epoch": 3,
        "test/accuracy": 0.75,
        "validation/best_accuracy": 0.8,
        "validation/best_epoch": 3,
    }
    assert [step for step, _ in written] == [1, 2, 3, 3, -1]
    with pytest.raises(EdgeaiError, match=r"^training diverged at epoch 4 \(loss nan\)"):
        book.epoch_end(4, float("nan"), 0.9, 0.1, lambda: None)


BLOBS = DatasetRecord(name="blobs", summary="b", factory="x:y", task="classification")


class _Blobs(Dataset):
    def prepare(self) -> None:
        pass

    @property
    def class_names(self) -> tuple[str, ...]:
        return ()

    def split(self, name: str) -> Split:
        rng = np.random.default_rng(0)
        n = {"train": 12, "validation": 4, "test": 4}[name]
        return Split(rng.random((n, 4, 4, 1)).astype(np.float32), np.arange(n) % 3)


class _Counting(api.TrainableClassifier):
    """A 'network' that is a weight vector: each epoch adds one; its accuracy is fixed per weight."""

    architecture = "toy"
    architecture_params: ClassVar[dict[str, tuple[str, ...]]] = {"toy": ("channels", "image_size", "classes")}
    artifact_format = "toy"
    checkpoint_name = "toy.json"

    def build_network(self, params: dict[str, Any]) -> list[int]:
        return [0]

    def parameter_count(self, network: list[int]) -> int:
        return 7

    def fit(self, network: list[int], arrays: dict[str, Any], settings: Any, book: Any) -> None:
        for epoch in range(1, settings.epochs + 1):
            network[0] += 1
            book.epoch_end(epoch, 1.0 / epoch, [0.5, 0.9, 0.7][epoch - 1], 0.01, lambda: list(network))

    def restore_weights(self, network: list[int], weights: list[int]) -> None:
        network[:] = weights

    def accuracy(self, network: list[int], inputs: np.ndarray, targets: np.ndarray) -> float | None:
        return network[0] / 10

    def save_network(self, network: list[int], params: dict[str, Any], path: Path) -> None:
        path.write_text(json.dumps(network))

    def load_checkpoint(self, path: Path) -> Any:
        params = {"channels": 1, "image_size": 4, "classes": 3}
        return self.checkpoint_artifact(path, self.io_spec(params), 7)

    def io_spec(self, params: dict[str, Any]) -> IOSpec:
        size, channels = params["image_size"], params["channels"]
        return IOSpec(
            (TensorSpec("input", (None, size, size, channels), "float32", layout="NHWC"),),
            (TensorSpec("logits", (None, params["classes"]), "float32"),),
        )


def _toy(tmp_path: Path, **params: Any) -> _Counting:
    words = api.TrainingHelp("NHWC", "toy.json", weight_decay="wd", logdir="logs", threads="threads")
    declared = api.training_params(words, epochs=3, batch_size=4, learning_rate=0.1, channels=1, image_size=4)
    record = ModelRecord(name="toy", summary="toy", factory="x:y", format="toy", params=declared)
    return _Counting(
        record=record,
        params=record.params.validate(params, "model"),
        context=Context(workdir=tmp_path, seed=5),
    )


def test_trainable_classifier_trains_restores_the_best_epoch_and_records_train_json(tmp_path: Path) -> None:
    data = _Blobs(record=BLOBS, params={})
    artifact = _toy(tmp_path).prepare(data)
    assert json.loads(artifact.path.read_text()) == [2]  # epoch 2 had the best validation accuracy
    assert artifact.producer == "model:toy" and artifact.io.inputs[0].shape == (None, 4, 4, 1)
    meta = dict(artifact.metadata)
    assert meta.pop("training_time_s") >= 0
    assert meta == {
        "architecture": "toy",
        "params": {"channels": 1, "image_size": 4, "classes": 3},  # counted from the labels
        "epochs": 3,
        "final_train_loss": pytest.approx(1 / 3),
        "best_validation_accuracy": 0.9,
        "best_epoch": 2,
        "test_accuracy": 0.2,
        "parameter_count": 7,
        "seed": 5,
        "threads": 1,
        "dataset": "blobs",
    }
    again = _toy(tmp_path / "load", checkpoint=str(artifact.path)).prepare(None)
    # the sidecar's training facts come along; the parameters default to the ones it recorded
    assert again.metadata["loaded_from"] == str(artifact.path) and again.metadata["test_accuracy"] == 0.2
    assert again.metadata["params"] == {"channels": 1, "image_size": 4, "classes": 3}
    assert again.path == tmp_path / "load" / "toy.json" and json.loads(again.path.read_text()) == [2]
    with pytest.raises(UsageError, match="needs a dataset to train on"):
        _toy(tmp_path).prepare(None)


def test_the_input_check_names_the_layout_fix(tmp_path: Path) -> None:
    data = _Blobs(record=BLOBS, params={})
    model = _toy(tmp_path, channels=3, image_size=4)
    check = model.input_check({"channels": 3, "image_size": 4, "classes": 2}, data)
    check(np.zeros((1, 4, 4, 3)))
    with pytest.raises(UsageError) as exc:
        check(np.zeros((1, 3, 4, 4)))
    assert str(exc.value).endswith(
        "= (4, 4, 3) in NHWC layout; set the model's --channels/--image-size or the dataset's size, channels and "
        "layout parameters to match. The samples are NCHW: set the dataset's layout to NHWC (--dataset-layout NHWC)."
    )


# -- architectures, grid suites, optional imports ------------------------------------------------------


def test_mobilenetv2_plan() -> None:
    plan = api.mobilenetv2_plan(32, 0.5)
    assert (plan.stem_channels, plan.stem_stride, plan.last_channels) == (16, 2, 640)
    assert len(plan.blocks) == sum(n for _t, _c, n, _s in api.MOBILENETV2_STAGES) == 17
    assert [b.stride for b in plan.blocks if b.stride == 2] == [2, 2, 2]  # 32x32 ends at 2x2
    assert plan.blocks[0] == api.InvertedResidualPlan(16, 8, 1, 1) and not plan.blocks[0].residual
    assert plan.blocks[2].residual
    assert api.mobilenetv2_strides(8) == (2, [1, 2, 1, 1, 1, 1, 1])


def test_build_architecture_refuses_unknown_names_and_parameters() -> None:
    builders = {"lin": lambda width: ("lin", width)}
    allowed = {"lin": ("width",)}
    assert api.build_architecture(builders, allowed, "lin", {"width": 2}, framework="toy", package="p") == (
        "lin",
        2,
    )
    with pytest.raises(ArtifactError, match=r"^unknown toy architecture 'cnn' \(p knows lin\)$"):
        api.build_architecture(builders, allowed, "cnn", {}, framework="toy", package="p")
    with pytest.raises(ArtifactError, match=r"^architecture 'lin' takes parameters width, not depth$"):
        api.build_architecture(builders, allowed, "lin", {"depth": 1}, framework="toy", package="p")


def test_grid_suite_steps() -> None:
    x = api.seeded_input((2, 3), "float32", seed=1)
    assert x.dtype == np.float32 and np.array_equal(x, api.seeded_input((2, 3), "float32", seed=1))
    ids = api.seeded_input((4,), "int64", seed=0, high=5)
    assert ids.dtype == np.int64 and ids.min() >= 0 and ids.max() < 5
    assert api.module_versions(("numpy", "no_such_module_here")) == {"numpy": np.__version__}
    with pytest.raises(api.ImportUnsupported, match=r"^install it$"):
        api.import_for_onnx("no_such_module_here", "install it")
    assert api.import_for_onnx("json", "") is json


def test_import_optional_names_what_to_install() -> None:
    assert api.import_optional("json", "converter:x", "pkg") is json
    with pytest.raises(MissingDependencyError) as exc:
        api.import_optional("no_such_module_here", "converter:x", "edgeai-x[extra]", missing="no-such")
    assert (
        str(exc.value) == "converter:x needs 'no-such', which is not installed: pip install edgeai-x[extra]"
    )
