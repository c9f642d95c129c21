"""``digits``: shapes, layouts, preprocessing, stratified seeded splits, metrics and a real learning check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from edgeai_core.components import SPLITS
from edgeai_core.errors import DatasetError, ParameterError

FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}


def _all(ds: Any) -> dict[str, Any]:
    return {name: ds.split(name) for name in SPLITS}


def test_default_splits_hold_all_1797_images_as_nchw_8x8_in_unit_range(make: Callable[..., Any]) -> None:
    ds = make("digits")
    ds.prepare()
    splits = _all(ds)
    assert sum(len(s) for s in splits.values()) == 1797
    assert {name: len(s) for name, s in splits.items()} == {"train": 1258, "validation": 180, "test": 359}
    for split in splits.values():
        assert split.input.shape[1:] == (1, 8, 8)
        assert split.input.dtype == np.float32 and split.targets.dtype == np.int64
        assert split.input.min() >= 0.0 and split.input.max() <= 1.0
    assert max(s.input.max() for s in splits.values()) == 1.0
    every = np.concatenate([ds.split_indices(name) for name in SPLITS])
    assert sorted(every.tolist()) == list(range(1797)), "every image in exactly one split"
    assert ds.class_names == [str(d) for d in range(10)]


def test_pixels_are_the_bundled_values_over_16(make: Callable[..., Any]) -> None:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    ds = make("digits")
    test = ds.split("test")
    index = ds.split_indices("test")
    np.testing.assert_allclose(test.input[:, 0], bunch.images[index] / 16.0, atol=0.5 / 255 + 1e-6)
    np.testing.assert_array_equal(test.targets, bunch.target[index])


def test_the_fast_reader_and_its_fallback_match_load_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.datasets import load_digits

    import edgeai_datasets.digits as digits

    bunch = load_digits()
    assert digits.bundled_csv() is not None
    images, target = digits.load_bundled_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)
    monkeypatch.setattr(digits, "bundled_csv", lambda: None)  # a scikit-learn that moved the file
    images, target = digits.load_bundled_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)


def test_nhwc_layout_is_the_transpose_of_nchw(make: Callable[..., Any]) -> None:
    nchw = make("digits").split("train").input
    nhwc = make("digits", layout="NHWC").split("train").input
    assert nhwc.shape == (1258, 8, 8, 1)
    np.testing.assert_array_equal(nhwc, nchw.transpose(0, 2, 3, 1))


def test_resize_and_rgb(make: Callable[..., Any]) -> None:
    ds = make("digits", image_size=32, channels=3)
    train = ds.split("train")
    assert train.input.shape == (1258, 3, 32, 32)
    assert train.input.flags.c_contiguous
    np.testing.assert_array_equal(train.input[:, 0], train.input[:, 1])  # gray -> RGB repeats the channel
    np.testing.assert_array_equal(train.input[:, 0], train.input[:, 2])
    # exactly Pillow's bilinear resize of the 0..255 image
    from PIL import Image
    from sklearn.datasets import load_digits

    images = load_digits().images
    for position, index in enumerate(ds.split_indices("train")[:5]):
        gray = Image.fromarray(np.floor(images[index] * 255 / 16 + 0.5).astype(np.uint8))
        expected = np.asarray(gray.resize((32, 32), Image.Resampling.BILINEAR), np.float32) / 255
        np.testing.assert_array_equal(train.input[position, 0], expected)
    # and it keeps the picture: averaged back to 8x8 it correlates with the original
    small = make("digits").split("train").input[:, 0]
    pooled = train.input[:, 0].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.corrcoef(pooled.ravel(), small.ravel())[0, 1] > 0.9


def test_mean_and_std_are_applied_per_channel(make: Callable[..., Any]) -> None:
    plain = make("digits", channels=3).split("test").input
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    normed = make("digits", channels=3, mean=mean, std=std).split("test").input
    expected = (plain - np.asarray(mean, np.float32)[None, :, None, None]) / np.asarray(std, np.float32)[
        None, :, None, None
    ]
    np.testing.assert_allclose(normed, expected, rtol=1e-6, atol=1e-6)
    single = make("digits", mean=[0.5], std=[0.5]).split("test").input
    assert single.min() == -1.0 and single.max() == 1.0


@pytest.mark.parametrize("fractions", [(0.1, 0.2), (0.25, 0.15), (0.0, 0.3)])
def test_splits_are_stratified(make: Callable[..., Any], fractions: tuple[float, float]) -> None:
    validation, test = fractions
    ds = make("digits", validation_fraction=validation, test_fraction=test, seed=3)
    ds.prepare()
    from sklearn.datasets import load_digits

    labels = load_digits().target
    per_class = np.bincount(labels)
    share = {"train": 1 - validation - test, "validation": validation, "test": test}
    for name in SPLITS:
        counts = np.bincount(labels[ds.split_indices(name)], minlength=10)
        assert np.all(np.abs(counts - per_class * share[name]) <= 1), (name, counts, per_class * share[name])
        assert abs(counts.sum() - 1797 * share[name]) <= 1


def test_same_seed_same_split_other_seed_other_split(make: Callable[..., Any]) -> None:
    a, b, c = make("digits", seed=7), make("digits", seed=7), make("digits", seed=8)
    for name in SPLITS:
        np.testing.assert_array_equal(a.split_indices(name), b.split_indices(name))
    assert not np.array_equal(np.sort(a.split_indices("test")), np.sort(c.split_indices("test")))
    np.testing.assert_array_equal(a.split("train").input, b.split("train").input)


@pytest.mark.subprocess
def test_the_split_is_the_same_in_another_process(make: Callable[..., Any]) -> None:
    code = (
        "import json, sys\n"
        "from edgeai_core.components import Context\n"
        "from edgeai_core.plugins import PluginHost\n"
        "import edgeai_datasets.plugin as p\n"
        "h = PluginHost(discover=False, env={})\n"
        "h.register(p, name='datasets', distribution='edgeai-datasets', version='0.1.0')\n"
        "ds = h.get('dataset', 'digits').create({}, context=Context(seed=7))\n"
        "json.dump({n: ds.split_indices(n).tolist() for n in ('train', 'validation', 'test')}, sys.stdout)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    there = json.loads(out.stdout)
    here = make("digits", seed=7)
    for name in SPLITS:
        assert there[name] == here.split_indices(name).tolist()


def test_limit_takes_a_stratified_subset(make: Callable[..., Any]) -> None:
    ds = make("digits", limit=300)
    splits = _all(ds)
    assert sum(len(s) for s in splits.values()) == 300
    targets = np.concatenate([s.targets for s in splits.values()])
    assert np.all(np.abs(np.bincount(targets, minlength=10) - 30) <= 1)
    assert len(splits["test"]) == 60


def test_evaluate_uses_the_core_metrics(make: Callable[..., Any]) -> None:
    ds = make("digits")
    test = ds.split("test")
    perfect = np.eye(10, dtype=np.float32)[test.targets]
    quality = ds.evaluate(perfect, test.targets)
    assert quality["accuracy"] == 1.0 and quality["num_samples"] == 359
    assert quality["class_names"] == [str(d) for d in range(10)]
    wrong = np.eye(10, dtype=np.float32)[(test.targets + 1) % 10]
    assert ds.evaluate(wrong, test.targets)["accuracy"] == 0.0


def test_logistic_regression_learns_the_preprocessed_digits(make: Callable[..., Any]) -> None:
    """The preprocessing keeps the signal: a linear model reaches the accuracy digits are known for."""
    from sklearn.linear_model import LogisticRegression

    ds = make("digits")
    train, test = ds.split("train"), ds.split("test")
    clf = LogisticRegression(max_iter=2000).fit(train.input.reshape(len(train), -1), train.targets)
    accuracy = clf.score(test.input.reshape(len(test), -1), test.targets)
    assert accuracy > 0.9


def test_nearest_centroid_on_resized_rgb_normalized_inputs(make: Callable[..., Any]) -> None:
    ds = make("digits", image_size=16, channels=3, layout="NHWC", mean=[0.2], std=[0.3])
    train, test = ds.split("train"), ds.split("test")
    x_train, x_test = train.input.reshape(len(train), -1), test.input.reshape(len(test), -1)
    centroids = np.stack([x_train[train.targets == c].mean(axis=0) for c in range(10)])
    distances = ((x_test[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    assert np.mean(distances.argmin(axis=1) == test.targets) > 0.85


def test_calibration_inputs_match_the_core_default(make: Callable[..., Any]) -> None:
    from edgeai_core.components import Dataset

    ds = make("digits", seed=5)
    lazy = ds.calibration_inputs(64)  # decodes only those 64
    assert "train" not in ds._splits
    assert lazy.shape == (64, 1, 8, 8)
    reference = Dataset.calibration_inputs(make("digits", seed=5), 64)
    np.testing.assert_array_equal(lazy, reference)
    np.testing.assert_array_equal(ds.calibration_inputs(64), lazy)
    assert len(ds.calibration_inputs(5000)) == 1258


def test_a_split_beyond_the_memory_budget_is_a_disk_backed_array(make: Callable[..., Any]) -> None:
    in_memory = make("digits", image_size=16)
    spilled = make("digits", image_size=16, cache_mb=0)
    for name in SPLITS:
        a, b = in_memory.split(name), spilled.split(name)
        assert not isinstance(a.input, np.memmap)
        assert isinstance(b.input, np.memmap)
        np.testing.assert_array_equal(a.input, b.input)
        np.testing.assert_array_equal(a.targets, b.targets)
    assert spilled.split("train") is spilled.split("train"), "decoded once, then kept"
    assert list((spilled.context.workdir).iterdir()) == [], "the temporary file is unlinked"


def test_bad_parameters_name_the_field(make: Callable[..., Any]) -> None:
    with pytest.raises(ParameterError, match=r"dataset\.channels: must be 1 or 3, got 2"):
        make("digits", channels=2)
    with pytest.raises(ParameterError, match=r"dataset\.mean: needs 1 value or 3"):
        make("digits", channels=3, mean=[0.1, 0.2])
    with pytest.raises(ParameterError, match=r"dataset\.std: every value must be > 0"):
        make("digits", std=[0.0])
    with pytest.raises(ParameterError, match=r"dataset\.validation_fraction: .*below 1"):
        make("digits", validation_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ParameterError, match=r"dataset\.layout"):
        make("digits", layout="CHW")
    with pytest.raises(DatasetError, match="unknown split 'val'"):
        make("digits").split("val")
