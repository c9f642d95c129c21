"""The ``tflite`` int8 compiler on a two-input Keras model: the representative dataset holds both inputs
(from the ``files`` dataset), and the int8 model follows the Keras one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")
pytest.importorskip("edgeai_datasets")


def test_int8_calibrates_both_inputs_from_files(make: Any, tmp_path: Path) -> None:
    from edgeai_tflite._tf import keras

    boxes_in = keras.Input((4,), name="boxes")
    scores_in = keras.Input((2,), name="scores")
    both = keras.layers.Concatenate()([boxes_in, scores_in])
    out = keras.layers.Dense(3, name="logits")(both)
    model = keras.Model([boxes_in, scores_in], out)
    weights = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    model.get_layer("logits").set_weights([weights, np.zeros(3, np.float32)])
    path = tmp_path / "two.keras"
    model.save(path)

    rng = np.random.default_rng(0)
    boxes, scores = rng.random((64, 4), np.float32), rng.random((64, 2), np.float32)
    np.savez(tmp_path / "two.npz", boxes=boxes, scores=scores)

    artifact = make("model", "keras-file", path=str(path)).prepare(None)
    assert sorted(t.name for t in artifact.io.inputs) == ["boxes", "scores"]
    data = make("dataset", "files", path=str(tmp_path / "two.npz"), split="all")
    data.use_io_spec(artifact.io)
    compiled = make("compiler", "tflite", mode="int8").compile(artifact, data)
    assert compiled.metadata["calibration_samples"] == 64

    runtime = make("runtime", "tflite")
    runtime.load(compiled)
    feed = {"boxes": boxes[:16], "scores": scores[:16]}
    got = runtime.infer([feed[t.name] for t in runtime.io.inputs])[0]
    expected = np.concatenate([boxes[:16], scores[:16]], axis=1) @ weights
    cosine = float(np.sum(got * expected) / (np.linalg.norm(got) * np.linalg.norm(expected)))
    assert cosine >= 0.99 and np.abs(got - expected).max() < 0.1
