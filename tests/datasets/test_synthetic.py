"""``synthetic``: inputs shaped by the model's IO spec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import IOSpec, TensorSpec
from edgeai_core.components import SPLITS
from edgeai_core.errors import DatasetError, ParameterError


def _io(shape: tuple[Any, ...], dtype: str = "float32") -> IOSpec:
    return IOSpec(inputs=(TensorSpec("x", shape, dtype),), outputs=(TensorSpec("y", (None, 10), "float32"),))


def test_inputs_follow_the_model_input(make: Callable[..., Any]) -> None:
    ds = make("synthetic", samples=50)
    assert not ds.has_labels and ds.task == "any" and ds.class_names == []
    ds.prepare()
    ds.use_io_spec(_io((None, 1, 8, 8)))
    for name in SPLITS:
        split = ds.split(name)
        assert split.input.shape == (50, 1, 8, 8) and split.input.dtype == np.float32
        assert split.targets.shape == (50,)
    train = ds.split("train").input
    assert abs(float(train.mean())) < 0.05 and abs(float(train.std()) - 1) < 0.05
    assert not np.array_equal(train, ds.split("test").input), "each split draws its own inputs"


def test_same_seed_same_inputs(make: Callable[..., Any]) -> None:
    a, b, c = make("synthetic", seed=3), make("synthetic", seed=3), make("synthetic", seed=4)
    for ds in (a, b, c):
        ds.use_io_spec(_io(("batch", 4)))
    np.testing.assert_array_equal(a.split("train").input, b.split("train").input)
    assert not np.array_equal(a.split("train").input, c.split("train").input)


def test_integer_inputs_stay_in_range(make: Callable[..., Any]) -> None:
    ds = make("synthetic", samples=400)
    ds.use_io_spec(_io((None, 16), "int8"))
    x = ds.split("test").input
    assert x.dtype == np.int8 and x.min() == -128 and x.max() == 127
    narrow = make("synthetic", samples=400, low=-3, high=3)
    narrow.use_io_spec(_io((None, 16), "uint8"))
    y = narrow.split("test").input
    assert y.dtype == np.uint8 and y.min() == 0 and y.max() == 3, "clipped to the dtype's range, inclusive"


def test_uniform_floats(make: Callable[..., Any]) -> None:
    ds = make("synthetic", distribution="uniform", low=-2.0, high=5.0, samples=100)
    ds.use_io_spec(_io((None, 3, 4, 4), "float16"))
    x = ds.split("validation").input
    assert x.dtype == np.float16 and x.min() >= -2 and x.max() <= 5 and x.max() - x.min() > 6


def test_a_static_batch_dimension_is_the_sample_axis_too(make: Callable[..., Any]) -> None:
    ds = make("synthetic", samples=7)
    ds.use_io_spec(_io((1, 3, 5)))
    assert ds.split("train").input.shape == (7, 3, 5)


def test_dynamic_dimensions_need_the_shape_param(make: Callable[..., Any]) -> None:
    ds = make("synthetic")
    with pytest.raises(DatasetError, match=r"dynamic dimension 2 .*set dataset\.shape"):
        ds.use_io_spec(_io((None, 3, None, None)))
    given = make("synthetic", shape=[3, 32, 32], samples=4)
    given.use_io_spec(_io((None, 3, None, None)))
    assert given.split("train").input.shape == (4, 3, 32, 32)


def test_without_a_model_it_explains_what_it_needs(make: Callable[..., Any]) -> None:
    with pytest.raises(
        DatasetError, match=r"comes from the model's IO spec, which is not known yet.*dataset\.shape"
    ):
        make("synthetic").split("train")
    assert make("synthetic", shape=[2, 2], samples=3).split("train").input.shape == (3, 2, 2)


def test_evaluation_is_not_applicable(make: Callable[..., Any]) -> None:
    result = make("synthetic").evaluate(np.zeros((2, 3)), np.zeros(2))
    assert result["task"] == "any" and result["applicable"] is False and "no labels" in result["reason"]


def test_low_above_high_is_refused(make: Callable[..., Any]) -> None:
    with pytest.raises(ParameterError, match=r"dataset\.low: must not exceed dataset\.high"):
        make("synthetic", low=2.0, high=1.0)
