"""Fixtures of the edgeai-compat tests (grid, matrix, ONNX backend test data).

Plugins are registered in-process on a fresh host, edgeai-compat's own (which adds the commands) always; the grid
and the backend suite rebuild that host in their worker processes from the plugins' module names, so the test
plugin (tests/compat/support) is put on sys.path, which the workers inherit.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SUPPORT = Path(__file__).parent / "support"

PLUGINS = (
    ("core", "edgeai_core.plugin", "edgeai-core"),
    ("compat", "edgeai_compat.plugin", "edgeai-compat"),
    ("datasets", "edgeai_datasets.plugin", "edgeai-datasets"),
    ("torch", "edgeai_torch.plugin", "edgeai-torch"),
    ("onnx", "edgeai_onnx.plugin", "edgeai-onnx"),
    ("tflite", "edgeai_tflite.plugin", "edgeai-tflite"),
    ("tvm", "edgeai_tvm.plugin", "edgeai-tvm"),
)


@pytest.fixture(scope="session")
def testkit(support_module: Callable[[Path, str], Any]) -> Iterator[Any]:
    """The module ``edgeai_compat_testkit`` (tests/compat/support), importable by name here and in workers."""
    with support_module(SUPPORT, "edgeai_compat_testkit") as module:
        yield module


@pytest.fixture(scope="session")
def reference_runtime(testkit: Any) -> Any:
    """The module ``edgeai_compat_reference_runtime`` (tests/compat/support): runtime ``onnx-reference``."""
    import edgeai_compat_reference_runtime

    return edgeai_compat_reference_runtime


@pytest.fixture
def testkit_cli(make_host: Callable[..., Any], testkit: Any) -> Callable[..., Any]:
    """``testkit_cli("grid", "--list")``: the edgeai CLI in-process on a host with the core, edgeai-compat and
    the testkit plugin."""
    from click.testing import CliRunner

    from edgeai_core.cli import cli

    host = make_host("core", extra=(testkit,))
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, list(args), obj={"host": host})

    return invoke


@pytest.fixture
def refused(testkit_cli: Callable[..., Any]) -> Callable[..., str]:
    """``refused("grid", "--models", "nope")``: the stderr of a testkit CLI call that must be refused as a
    usage error (exit code 2)."""

    def run(*args: str) -> str:
        result = testkit_cli(*args)
        assert result.exit_code == 2, result.output
        stderr: str = result.stderr
        return stderr

    return run


@pytest.fixture
def make_host() -> Callable[..., Any]:
    """``make_host("core", "onnx", ..., extra=[module])``: a host with edgeai-compat, those first-party plugins
    (skipping the test when one is not installed) and extra plugin modules."""

    def make(*names: str, extra: tuple[Any, ...] = ()) -> Any:
        from edgeai_core.plugins import PluginHost

        host = PluginHost(discover=False, env={})
        for name, module_name, distribution in PLUGINS:
            if name not in (*names, "compat"):
                continue
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                pytest.skip(f"{distribution} is not installed")
            host.register(module, name=name, distribution=distribution, version="0.1.0")
        for module in extra:
            host.register(module, name=module.__name__)
        return host

    return make
