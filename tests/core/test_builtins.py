"""The core's numpy built-ins: the generated dataset, the MLP, its int8 weight compiler and runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact
from edgeai_core.builtins.mlp import _gradients, forward, read_npz
from edgeai_core.components import Context
from edgeai_core.errors import ArtifactError, DatasetError, RuntimeFailure
from edgeai_core.plugins import PluginHost


def _make(host: PluginHost, kind: str, name: str, tmp: Path, seed: int = 0, **params: object):  # type: ignore[no-untyped-def]
    work = tmp / f"{kind}-{name}"
    work.mkdir(parents=True, exist_ok=True)
    return host.get(kind, name).create(params, context=Context(workdir=work, seed=seed))


@pytest.fixture
def blobs(core_host: PluginHost, tmp_path: Path):  # type: ignore[no-untyped-def]
    data = _make(
        core_host, "dataset", "gaussian-blobs", tmp_path, classes=5, features=12, samples=1000, separation=2.5
    )
    data.prepare()
    return data


@pytest.fixture
def trained(core_host: PluginHost, tmp_path: Path, blobs) -> Artifact:  # type: ignore[no-untyped-def]
    return _make(core_host, "model", "numpy-mlp", tmp_path, epochs=30, hidden=[32]).prepare(blobs)


def _accuracy(host: PluginHost, artifact: Artifact, data, tmp: Path) -> float:  # type: ignore[no-untyped-def]
    runtime = _make(host, "runtime", "numpy", tmp)
    runtime.load(artifact)
    test = data.split("test")
    return float(np.mean(np.argmax(runtime.infer([test.input])[0], axis=1) == test.targets))


def test_blobs_splits_are_deterministic_and_disjoint(core_host: PluginHost, tmp_path: Path, blobs) -> None:  # type: ignore[no-untyped-def]
    sizes = {name: len(blobs.split(name)) for name in ("train", "validation", "test")}
    assert sizes == {"train": 600, "validation": 200, "test": 200}
    again = _make(
        core_host,
        "dataset",
        "gaussian-blobs",
        tmp_path / "b",
        classes=5,
        features=12,
        samples=1000,
        separation=2.5,
    )
    np.testing.assert_array_equal(again.split("test").input, blobs.split("test").input)
    other = _make(
        core_host,
        "dataset",
        "gaussian-blobs",
        tmp_path / "c",
        seed=1,
        classes=5,
        features=12,
        samples=1000,
        separation=2.5,
    )
    assert not np.array_equal(other.split("test").input, blobs.split("test").input)
    assert set(np.unique(blobs.split("train").targets)) == set(range(5))
    assert blobs.class_names == ["blob0", "blob1", "blob2", "blob3", "blob4"]
    calib = blobs.calibration_inputs(50)
    assert calib.shape == (50, 12)
    assert all(any(np.array_equal(c, t) for t in blobs.split("train").input) for c in calib[:5])


def test_blobs_errors(core_host: PluginHost, tmp_path: Path, blobs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetError, match="unknown split 'tset'"):
        blobs.split("tset")
    tiny = _make(core_host, "dataset", "gaussian-blobs", tmp_path, classes=10, samples=20)
    with pytest.raises(DatasetError, match=r"dataset\.samples"):
        tiny.prepare()


def test_backpropagation_matches_numerical_gradients() -> None:
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(s).astype(np.float64) for s in ((4, 5), (5,), (5, 3), (3,))]
    x = rng.standard_normal((6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    grads, _ = _gradients(params, x, y)
    eps = 1e-6
    for k, p in enumerate(params):
        for index in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            old = p[index]
            p[index] = old + eps
            up = _gradients(params, x, y)[1]
            p[index] = old - eps
            down = _gradients(params, x, y)[1]
            p[index] = old
            assert grads[k][index] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


def test_mlp_trains_to_high_accuracy(core_host: PluginHost, tmp_path: Path, blobs, trained: Artifact) -> None:  # type: ignore[no-untyped-def]
    assert trained.format == "npz-mlp"
    assert trained.io.inputs[0].shape == (None, 12)
    assert trained.io.outputs[0].shape == (None, 5)
    assert Artifact.load(trained.path).io == trained.io
    assert trained.metadata["train_accuracy"] > 0.9
    assert _accuracy(core_host, trained, blobs, tmp_path) > 0.9


def test_weight_int8_is_smaller_and_close(
    core_host: PluginHost, tmp_path: Path, blobs, trained: Artifact
) -> None:  # type: ignore[no-untyped-def]
    quantized = _make(core_host, "compiler", "weight-int8", tmp_path).compile(trained, None)
    weights = read_npz(quantized.path)
    assert weights["layer0.weight"].dtype == np.int8 and weights["layer0.scale"].shape == (32,)
    assert quantized.size_bytes * 2 < trained.size_bytes
    float_rt = _make(core_host, "runtime", "numpy", tmp_path / "f")
    float_rt.load(trained)
    int8_rt = _make(core_host, "runtime", "numpy", tmp_path / "q")
    int8_rt.load(quantized)
    x = blobs.split("test").input
    ref, got = float_rt.infer([x])[0], int8_rt.infer([x])[0]
    assert np.max(np.abs(ref - got)) < 0.05 * np.max(np.abs(ref))
    assert (
        abs(_accuracy(core_host, quantized, blobs, tmp_path) - _accuracy(core_host, trained, blobs, tmp_path))
        <= 0.02
    )
    assert quantized.metadata["max_abs_weight_error"] > 0


def test_bind_times_the_same_computation_as_infer(
    core_host: PluginHost, tmp_path: Path, blobs, trained: Artifact
) -> None:  # type: ignore[no-untyped-def]
    runtime = _make(core_host, "runtime", "numpy", tmp_path)
    runtime.load(trained)
    x = blobs.split("test").input[:4]
    np.testing.assert_allclose(runtime.bind([x])(), runtime.infer([x])[0], rtol=0, atol=0)


def test_checkpoint_loading_reproduces_outputs(
    core_host: PluginHost, tmp_path: Path, blobs, trained: Artifact
) -> None:  # type: ignore[no-untyped-def]
    loaded = _make(core_host, "model", "numpy-mlp", tmp_path / "load", checkpoint=str(trained.path)).prepare(
        None
    )
    assert loaded.path != trained.path and loaded.metadata["loaded_from"] == "model.npz"
    x = blobs.split("test").input
    a = forward([(w, b) for w, b in _pairs(trained.path)], x)
    b = forward([(w, b) for w, b in _pairs(loaded.path)], x)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ArtifactError, match="does not exist"):
        _make(core_host, "model", "numpy-mlp", tmp_path / "x", checkpoint="missing.npz").prepare(None)
    with pytest.raises(ArtifactError, match="input_shape"):
        _make(
            core_host, "model", "numpy-mlp", tmp_path / "y", checkpoint=str(trained.path), input_shape=[5, 5]
        ).prepare(None)


def _pairs(path: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    w = read_npz(path)
    return [(w[f"layer{i}.weight"], w[f"layer{i}.bias"]) for i in range(len(w) // 2)]


def test_runtime_rejects_bad_models_and_inputs(
    core_host: PluginHost, tmp_path: Path, trained: Artifact
) -> None:
    runtime = _make(core_host, "runtime", "numpy", tmp_path)
    with pytest.raises(RuntimeFailure, match="npz-mlp models, not onnx"):
        runtime.load(Artifact(trained.path, "onnx", trained.io))
    runtime.load(trained)
    with pytest.raises(RuntimeFailure, match="does not flatten to 12"):
        runtime.infer([np.zeros((2, 7), np.float32)])
    with pytest.raises(RuntimeFailure, match="takes 1 input, got 2"):
        runtime.infer([np.zeros((1, 12)), np.zeros((1, 12))])
    broken = tmp_path / "broken.npz"
    np.savez(broken, **{"layer0.weight": np.zeros((3, 2), np.int8), "layer0.bias": np.zeros(2, np.float32)})
    with pytest.raises(ArtifactError, match=r"layer0\.scale is missing"):
        runtime.load(Artifact(broken, "npz-mlp", trained.io))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ArtifactError, match=r"not a readable \.npz"):
        runtime.load(Artifact(garbage, "npz-mlp", trained.io))
