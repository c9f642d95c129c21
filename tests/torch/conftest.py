"""Shared fixtures of the edgeai-torch tests: a plugin host, the digits data, a trained CNN and seeded checkpoints.

The CNN is trained once per session with its default parameters (30 epochs, a few seconds on one thread); the
converter and runtime tests that need no trained weights use seeded random checkpoints instead, so they do not
depend on edgeai-datasets.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")


@pytest.fixture
def host(first_party_host: Callable[..., Any]) -> Any:
    """A fresh plugin host with the core's built-ins, edgeai-torch and (when installed) edgeai-datasets."""
    return first_party_host("torch", optional=("datasets",))


@pytest.fixture
def make(host: Any, tmp_path: Path, component_builder: Callable[..., Any]) -> Callable[..., Any]:
    """``make(kind, name, seed=0, **params)``: build a component with its own work folder under tmp_path."""
    return component_builder(host, tmp_path)


@pytest.fixture
def needs_datasets() -> None:
    pytest.importorskip("edgeai_datasets", reason="edgeai-datasets provides the digits dataset")


@pytest.fixture
def digits(make: Callable[..., Any], needs_datasets: None) -> Any:
    """edgeai-datasets' ``digits`` at its defaults: (N, 1, 8, 8) float32 in [0, 1], 10 classes."""
    data = make("dataset", "digits")
    data.prepare()
    return data


@pytest.fixture(scope="session")
def trained_cnn(digits_session: Callable[..., Any]) -> Any:
    """``digits-cnn`` trained with its default parameters on the default ``digits`` (once per session)."""
    _host, make, data = digits_session("torch", "trained-cnn")
    artifact = make("model", "digits-cnn").prepare(data)
    return artifact, data


@pytest.fixture
def checkpoint(tmp_path: Path) -> Callable[..., Any]:
    """``checkpoint(architecture, **params)``: a seeded, untrained checkpoint artifact in ``tmp_path``."""
    import torch

    from edgeai_core.artifacts import Artifact
    from edgeai_torch.checkpoint import io_spec, save_checkpoint
    from edgeai_torch.nets import build

    defaults = {
        "digits-cnn": {"channels": 1, "image_size": 8, "classes": 10},
        "mobilenetv2": {"channels": 3, "image_size": 32, "classes": 10, "width": 0.35, "dropout": 0.2},
    }

    def write(architecture: str = "digits-cnn", seed: int = 0, **params: Any) -> Artifact:
        full = {**defaults[architecture], **params}
        torch.manual_seed(seed)
        module = build(architecture, full)
        if architecture == "mobilenetv2":  # non-trivial BatchNorm statistics, so folding them is exercised
            module.train()
            with torch.no_grad():
                for _ in range(3):
                    module(torch.randn(8, full["channels"], full["image_size"], full["image_size"]))
            module.eval()
        folder = tmp_path / f"ckpt-{architecture}-{seed}-{abs(hash(tuple(sorted(full.items()))))}"
        path = folder / "model.pt"
        save_checkpoint(path, architecture, full, module)
        return Artifact(path, "torch", io_spec(full), producer=f"model:{architecture}").save()

    return write


def reference_outputs(artifact: Any, x: np.ndarray) -> np.ndarray:
    """The checkpoint's outputs computed directly with torch (the ground truth runtimes are compared to)."""
    import torch

    from edgeai_torch.checkpoint import load_checkpoint

    module = load_checkpoint(artifact.path).module
    with torch.inference_mode():
        return module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()


@pytest.fixture
def reference() -> Callable[[Any, np.ndarray], np.ndarray]:
    return reference_outputs
