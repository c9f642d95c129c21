"""edgeai-core without edgeai-compat: no compatibility commands and no engine code, while the interfaces that
grid suites and ONNX backends implement stay importable from the core alone."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

COMMANDS = ("grid", "matrix", "onnx-backend-tests")
#: Where the engines lived before they moved to edgeai-compat.
MOVED = ("grid", "onnx_backends", "matrix", "isolation", "tables", "cli.compat")


def test_edgeai_help_lists_no_compatibility_command_without_edgeai_compat() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    env["EDGEAI_DISABLE_PLUGINS"] = "compat"
    out = subprocess.run(
        [sys.executable, "-m", "edgeai_core", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    commands = out.stdout.split("Commands:", 1)[1].split()
    assert "run" in commands and "plugins" in commands
    assert [c for c in COMMANDS if c in commands] == []
    for command in COMMANDS:
        unknown = subprocess.run(
            [sys.executable, "-m", "edgeai_core", command, "--help"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert unknown.returncode == 2
        assert f"No such command '{command}'" in unknown.stderr


@pytest.mark.parametrize("module", MOVED)
def test_the_core_has_no_engine_module(module: str) -> None:
    assert importlib.util.find_spec(f"edgeai_core.{module}") is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"edgeai_core.{module}")


def test_suite_and_backend_interfaces_come_from_the_core_alone(python_stdout: Callable[[str], str]) -> None:
    code = (
        "import sys\n"
        "from edgeai_core.api import BackendSession, GridModel, GridSuite, ImportUnsupported, OnnxBackend\n"
        "from edgeai_core.api import GridSuiteRecord, OnnxBackendRecord, Prepared\n"
        "print(GridSuite.__module__, OnnxBackend.__module__, GridModel('m', 's').category,\n"
        "      issubclass(ImportUnsupported, Exception), BackendSession.__name__, Prepared.__name__,\n"
        "      sorted(m for m in sys.modules if m.startswith('edgeai_compat')))\n"
    )
    stdout = python_stdout(code)
    assert stdout.split() == [
        "edgeai_core.compat_types",
        "edgeai_core.compat_types",
        "layer",
        "True",
        "BackendSession",
        "Prepared",
        "[]",
    ]
