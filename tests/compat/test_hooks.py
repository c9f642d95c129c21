"""The two compatibility hooks: collected like components, light to import, broken plugins skipped."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from edgeai_compat.grid import HOOK as GRID_HOOK
from edgeai_compat.onnx_backends import HOOK as BACKEND_HOOK
from edgeai_core import GridSuiteRecord, OnnxBackendRecord, hookimpl
from edgeai_core.errors import DuplicateComponentError, PluginError
from edgeai_core.plugins import PluginHost


def _suite(name: str) -> GridSuiteRecord:
    return GridSuiteRecord(name=name, summary="s", factory="m:C", framework="f", converter="c")


class _Suites:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def edgeai_register_grid_suites(self) -> list[GridSuiteRecord]:
        return [_suite(n) for n in self.names]


class _Broken:
    @hookimpl
    def edgeai_register_onnx_backends(self) -> list[Any]:
        return ["not a record"]


def test_records_get_their_provider_and_sort_by_name() -> None:
    host = PluginHost(discover=False, env={})
    host.register(_Suites("zeta", "alpha"), name="one", distribution="dist-one")
    records = host.extra_records(GRID_HOOK, GridSuiteRecord)
    assert [(r.name, r.provider, r.kind) for r in records] == [
        ("alpha", "dist-one", "grid-suite"),
        ("zeta", "dist-one", "grid-suite"),
    ]
    assert records[0].facts() == {"framework": "f", "converter": "c"}
    assert host.extra_records(BACKEND_HOOK, OnnxBackendRecord) == []


def test_a_name_registered_twice_names_both_distributions() -> None:
    host = PluginHost(discover=False, env={})
    host.register(_Suites("same"), name="one", distribution="dist-one")
    host.register(_Suites("same"), name="two", distribution="dist-two")
    with pytest.raises(DuplicateComponentError, match="dist-one and dist-two"):
        host.extra_records(GRID_HOOK, GridSuiteRecord)


def test_a_hook_returning_garbage_marks_its_plugin_broken() -> None:
    host = PluginHost(discover=False, env={})
    host.register(_Broken(), name="bad")
    assert host.extra_records(BACKEND_HOOK, OnnxBackendRecord) == []
    info = host.plugins["bad"]
    assert info.status == "broken" and "returned str, not OnnxBackendRecord" in (info.error or "")
    strict = PluginHost(discover=False, env={}, strict=True)
    strict.register(_Broken(), name="bad")
    with pytest.raises(PluginError, match="edgeai_register_onnx_backends failed"):
        strict.extra_records(BACKEND_HOOK, OnnxBackendRecord)


def test_listing_suites_and_backends_imports_no_framework(python_stdout: Callable[[str], str]) -> None:
    code = textwrap.dedent(
        """
        from edgeai_core.plugins import PluginHost, heavy_modules_loaded
        from edgeai_compat.grid import grid_suites
        from edgeai_compat.onnx_backends import onnx_backends
        from edgeai_compat.matrix import combinations
        import edgeai_compat.commands
        host = PluginHost()
        names = [s.name for s in grid_suites(host)] + [b.name for b in onnx_backends(host)]
        combinations(host)
        import sys
        print(names, heavy_modules_loaded(), 'onnx' in sys.modules)
        """
    )
    stdout = python_stdout(code)
    assert stdout.strip().endswith("[] False"), stdout


def test_the_commands_come_from_edgeai_compat() -> None:
    from click.testing import CliRunner

    from edgeai_core.cli import cli

    host = PluginHost(discover=False, env={})
    help_without = CliRunner().invoke(cli, ["--help"], obj={"host": host})
    assert help_without.exit_code == 0
    assert "grid" not in help_without.stdout.split()
    import edgeai_compat.plugin

    host = PluginHost(discover=False, env={})
    host.register(edgeai_compat.plugin, name="compat", distribution="edgeai-compat")
    result = CliRunner().invoke(cli, ["--help"], obj={"host": host})
    assert result.exit_code == 0, result.output
    commands = result.stdout.split("Commands:", 1)[1].split()
    assert {"grid", "matrix", "onnx-backend-tests"} <= set(commands)
    listed = CliRunner().invoke(cli, ["matrix", "--help"], obj={"host": host})
    assert listed.exit_code == 0 and "--max-steps" in listed.stdout
