"""Shared fixtures of the edgeai-onnx tests: a plugin host, the digits data, a trained CNN and its ONNX files.

The CNN is trained once per session (about a second on one thread) and written twice: node by node with
onnx.helper (fast; most tests) and through torch.onnx.export's dynamo exporter (what edgeai-torch produces).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

SUPPORT = Path(__file__).parent / "support"


@pytest.fixture(scope="session")
def testkit(support_module: Callable[[Path, str], Any]) -> Iterator[Any]:
    """The module ``edgeai_onnx_testkit`` (tests/onnx/support), importable by the records' factories."""
    with support_module(SUPPORT, "edgeai_onnx_testkit") as module:
        yield module


@pytest.fixture
def host(testkit: Any, first_party_host: Callable[..., Any]) -> Any:
    """A fresh plugin host with the core's built-ins, edgeai-onnx and the test datasets, registered in-process."""
    return first_party_host("onnx", extra=((testkit, "onnx-testkit", "edgeai-onnx-tests"),))


@pytest.fixture
def make(host: Any, tmp_path: Path, component_builder: Callable[..., Any]) -> Any:
    """``make(kind, name, **params)``: build a component with its own work folder under tmp_path."""
    return component_builder(host, tmp_path)


@pytest.fixture(scope="session")
def digits(testkit: Any) -> Any:
    """The test-digits dataset (seed 0), prepared."""
    from edgeai_core.components import Context
    from edgeai_core.records import DatasetRecord

    record = DatasetRecord(
        name="test-digits", summary="digits", factory="edgeai_onnx_testkit:SkDigits", task="classification"
    )
    data = testkit.SkDigits(record=record, params={}, context=Context())
    data.prepare()
    return data


@pytest.fixture(scope="session")
def cnn(testkit: Any, digits: Any) -> Any:
    """A small CNN trained on the digits' training split (about 97-98% test accuracy)."""
    train = digits.split("train")
    return testkit.train_cnn(train.input, train.targets, epochs=10)


@pytest.fixture(scope="session")
def cnn_onnx(testkit: Any, cnn: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained CNN as a helper-built .onnx file with a symbolic batch dimension."""
    return testkit.cnn_to_onnx(cnn, tmp_path_factory.mktemp("cnn") / "cnn.onnx")


@pytest.fixture(scope="session")
def cnn_dynamo(testkit: Any, cnn: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained CNN through torch.onnx.export (dynamo exporter, single file)."""
    return testkit.export_dynamo(cnn, tmp_path_factory.mktemp("dynamo") / "cnn-dynamo.onnx")
