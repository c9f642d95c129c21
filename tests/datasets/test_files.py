"""``files`` (the user's arrays) and multi-input ``synthetic``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import IOSpec, TensorSpec
from edgeai_core.components import SPLITS, Split
from edgeai_core.errors import EdgeaiError, ParameterError, UsageError

TWO = IOSpec(
    inputs=(TensorSpec("boxes", (None, 4), "float32"), TensorSpec("scores", (None, 3), "float32")),
    outputs=(TensorSpec("y", (None, 2), "float32"),),
)


def _npz(path: Path, n: int = 10, **extra: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, boxes=rng.random((n, 4), np.float32), scores=rng.random((n, 3)), **extra)
    return path


def test_npz_keys_are_the_inputs_and_fractions_split_them(make: Callable[..., Any], tmp_path: Path) -> None:
    labels = np.arange(10) % 2
    ds = make("files", path=str(_npz(tmp_path / "d.npz", labels=labels)), labels="labels")
    ds.prepare()
    ds.use_io_spec(TWO)
    sizes = {name: len(ds.split(name)) for name in SPLITS}
    assert sizes == {"train": 6, "validation": 2, "test": 2}
    train = ds.split("train")
    assert train.names == ["boxes", "scores"]
    assert train.inputs["scores"].dtype == np.float32, "float64 arrays are cast to the model's dtype"
    seen = np.concatenate([ds.split(n).inputs["boxes"] for n in SPLITS])
    with np.load(tmp_path / "d.npz") as data:
        assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, data["boxes"].tolist()))
    assert ds.task == "classification" and ds.has_labels and ds.class_names == ["0", "1"]
    assert set(np.concatenate([ds.split(n).targets for n in SPLITS]).tolist()) == {0, 1}
    with pytest.raises(EdgeaiError, match=r"this split has 2 inputs \(boxes, scores\)"):
        _ = train.input


def test_one_npy_per_input_and_split_all(make: Callable[..., Any], tmp_path: Path) -> None:
    np.save(tmp_path / "b.npy", np.ones((5, 4), np.float32))
    np.save(tmp_path / "s.npy", np.zeros((5, 3), np.float32))
    ds = make(
        "files", inputs={"boxes": str(tmp_path / "b.npy"), "scores": str(tmp_path / "s.npy")}, split="all"
    )
    ds.use_io_spec(TWO)
    test = ds.split("test")
    assert len(test) == 5 and not ds.has_labels and ds.task == "any"
    assert test.inputs["boxes"].sum() == 20 and test.inputs["scores"].sum() == 0
    assert ds.calibration_samples(3)["boxes"].shape == (3, 4)


def test_keys_that_do_not_match_name_the_file_and_inputs(make: Callable[..., Any], tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, boxes=np.zeros((4, 4), np.float32), logits=np.zeros((4, 3), np.float32))
    ds = make("files", path=str(path))
    with pytest.raises(UsageError) as caught:
        ds.use_io_spec(TWO)
    assert str(caught.value) == (
        "files: d.npz has no array for input 'scores': it holds boxes, logits, the model takes 2 input(s): "
        "boxes ('?', 4), scores ('?', 3)"
    )


def test_a_wrong_sample_shape_names_the_input_and_the_expected_shape(
    make: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, boxes=np.zeros((4, 4), np.float32), scores=np.zeros((4, 5), np.float32))
    with pytest.raises(UsageError) as caught:
        make("files", path=str(path)).use_io_spec(TWO)
    assert str(caught.value) == (
        "files: d.npz: input 'scores' has samples of shape (5,), the model expects (3,) per sample "
        "(array shape ('?', 3))"
    )


def test_misaligned_labels(make: Callable[..., Any], tmp_path: Path) -> None:
    np.save(tmp_path / "labels.npy", np.zeros(9, np.int64))
    ds = make("files", path=str(_npz(tmp_path / "d.npz")), labels=str(tmp_path / "labels.npy"))
    with pytest.raises(UsageError) as caught:
        ds.prepare()
    assert str(caught.value) == (
        "files: labels.npy: labels of shape (9,) and dtype int64 do not align with input 'boxes' (10 samples); "
        "expected integer labels of shape (10,)"
    )


def test_path_or_inputs_not_both(make: Callable[..., Any]) -> None:
    with pytest.raises(ParameterError, match="give either path"):
        make("files")


def test_a_bare_array_split_takes_the_model_input_name() -> None:
    split = Split(np.zeros((3, 2)), np.zeros(3))
    assert split.names == ["input"] and len(split) == 3
    one = IOSpec(inputs=(TWO.inputs[0],), outputs=())
    named = split.named(one)
    assert named.names == ["boxes"] and named.input is split.input
    assert split.named(TWO).names == ["input"], "a bare array cannot feed two inputs: the error names it"
    assert [a.shape for a in split.arrays(IOSpec(inputs=(TWO.inputs[0],), outputs=()))] == [(3, 2)]
    with pytest.raises(UsageError, match=r"the model takes 2 \(boxes, scores\); missing: boxes, scores"):
        split.arrays(TWO)
    first, _ = next(split.batches(2))
    assert list(first) == ["input"] and first["input"].shape == (2, 2)


def test_synthetic_fills_each_input_with_its_own_range(make: Callable[..., Any]) -> None:
    io = IOSpec(
        inputs=(TensorSpec("boxes", (None, 4), "float32"), TensorSpec("ids", (None, 3), "int32")),
        outputs=(TensorSpec("y", (None, 2), "float32"),),
    )
    ds = make(
        "synthetic", samples=200, inputs={"boxes": {"low": 2.0, "high": 3.0}, "ids": {"low": 5, "high": 7}}
    )
    ds.use_io_spec(io)
    split = ds.split("train")
    boxes, ids = split.inputs["boxes"], split.inputs["ids"]
    assert boxes.shape == (200, 4) and boxes.dtype == np.float32 and boxes.min() >= 2.0 and boxes.max() < 3.0
    assert ids.dtype == np.int32 and ids.min() == 5 and ids.max() == 7
    with pytest.raises(ParameterError, match=r"the model has no input 'nope'; its inputs are boxes, ids"):
        make("synthetic", inputs={"nope": {"low": 0}}).use_io_spec(io)


def test_synthetic_reports_the_dynamic_dims_it_fixed(
    make: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    io = IOSpec(inputs=(TensorSpec("x", (None, 3, None), "float32"),), outputs=())
    ds = make("synthetic", samples=2, dynamic=16)
    with caplog.at_level(logging.INFO, logger="edgeai_datasets.synthetic"):
        ds.use_io_spec(io)
    assert ds.split("test").input.shape == (2, 3, 16)
    assert ds.fixed == {"x": {2: 16}}
    assert "synthetic: dynamic dimensions fixed: input 'x' dim 2 = 16" in caplog.text


def test_the_split_contract_names_the_input_that_does_not_align() -> None:
    from edgeai_core.contracts import ContractError, check_split
    from edgeai_core.records import DatasetRecord

    record = DatasetRecord(name="two", summary="two inputs", factory="x:y", task="any")
    split = Split({"boxes": np.zeros((4, 4)), "scores": np.zeros((3, 2))}, np.zeros(4))
    with pytest.raises(ContractError) as caught:
        check_split(record, "test", split)
    assert caught.value.got == "a Split with 3 samples of input 'scores' and 4 targets"
    assert check_split(record, "test", Split({"boxes": np.zeros((4, 4))}, np.zeros(4))).names == ["boxes"]
