"""Fixtures of the target profile and fit check tests: a plugin host with the core, edgeai-targets' shipped
profiles and a test analyzer of the core's npz-mlp artifacts, and an npz-mlp model file with its sidecar."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SUPPORT = Path(__file__).parent / "support"


@pytest.fixture
def npz_analyzer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(SUPPORT))
    import edgeai_npz_analyzer

    yield edgeai_npz_analyzer
    sys.modules.pop("edgeai_npz_analyzer", None)


@pytest.fixture
def targets_host(npz_analyzer: Any) -> Any:
    """Core built-ins, the shipped profiles (edgeai-targets) and the npz-mlp analyzer, registered in-process."""
    pytest.importorskip("edgeai_targets", exc_type=ImportError)
    import edgeai_core.plugin
    import edgeai_targets.plugin
    from edgeai_core.plugins import PluginHost

    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    host.register(edgeai_targets.plugin, name="targets", distribution="edgeai-targets", version="0.1.0")
    host.register(npz_analyzer, name="npz-analyzer", distribution="edgeai-npz-analyzer", version="0")
    return host


def write_mlp(path: Path, sizes: list[int], dtype: str = "float32") -> Path:
    """An npz-mlp model file with its sidecar: dense layers sizes[0] -> sizes[1] -> ...; int8 weights with
    per-channel float32 scales when ``dtype`` is int8."""
    from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec

    arrays: dict[str, np.ndarray] = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        arrays[f"layer{i}.weight"] = np.ones((n_in, n_out), dtype=dtype)
        arrays[f"layer{i}.bias"] = np.zeros(n_out, dtype=np.float32)
        if dtype == "int8":
            arrays[f"layer{i}.scale"] = np.ones(n_out, dtype=np.float32)
    np.savez(path, **arrays)
    io = IOSpec(
        (TensorSpec("x", (None, sizes[0]), "float32"),), (TensorSpec("y", (None, sizes[-1]), "float32"),)
    )
    return Artifact(path, "npz-mlp", io, producer="model:numpy-mlp").save().path


@pytest.fixture
def mlp_writer() -> Any:
    """``mlp_writer(path, sizes, dtype="float32")``: see :func:`write_mlp`."""
    return write_mlp


@pytest.fixture
def mlp_file(tmp_path: Path) -> Path:
    """A float32 MLP 64 -> 128 -> 10: 9610 parameters (38440 bytes), 9472 MACs."""
    return write_mlp(tmp_path / "mlp.npz", [64, 128, 10])


@pytest.fixture
def core_host() -> Any:
    """A fresh plugin host holding only the core's built-ins."""
    import edgeai_core.plugin
    from edgeai_core.plugins import PluginHost

    host = PluginHost(discover=False, env={})
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    return host
