"""Every hook goes through pluggy, one plugin at a time: wrappers, call monitoring and tracing see the calls,
a plugin whose hook raises is isolated, a hook pluggy would silently never call marks its plugin broken, and a
plugin may bring hookspecs of its own."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import edgeai_core.plugin
from edgeai_core import RuntimeRecord, hookimpl
from edgeai_core.errors import PluginError
from edgeai_core.plugins import PluginHost

RUNTIME = """
from edgeai_core.api import RuntimeRecord, hookimpl


@hookimpl
def edgeai_register_runtimes():
    return [RuntimeRecord(name="good-rt", summary="a runtime", factory="nowhere:Runtime", formats=("x",))]
"""

MISSPELLED = """
from edgeai_core.api import RuntimeRecord, hookimpl


@hookimpl
def edgeai_register_runtime():  # missing "s": no hookspec has this name
    return [RuntimeRecord(name="lost-rt", summary="never seen", factory="nowhere:Runtime", formats=("x",))]
"""

UNMARKED = """
from edgeai_core.api import RuntimeRecord, hookimpl


def edgeai_register_runtimes():  # forgot @hookimpl: pluggy would ignore it
    return [RuntimeRecord(name="lost-rt", summary="never seen", factory="nowhere:Runtime", formats=("x",))]


@hookimpl
def edgeai_register_protocols():
    return []
"""

BOARD_SPECS = '''
from edgeai_core.api import hookspec


@hookspec
def edgeai_boards_register_boards():
    """Return a list of boards_plugin.Board."""
'''

BOARD_PROVIDER = """
from dataclasses import dataclass

from edgeai_core.api import hookimpl

import board_specs


@dataclass(frozen=True)
class Board:
    name: str
    cores: int
    provider: str = ""


@hookimpl
def edgeai_add_hookspecs(pm):
    pm.add_hookspecs(board_specs)


@hookimpl
def edgeai_boards_register_boards():
    return [Board("pi4", 4)]
"""

BOARD_USER = """
from edgeai_core.api import hookimpl

from boards_plugin import Board


@hookimpl
def edgeai_boards_register_boards():
    return [Board("jetson", 6)]
"""


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``modules(name=source, ...)``: real modules written to a folder on sys.path and imported."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def make(**sources: str) -> list[ModuleType]:
        for name, source in sources.items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
            written.append(name)
        importlib.invalidate_caches()
        return [importlib.import_module(name) for name in sources]

    yield make
    for name in written:
        sys.modules.pop(name, None)


def _host(strict: bool = False, **env: str) -> PluginHost:
    host = PluginHost(discover=False, strict=strict, env=env)
    host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
    return host


# -- calls through pluggy ----------------------------------------------------------------------------------


def test_every_collector_call_reaches_one_plugin_through_pluggy(modules: Any) -> None:
    [good] = modules(good_plugin=RUNTIME)
    host = _host()
    host.register(good, name="good", distribution="good-dist")
    calls: list[tuple[str, list[str], dict[str, object]]] = []
    host.pm.add_hookcall_monitoring(
        lambda hook, impls, kwargs: calls.append((hook, [i.plugin_name for i in impls], dict(kwargs))),
        lambda outcome, hook, impls, kwargs: None,
    )
    assert host.names()["runtime"] == ["echo", "good-rt", "numpy"]
    runtime_calls = [plugins for hook, plugins, _ in calls if hook == "edgeai_register_runtimes"]
    assert runtime_calls == [["core"], ["good"]]
    assert [plugins for hook, plugins, _ in calls if hook == "edgeai_register_datasets"] == [["core"]]
    # a hook nobody implements is not called at all
    assert sorted({hook for hook, _, _ in calls}) == [
        "edgeai_register_compilers", "edgeai_register_datasets", "edgeai_register_executors",
        "edgeai_register_models", "edgeai_register_probes", "edgeai_register_protocols", "edgeai_register_runtimes",
    ]  # fmt: skip
    assert all(kwargs == {} for _, _, kwargs in calls)

    import click

    class Commands:
        @hookimpl
        def edgeai_register_commands(self, cli: click.Group) -> None:
            cli.add_command(click.Command("hello"))

    host.register(Commands(), name="commands")
    calls.clear()
    group = click.Group("g")
    host.add_commands(group)
    assert calls == [("edgeai_register_commands", ["commands"], {"cli": group})]
    assert "hello" in group.commands


def test_a_hook_wrapper_sees_and_changes_each_call() -> None:
    seen: list[list[str]] = []

    class HideEcho:
        @hookimpl(wrapper=True)
        def edgeai_register_runtimes(self) -> Any:
            result = yield
            seen.append([r.name for records in result for r in records])
            return [[r for r in records if r.name != "echo"] for records in result]

    host = _host()
    host.register(HideEcho(), name="hide-echo")
    assert host.names()["runtime"] == ["numpy"]
    assert seen == [["numpy", "echo"]]
    assert host.plugins["hide-echo"].status == "ok"
    assert host.plugins["hide-echo"].components == []


def test_a_raising_hook_is_isolated_and_the_others_are_still_called(modules: Any) -> None:
    [good] = modules(good_plugin=RUNTIME)

    class Explodes:
        @hookimpl
        def edgeai_register_runtimes(self) -> list[RuntimeRecord]:
            raise RuntimeError("no licence file")

    host = _host()
    host.register(Explodes(), name="explodes", distribution="explodes-dist")
    host.register(good, name="good")
    assert host.names()["runtime"] == ["echo", "good-rt", "numpy"]
    assert host.plugins["explodes"].status == "broken"
    assert host.plugins["explodes"].error == (
        "edgeai_register_runtimes failed: RuntimeError: no licence file"
    )


def test_call_each_returns_what_each_plugin_returned() -> None:
    class Greeter:
        @hookimpl
        def edgeai_demo_finished(self, output_dir: Path, results: list[Path]) -> list[Path]:
            return [output_dir / "page.html", *results]

    host = _host()
    host.register(Greeter(), name="greeter")
    [(info, paths)] = host.call_each("edgeai_demo_finished", output_dir=Path("out"), results=[Path("r.json")])
    assert info.name == "greeter"
    assert paths == [Path("out/page.html"), Path("r.json")]
    assert host.call_plugin("edgeai_demo_finished", "greeter", output_dir=Path("o"), results=[]) == [
        Path("o/page.html")
    ]


def test_tracing_prints_each_hook_call_and_its_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    host = _host(EDGEAI_TRACE_PLUGINS="1")
    host.names()
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "  edgeai_register_runtimes [hook]" in lines
    assert "  plugin core [hook]" in lines
    finish = [
        line for line in lines if line.startswith("  finish edgeai_register_runtimes --> [[RuntimeRecord(")
    ]
    assert len(finish) == 1 and len(finish[0]) <= 240
    assert all(len(line) <= 240 for line in lines)

    _host(EDGEAI_TRACE_PLUGINS="0").names()
    assert capsys.readouterr().err == ""


# -- hooks pluggy would never call -------------------------------------------------------------------------


def test_a_misspelled_hook_marks_the_plugin_broken_naming_the_real_hook(modules: Any) -> None:
    misspelled, good = modules(misspelled_plugin=MISSPELLED, good_plugin=RUNTIME)
    host = _host()
    info = host.register(misspelled, name="typo", distribution="typo-dist", version="1.0")
    host.register(good, name="good")
    assert info.status == "broken"
    assert info.error == (
        "unknown hook 'edgeai_register_runtime' (no edgeai hookspec declares it; "
        "did you mean 'edgeai_register_runtimes'?)"
    )
    assert host.names()["runtime"] == ["echo", "good-rt", "numpy"], "the others still load"
    assert host.plugins["good"].status == "ok"
    assert info.components == []
    assert host.pm.get_plugin("typo") is None


def test_an_unknown_hook_without_a_close_name_points_to_the_hookspecs() -> None:
    class Odd:
        @hookimpl
        def edgeai_frobnicate_everything(self) -> None:
            pass

    host = _host()
    info = host.register(Odd(), name="odd")
    assert info.error == (
        "unknown hook 'edgeai_frobnicate_everything' (no edgeai hookspec declares it; "
        "see edgeai_core.hookspecs for the hooks)"
    )


def test_an_optional_hook_of_another_project_is_allowed() -> None:
    class Optional:
        @hookimpl(optionalhook=True)
        def edgeai_maybe_later(self) -> None:
            pass

    assert _host().register(Optional(), name="optional").status == "ok"


def test_an_unmarked_hook_function_marks_the_plugin_broken(modules: Any) -> None:
    unmarked, good = modules(unmarked_plugin=UNMARKED, good_plugin=RUNTIME)
    host = _host()
    info = host.register(unmarked, name="unmarked", distribution="unmarked-dist")
    host.register(good, name="good")
    assert info.status == "broken"
    assert info.error == (
        "edgeai_register_runtimes() is named like a hook but not marked @hookimpl, so edgeai would never call "
        "it: mark it with @hookimpl (from edgeai_core.api import hookimpl)"
    )
    assert host.names()["runtime"] == ["echo", "good-rt", "numpy"]
    assert host.pm.get_plugin("unmarked") is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (MISSPELLED, r"typo-dist 1\.0 \(plugin 'p'\) is broken: unknown hook 'edgeai_register_runtime'.*"
                     r"did you mean 'edgeai_register_runtimes'"),
        (UNMARKED, r"typo-dist 1\.0 \(plugin 'p'\) is broken: edgeai_register_runtimes\(\) is named like a hook "
                   r"but not marked @hookimpl"),
    ],
    ids=["misspelled", "unmarked"],
)  # fmt: skip
def test_strict_mode_raises_on_hooks_pluggy_would_never_call(modules: Any, source: str, message: str) -> None:
    [module] = modules(strict_plugin=source)
    host = _host(strict=True)
    with pytest.raises(PluginError, match=message):
        host.register(module, name="p", distribution="typo-dist", version="1.0")


# -- hookspecs a plugin brings -----------------------------------------------------------------------------


def test_a_plugin_adds_hookspecs_that_other_plugins_implement(modules: Any) -> None:
    _, provider, user = modules(board_specs=BOARD_SPECS, boards_plugin=BOARD_PROVIDER, board_user=BOARD_USER)
    host = _host()
    host.register(provider, name="boards", distribution="edgeai-boards")
    host.register(user, name="jetson", distribution="jetson-boards")
    assert host.plugins["boards"].status == "ok" and host.plugins["jetson"].status == "ok"
    boards = host.extra_records("edgeai_boards_register_boards", provider.Board)
    assert boards == [provider.Board("jetson", 6, "jetson-boards"), provider.Board("pi4", 4, "edgeai-boards")]
    assert host.pm.hook.edgeai_boards_register_boards.spec is not None


def test_implementing_an_added_hook_without_its_provider_is_an_unknown_hook(modules: Any) -> None:
    _, _, user = modules(board_specs=BOARD_SPECS, boards_plugin=BOARD_PROVIDER, board_user=BOARD_USER)
    info = _host().register(user, name="jetson")
    assert info.status == "broken"
    assert "unknown hook 'edgeai_boards_register_boards'" in (info.error or "")


def test_a_raising_add_hookspecs_marks_only_that_plugin_broken() -> None:
    class Bad:
        @hookimpl
        def edgeai_add_hookspecs(self, pm: Any) -> None:
            raise ImportError("no module named board_specs")

    host = _host()
    info = host.register(Bad(), name="bad")
    assert info.status == "broken"
    assert info.error == "edgeai_add_hookspecs failed: ImportError: no module named board_specs"
    assert host.names()["runtime"] == ["echo", "numpy"]


def test_several_unmarked_functions_are_named_together(modules: Any) -> None:
    [module] = modules(two_unmarked="def edgeai_register_models():\n    return []\n\n\n"
                                    "def edgeai_register_datasets():\n    return []\n")  # fmt: skip
    info = _host().register(module, name="two")
    assert info.error == (
        "edgeai_register_datasets(), edgeai_register_models() are named like a hook but not marked @hookimpl, so "
        "edgeai would never call them: mark them with @hookimpl (from edgeai_core.api import hookimpl)"
    )


def test_a_hook_nobody_declared_or_implemented_collects_nothing() -> None:
    host = _host()
    assert host.implementers("edgeai_boards_register_boards") == []
    assert host.call_each("edgeai_boards_register_boards") == []
    assert host.extra_records("edgeai_boards_register_boards", RuntimeRecord) == []
