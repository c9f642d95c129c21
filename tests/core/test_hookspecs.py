"""The hook specifications are the plugin author's manual: every hook must be documented."""

from __future__ import annotations

import inspect

import pluggy
import pytest

from edgeai_core import hookspecs
from edgeai_core.records import KINDS, RECORD_TYPES

HOOKS = sorted(
    name for name, obj in vars(hookspecs).items() if name.startswith("edgeai_") and inspect.isfunction(obj)
)


def test_every_collector_kind_has_a_hook_and_record_type() -> None:
    assert set(hookspecs.COLLECTORS) == set(KINDS) == set(RECORD_TYPES)
    others = {
        "edgeai_register_commands",
        "edgeai_register_demo_variants",
        "edgeai_demo_finished",
        "edgeai_sweep_finished",
        "edgeai_register_grid_suites",
        "edgeai_register_onnx_backends",
        "edgeai_known_components",
        "edgeai_add_hookspecs",
        "edgeai_register_targets",
    }
    assert set(hookspecs.COLLECTORS.values()) | others == set(HOOKS)
    for kind, hook in hookspecs.COLLECTORS.items():
        assert RECORD_TYPES[kind].__name__ in inspect.getsource(getattr(hookspecs, hook))


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_for_plugin_authors(name: str) -> None:
    func = getattr(hookspecs, name)
    doc = inspect.getdoc(func) or ""
    assert len(doc.splitlines()) >= 5, f"{name} needs a real docstring"
    for section in ("Receives", "Returns", "Example::"):
        assert section in doc, f"{name}'s docstring lacks '{section}'"
    assert "@hookimpl" in doc, f"{name}'s example must show the hookimpl marker"


@pytest.mark.parametrize("name", HOOKS)
def test_hooks_are_prefixed_and_specs(name: str) -> None:
    func = getattr(hookspecs, name)
    assert name.startswith("edgeai_")
    assert hasattr(func, "edgeai_spec"), f"{name} is not marked @hookspec"


def test_collectors_are_not_firstresult() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for hook in hookspecs.COLLECTORS.values():
        opts = getattr(pm.hook, hook).spec.opts
        assert not opts.get("firstresult"), hook


def test_module_docstring_explains_entry_points() -> None:
    doc = hookspecs.__doc__ or ""
    assert "[project.entry-points.edgeai]" in doc
    assert "heavy framework" in doc
