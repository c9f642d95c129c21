"""digits-cnn training and the checkpoint format: accuracy, reproducibility, round trips and rejected files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from edgeai_core.artifacts import Artifact
from edgeai_core.errors import ArtifactError, UsageError
from edgeai_torch.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from edgeai_torch.nets import DigitsCnn


def _accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(np.argmax(outputs, axis=1) == targets))


def test_cnn_trains_on_digits_to_the_spec_accuracy(trained_cnn: Any, reference: Callable[..., Any]) -> None:
    artifact, data = trained_cnn
    meta = artifact.metadata
    assert artifact.format == "torch"
    assert artifact.path.name == "model.pt"
    assert meta["epochs"] == 30
    assert meta["test_accuracy"] >= 0.95
    assert meta["best_validation_accuracy"] >= 0.95
    assert 1 <= meta["best_epoch"] <= 30
    assert meta["final_train_loss"] < 0.1
    assert meta["parameter_count"] == sum(p.numel() for p in DigitsCnn().parameters())
    assert meta["training_time_s"] > 0
    assert meta["params"] == {"channels": 1, "image_size": 8, "classes": 10}
    # the recorded test accuracy is what the saved (best-validation) weights really give
    test = data.split("test")
    assert _accuracy(reference(artifact, test.input), test.targets) == pytest.approx(meta["test_accuracy"])
    io = artifact.io.to_json()
    assert io["inputs"] == [{"name": "input", "shape": [None, 1, 8, 8], "dtype": "float32", "layout": "NCHW"}]
    assert io["outputs"] == [{"name": "logits", "shape": [None, 10], "dtype": "float32"}]
    assert Artifact.load(artifact.path).metadata["test_accuracy"] == meta["test_accuracy"]


def test_training_is_seeded(make: Callable[..., Any], digits: Any) -> None:
    def weights(seed: int) -> dict[str, torch.Tensor]:
        artifact = make("model", "digits-cnn", seed=seed, epochs=2).prepare(digits)
        return torch.load(artifact.path, weights_only=True)["state_dict"]

    first, again, other = weights(0), weights(0), weights(1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_checkpoint_round_trip(
    trained_cnn: Any, make: Callable[..., Any], reference: Callable[..., Any], tmp_path: Path
) -> None:
    artifact, data = trained_cnn
    raw = torch.load(artifact.path, weights_only=True)
    assert set(raw) == {"format_version", "architecture", "params", "state_dict"}
    assert raw["format_version"] == FORMAT_VERSION
    assert raw["architecture"] == "digits-cnn"
    assert all(type(v) in (int, float, str) for v in raw["params"].values())

    loaded = make("model", "digits-cnn", checkpoint=str(artifact.path)).prepare(None)
    assert loaded.path != artifact.path
    assert loaded.io == artifact.io
    assert loaded.metadata["loaded_from"] == str(artifact.path)
    assert loaded.metadata["test_accuracy"] == artifact.metadata["test_accuracy"]  # carried from the sidecar
    x = data.split("test").input[:50]
    np.testing.assert_array_equal(reference(loaded, x), reference(artifact, x))

    # a checkpoint without its sidecar loads too
    bare = tmp_path / "bare.pt"
    bare.write_bytes(artifact.path.read_bytes())
    again = make("model", "digits-cnn", checkpoint=str(bare)).prepare(None)
    np.testing.assert_array_equal(reference(again, x), reference(artifact, x))


def test_checkpoint_of_another_architecture_is_rejected(
    make: Callable[..., Any], checkpoint: Callable[..., Any]
) -> None:
    cnn = checkpoint("digits-cnn")
    with pytest.raises(
        ArtifactError, match=r"model\.checkpoint: .* is a 'digits-cnn' checkpoint, not 'mobilenetv2'"
    ):
        make("model", "mobilenetv2", checkpoint=str(cnn.path)).prepare(None)


def test_pickled_objects_and_bad_files_are_rejected(tmp_path: Path, make: Callable[..., Any]) -> None:
    pickled = tmp_path / "module.pt"
    torch.save(DigitsCnn(), pickled)  # a whole pickled module: must never be unpickled
    with pytest.raises(
        ArtifactError,
        match=r"model\.checkpoint: .*not an edgeai torch checkpoint loadable with weights_only=True",
    ):
        make("model", "digits-cnn", checkpoint=str(pickled)).prepare(None)

    class Evil:
        def __reduce__(self) -> Any:
            return (sys.exit, ("unpickled!",))

    evil = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "architecture": "digits-cnn", "state_dict": Evil()}, evil)
    with pytest.raises(ArtifactError, match="weights_only=True"):
        load_checkpoint(evil)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ArtifactError, match="not an edgeai torch checkpoint"):
        load_checkpoint(garbage)

    with pytest.raises(ArtifactError, match=r"model\.checkpoint: .*missing\.pt does not exist"):
        make("model", "digits-cnn", checkpoint=str(tmp_path / "missing.pt")).prepare(None)

    plain = tmp_path / "plain_state_dict.pt"
    torch.save(DigitsCnn().state_dict(), plain)  # weights only, but not our layout
    with pytest.raises(ArtifactError, match="holds no edgeai checkpoint"):
        load_checkpoint(plain)


def test_inconsistent_checkpoints_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, "digits-cnn", {"channels": 1, "image_size": 8, "classes": 10}, DigitsCnn())
    good = torch.load(path, weights_only=True)

    def variant(**changes: Any) -> Path:
        out = tmp_path / f"variant-{len(list(tmp_path.iterdir()))}.pt"
        torch.save({**good, **changes}, out)
        return out

    with pytest.raises(ArtifactError, match="format_version 2"):
        load_checkpoint(variant(format_version=2))
    with pytest.raises(ArtifactError, match="architecture 'resnet50', which edgeai-torch does not know"):
        load_checkpoint(variant(architecture="resnet50"))
    with pytest.raises(ArtifactError, match=r"the weights do not fit 'digits-cnn'"):
        load_checkpoint(variant(params={"channels": 1, "image_size": 8, "classes": 7}))
    with pytest.raises(ArtifactError, match="'params' lacks classes"):
        load_checkpoint(variant(params={"channels": 1, "image_size": 8}))
    with pytest.raises(ArtifactError, match="takes parameters channels, image_size, classes, not depth"):
        load_checkpoint(variant(params={"channels": 1, "image_size": 8, "classes": 10, "depth": 3}))


def test_dataset_shape_mismatch_names_both_shapes(make: Callable[..., Any], digits: Any) -> None:
    with pytest.raises(UsageError, match=r"gives samples of shape \(1, 8, 8\).*built for .* = \(3, 32, 32\)"):
        make("model", "mobilenetv2", epochs=1).prepare(digits)


def test_prepare_needs_a_dataset_or_a_checkpoint(make: Callable[..., Any]) -> None:
    with pytest.raises(UsageError, match=r"needs a dataset to train on, or model\.checkpoint"):
        make("model", "digits-cnn").prepare(None)


def test_logdir_gets_metrics_and_tensorboard_events(
    make: Callable[..., Any], digits: Any, tmp_path: Path
) -> None:
    pytest.importorskip("tensorboard")
    logdir = tmp_path / "logs"
    make("model", "digits-cnn", epochs=3, logdir=str(logdir)).prepare(digits)
    rows = [json.loads(line) for line in (logdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows[:3]] == [1, 2, 3]
    assert all(r["train/loss"] > 0 and 0 <= r["validation/accuracy"] <= 1 for r in rows[:3])
    assert 0.5 < rows[-1]["test/accuracy"] <= 1
    assert list(logdir.glob("events.out.tfevents.*"))


def test_logdir_without_tensorboard_warns_once_and_writes_jsonl(
    make: Callable[..., Any], digits: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    import edgeai_torch.training

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    monkeypatch.setattr(edgeai_torch.training, "_tensorboard_warned", False)
    for run in ("a", "b"):
        make("model", "digits-cnn", epochs=1, logdir=str(tmp_path / run)).prepare(digits)
        assert (tmp_path / run / "metrics.jsonl").is_file()
        assert not list((tmp_path / run).glob("events.out.tfevents.*"))
    warnings = [r for r in caplog.records if "tensorboard is not installed" in r.getMessage()]
    assert len(warnings) == 1
    assert "pip install 'edgeai-torch[tensorboard]'" in warnings[0].getMessage()


def test_classes_default_to_the_dataset_and_can_be_set(make: Callable[..., Any], digits: Any) -> None:
    artifact = make("model", "digits-cnn", epochs=1, classes=12).prepare(digits)
    assert artifact.io.outputs[0].shape == (None, 12)
