"""Shared fixtures of the edgeai-tflite tests.

Two kinds of tests live here:

* runtime tests (``test_runtime.py``, ``test_plugin.py``) need only an interpreter package: they run in the numpy<2
  + tflite-runtime profile (``nox -s tflite_runtime``) where TensorFlow is absent, on tiny models written with the
  flatbuffers schema (``support/tflite_testkit.py``);
* compile-side tests need TensorFlow. Importing it costs several seconds, so the Keras CNN is trained once per
  session (15 epochs) and compiled once per mode; tests share those artifacts.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("edgeai_tflite")

SUPPORT = Path(__file__).parent / "support"
#: Epochs of the shared CNN: enough for ~0.97 test accuracy, few enough for the test time budget.
EPOCHS = 15


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _host(first_party_host: Callable[..., Any]) -> Any:
    return first_party_host("tflite", optional=("datasets",))


@pytest.fixture
def host(first_party_host: Callable[..., Any]) -> Any:
    """A fresh plugin host with the core's built-ins, edgeai-tflite and (when installed) edgeai-datasets."""
    return _host(first_party_host)


@pytest.fixture
def make(host: Any, tmp_path: Path, component_builder: Callable[..., Any]) -> Callable[..., Any]:
    """``make(kind, name, seed=0, **params)``: build a component with its own work folder under tmp_path."""
    return component_builder(host, tmp_path)


@pytest.fixture(scope="session")
def testkit(support_module: Callable[[Path, str], Any]) -> Iterator[Any]:
    """``tflite_testkit`` (tests/tflite/support): tiny .tflite models written without TensorFlow."""
    pytest.importorskip("ai_edge_litert", reason="the flatbuffers schema comes with ai-edge-litert")
    pytest.importorskip("flatbuffers")
    with support_module(SUPPORT, "tflite_testkit") as module:
        yield module


@pytest.fixture(scope="session")
def tf_session(digits_session: Callable[..., Any]) -> dict[str, Any]:
    """What the compile-side tests share: a host, a builder and the NHWC digits (prepared)."""
    pytest.importorskip("tensorflow", reason="the compile side needs edgeai-tflite[compile]")
    host, make, data = digits_session("tflite", "tflite-session", layout="NHWC")
    return {"host": host, "make": make, "digits": data, "cache": {}}


@pytest.fixture(scope="session")
def trained(tf_session: dict[str, Any]) -> Any:
    """``digits-cnn-keras`` trained on NHWC digits for :data:`EPOCHS` epochs (once per session)."""
    return tf_session["make"]("model", "digits-cnn-keras", epochs=EPOCHS).prepare(tf_session["digits"])


@pytest.fixture(scope="session")
def compiled(tf_session: dict[str, Any], trained: Any) -> Callable[..., Any]:
    """``compiled(**params)``: the trained CNN through compiler ``tflite`` with these parameters (memoized)."""

    def get(**params: Any) -> Any:
        key = tuple(sorted(params.items()))
        cache = tf_session["cache"]
        if key not in cache:
            compiler = tf_session["make"]("compiler", "tflite", **params)
            cache[key] = compiler.compile(trained, tf_session["digits"])
        return cache[key]

    return get


@pytest.fixture(scope="session")
def keras_outputs(tf_session: dict[str, Any]) -> Callable[[Any, Any], Any]:
    """``keras_outputs(artifact, x)``: the Keras model's own outputs, the reference conversions are compared to."""
    models: dict[str, Any] = {}

    def run(artifact: Any, x: Any) -> Any:
        import keras
        import numpy as np

        key = str(artifact.path)
        if key not in models:
            models[key] = keras.models.load_model(artifact.path, compile=False)
        return np.asarray(models[key](x, training=False))

    return run


@pytest.fixture
def fake_edgetpu_compiler(tmp_path: Path) -> Path:
    """An ``edgetpu_compiler`` stand-in: writes ``<stem>_edgetpu.tflite`` (a copy) into the ``-o`` folder."""
    script = tmp_path / "bin" / "edgetpu_compiler"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys, pathlib\n"
        "args = sys.argv[1:]\n"
        "out = pathlib.Path(args[args.index('-o') + 1])\n"
        "model = pathlib.Path(args[-1])\n"
        "shutil.copyfile(model, out / (model.stem + '_edgetpu.tflite'))\n"
        "print('Edge TPU Compiler version 16.0 (fake)')\n"
        "print('Model compiled successfully')\n"
    )
    script.chmod(0o755)
    return script
