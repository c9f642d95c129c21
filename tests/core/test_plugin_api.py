"""The declared plugin API: first-party plugins import edgeai-core only through ``edgeai_core.api``.

The package's top level re-exports the registration names (``hookimpl``, ``Param``, the record types) for
registration modules; those are the API's own objects, and a plugin may import them from either place.

A lint over the sources of every first-party plugin package (AST, so imports inside functions and under
``TYPE_CHECKING`` count too), a check that every exported name resolves and that the static view type checkers
see names the same set, and the promise that a registration module stays light: importing the API and resolving
``hookimpl``, ``Param`` and the record types imports no numpy.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import edgeai_core
from edgeai_core import api

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_PACKAGES = (
    "edgeai-datasets",
    "edgeai-torch",
    "edgeai-onnx",
    "edgeai-tflite",
    "edgeai-tvm",
    "edgeai-report",
    "edgeai-targets",
)
#: What ``from edgeai_core import ...`` may name: the API module itself and the registration names.
TOP_LEVEL_NAMES = {"api", *edgeai_core.__all__}


def api_violations(source: str, filename: str = "<source>") -> list[str]:
    """``file:line: import`` for every import of edgeai-core that does not go through ``edgeai_core.api``."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("edgeai_core.") and alias.name != "edgeai_core.api":
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            if module == "edgeai_core":
                names = [a.name for a in node.names if a.name not in TOP_LEVEL_NAMES]
                if names:
                    found.append(f"{filename}:{node.lineno}: from edgeai_core import {', '.join(names)}")
            elif module.startswith("edgeai_core.") and module != "edgeai_core.api":
                found.append(f"{filename}:{node.lineno}: from {module} import ...")
    return found


def plugin_sources() -> list[Path]:
    files = [
        p for package in PLUGIN_PACKAGES for p in sorted((ROOT / "packages" / package / "src").rglob("*.py"))
    ]
    assert len(files) > 50, "the plugin packages' sources were not found"
    return files


def test_first_party_plugins_import_edgeai_core_only_through_the_api() -> None:
    found = []
    for path in plugin_sources():
        found += api_violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == [], "import these names from edgeai_core.api (add them there if plugins need them):\n" + (
        "\n".join(found)
    )


def test_the_lint_names_file_and_line_of_each_private_import() -> None:
    source = textwrap.dedent(
        """
        import edgeai_core.api
        from edgeai_core import __version__, api
        from edgeai_core.api import Param, hookimpl
        from edgeai_core.records import ModelRecord
        from edgeai_core import ModelRecord as Record, hookimpl
        from edgeai_core import runner as hook


        def later():
            import edgeai_core.runner
            from edgeai_core.measurement import load_schema
        """
    )
    assert api_violations(source, "plug.py") == [
        "plug.py:5: from edgeai_core.records import ...",
        "plug.py:7: from edgeai_core import runner",
        "plug.py:11: import edgeai_core.runner",
        "plug.py:12: from edgeai_core.measurement import ...",
    ]


def test_every_exported_name_resolves() -> None:
    assert sorted(api.__all__) == sorted(api._EXPORTS), "the literal __all__ lists exactly the exported names"
    for name in api.__all__:
        value = getattr(api, name)
        module = api._EXPORTS[name]
        assert value is getattr(sys.modules[f"edgeai_core.{module}"], name), name
    assert sorted(dir(api)) == sorted(api.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'runner'"):
        api.runner  # noqa: B018


def test_type_checkers_see_the_same_names() -> None:
    tree = ast.parse(Path(api.__file__).read_text(encoding="utf-8"))
    static: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module
                for alias in stmt.names:
                    static[alias.name] = stmt.module.removeprefix("edgeai_core.")
    assert static == api._EXPORTS


def test_the_top_level_reexports_are_the_apis() -> None:
    assert set(edgeai_core.__all__) - {"__version__"} <= set(api.__all__)
    for name in edgeai_core.__all__:
        if name != "__version__":
            assert getattr(edgeai_core, name) is getattr(api, name), name


LIGHT_PROBE = """
import json, sys
from edgeai_core.api import (
    REQUIRED, CompilerRecord, ConverterRecord, DatasetRecord, DemoVariant, GridSuiteRecord, ModelRecord,
    OnnxBackendRecord, Param, ProbeRecord, ProtocolRecord, RuntimeRecord, hookimpl,
)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {"numpy", "edgeai_core"})))
"""


@pytest.mark.subprocess
def test_registration_names_import_no_numpy() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LIGHT_PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = json.loads(proc.stdout)
    assert not [m for m in loaded if m.split(".")[0] == "numpy"], loaded
    # the helpers' modules (tensors, training, ...) are not loaded until a plugin asks for one of their names
    assert "edgeai_core.tensors" not in loaded
    assert "edgeai_core.components" not in loaded
