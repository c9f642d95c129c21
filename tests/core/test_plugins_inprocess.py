"""The plugin host with plugins registered in-process on a fresh host."""

from __future__ import annotations

import logging
import types

import pytest

import edgeai_core.plugin
from edgeai_core import DatasetRecord, RuntimeRecord, hookimpl
from edgeai_core.errors import DuplicateComponentError, PluginError, UnknownComponentError
from edgeai_core.plugins import PluginHost


def _plugin(**hooks: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(**{name: hookimpl(func) for name, func in hooks.items()})


def _runtime(name: str = "other-rt") -> RuntimeRecord:
    return RuntimeRecord(name=name, summary="a runtime", factory="nowhere.at_all:Runtime", formats=("x",))


def test_core_builtins_are_collected(core_host: PluginHost) -> None:
    names = core_host.names()
    assert names["dataset"] == ["gaussian-blobs"]
    assert names["model"] == ["artifact-file", "numpy-mlp"]
    assert names["compiler"] == ["weight-int8"]
    assert names["runtime"] == ["echo", "numpy"]
    record = core_host.get("runtime", "numpy")
    assert record.provider == "edgeai-core"
    assert record.facts() == {"formats": ["npz-mlp"]}
    [info] = core_host.plugin_infos()
    assert info.status == "ok"
    assert [r.qualified_name for r in info.components] == [
        "dataset:gaussian-blobs", "model:numpy-mlp", "model:artifact-file", "compiler:weight-int8",
        "runtime:numpy", "runtime:echo", "protocol:tcp", "protocol:serial", "probe:nvml", "executor:local",
    ]  # fmt: skip


def test_plugin_object_registers_and_unregisters(core_host: PluginHost) -> None:
    core_host.register(
        _plugin(edgeai_register_runtimes=lambda: [_runtime()]), name="extra", distribution="x-dist"
    )
    assert core_host.get("runtime", "other-rt").provider == "x-dist"
    core_host.unregister("extra")
    with pytest.raises(UnknownComponentError):
        core_host.get("runtime", "other-rt")


def test_registering_a_name_twice_is_an_error(core_host: PluginHost) -> None:
    with pytest.raises(PluginError, match="already registered"):
        core_host.register(_plugin(), name="core")


def test_hook_that_raises_marks_the_plugin_broken(
    core_host: PluginHost, caplog: pytest.LogCaptureFixture
) -> None:
    def explode() -> list[DatasetRecord]:
        raise RuntimeError("cannot read my config")

    bad = _plugin(edgeai_register_datasets=explode, edgeai_register_runtimes=lambda: [_runtime()])
    with caplog.at_level(logging.WARNING):
        core_host.register(bad, name="bad", distribution="bad-dist", version="1.0")
        names = core_host.names()
    assert "other-rt" not in names["runtime"], "a broken plugin contributes nothing"
    assert names["runtime"] == ["echo", "numpy"]
    info = core_host.plugins["bad"]
    assert info.status == "broken"
    assert "edgeai_register_datasets failed: RuntimeError: cannot read my config" in (info.error or "")
    assert any("bad-dist" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)


def test_wrong_record_type_marks_the_plugin_broken(core_host: PluginHost) -> None:
    core_host.register(_plugin(edgeai_register_runtimes=lambda: [{"name": "x"}]), name="typo")
    core_host.records()
    assert core_host.plugins["typo"].status == "broken"
    assert "returned dict, not RuntimeRecord" in (core_host.plugins["typo"].error or "")


def test_invalid_hook_signature_marks_the_plugin_broken(core_host: PluginHost) -> None:
    core_host.register(_plugin(edgeai_register_commands=lambda cli, surplus: None), name="sig")
    assert core_host.plugins["sig"].status == "broken"
    assert "surplus" in (core_host.plugins["sig"].error or "")


def test_strict_mode_raises_on_a_broken_plugin() -> None:
    host = PluginHost(discover=False, strict=True, env={})

    def explode() -> list[RuntimeRecord]:
        raise RuntimeError("boom")

    host.register(_plugin(edgeai_register_runtimes=explode), name="bad", distribution="bad-dist")
    with pytest.raises(PluginError, match=r"bad-dist.*boom"):
        host.records()


def test_strict_mode_from_environment() -> None:
    assert PluginHost(discover=False, env={"EDGEAI_STRICT_PLUGINS": "1"}).strict
    assert not PluginHost(discover=False, env={"EDGEAI_STRICT_PLUGINS": "0"}).strict


def test_duplicate_names_are_an_error_naming_both_providers(core_host: PluginHost) -> None:
    core_host.register(_plugin(edgeai_register_runtimes=lambda: [_runtime("numpy")]), name="dup",
                       distribution="acme-numpy")  # fmt: skip
    with pytest.raises(DuplicateComponentError) as err:
        core_host.records("runtime")
    assert "edgeai-core" in str(err.value) and "acme-numpy" in str(err.value)
    assert err.value.providers == ["acme-numpy", "edgeai-core"]
    with pytest.raises(DuplicateComponentError):
        core_host.get("runtime", "numpy")
    assert [c.name for c in core_host.conflicts()] == ["numpy"]
    # other kinds are unaffected
    assert [r.name for r in core_host.records("model")] == ["artifact-file", "numpy-mlp"]


def test_same_name_in_different_kinds_is_fine(core_host: PluginHost) -> None:
    from edgeai_core import CompilerRecord

    compiler = CompilerRecord(
        name="numpy", summary="s", factory="a:b", input_formats=("x",), output_format="y"
    )
    core_host.register(_plugin(edgeai_register_compilers=lambda: [compiler]), name="c")
    assert sorted(r.kind for r in core_host.find("numpy")) == ["compiler", "runtime"]


def test_unknown_name_suggests_the_closest(core_host: PluginHost) -> None:
    with pytest.raises(UnknownComponentError, match="did you mean 'numpy-mlp'") as err:
        core_host.get("model", "numpy-mpl", where="model.name")
    assert str(err.value).startswith("model.name: unknown model 'numpy-mpl'")
    with pytest.raises(UnknownComponentError, match="unknown component kind"):
        core_host.get("runtimes", "numpy")


def test_provider_versions(core_host: PluginHost) -> None:
    assert core_host.provider_versions([core_host.get("runtime", "numpy")]) == {"edgeai-core": "0.1.0"}


def test_entry_point_discovery_honours_env_switches() -> None:
    # edgeai-core is installed in the test environment, so its entry point 'core' is discoverable;
    # other edgeai plugins may be installed too, so look at the core's records only.
    assert PluginHost(env={}).plugins["core"].status == "ok"
    assert PluginHost(env={"EDGEAI_LOAD_PLUGINS": ""}).plugins["core"].status == "ok", "built-ins stay loaded"
    only_core = PluginHost(env={"EDGEAI_LOAD_PLUGINS": ""})
    assert [i.name for i in only_core.plugin_infos()] == ["core"]
    disabled = PluginHost(env={"EDGEAI_DISABLE_PLUGINS": "core"})
    assert disabled.plugins["core"].status == "disabled"
    assert all(r.provider != "edgeai-core" for r in disabled.records())
    assert PluginHost(env={"EDGEAI_DISABLE_PLUGINS": "edgeai-core"}).plugins["core"].status == "disabled"
    assert "core" not in [i.name for i in disabled.plugin_infos()]
    assert "core" in [i.name for i in disabled.plugin_infos(include_disabled=True)]


def test_commands_hook_receives_the_group(core_host: PluginHost) -> None:
    import click

    def add(cli: click.Group) -> None:
        @cli.command("hello")
        def hello() -> None:
            click.echo("hi")

    core_host.register(_plugin(edgeai_register_commands=add), name="cmd")
    group = click.Group("g")
    core_host.add_commands(group)
    assert "hello" in group.commands


def test_core_plugin_module_is_what_the_entry_point_names() -> None:
    from importlib import metadata

    [ep] = [e for e in metadata.entry_points(group="edgeai") if e.name == "core"]
    assert ep.value == "edgeai_core.plugin"
    assert ep.load() is edgeai_core.plugin


def test_unknown_component_names_the_package_a_plugin_knows(core_host: PluginHost) -> None:
    """Install hints come from installed plugins' ``edgeai_known_components``, not from a map in the core."""
    from edgeai_core.records import KnownComponent

    with pytest.raises(UnknownComponentError) as bare:
        core_host.get("runtime", "onnxruntime", where="runtime.name")
    assert str(bare.value) == "runtime.name: unknown runtime 'onnxruntime' (installed: echo, numpy)"

    known = KnownComponent.catalog({"edgeai-onnx": ["runtime:onnxruntime", "compiler:onnx-quantize"]})
    core_host.register(_plugin(edgeai_known_components=lambda: known), name="sibling", distribution="sib")
    with pytest.raises(
        UnknownComponentError, match=r"it comes with edgeai-onnx: pip install edgeai-onnx"
    ) as err:
        core_host.get("runtime", "onnxruntime", where="runtime.name")
    assert str(err.value) == (
        "runtime.name: unknown runtime 'onnxruntime'; it comes with edgeai-onnx: pip install edgeai-onnx"
    )
    assert (err.value.distribution, err.value.install) == ("edgeai-onnx", "edgeai-onnx")
    # the hint is for that kind only: a model of that name is just unknown
    installed = "artifact-file, numpy-mlp"
    with pytest.raises(
        UnknownComponentError, match=f"unknown model 'onnxruntime' \\(installed: {installed}\\)"
    ):
        core_host.get("model", "onnxruntime")
    entry = core_host.known_component("onnx-quantize", ("compiler", "converter"))
    assert entry is not None and (entry.distribution, entry.provider) == ("edgeai-onnx", "sib")
    assert core_host.plugins["sibling"].status == "ok" and core_host.plugins["sibling"].components == []


def test_an_installed_component_wins_over_a_known_one(core_host: PluginHost) -> None:
    from edgeai_core.records import KnownComponent

    claim = [KnownComponent(kind="runtime", name="numpy", distribution="elsewhere", install="elsewhere[np]")]
    core_host.register(_plugin(edgeai_known_components=lambda: claim), name="claims")
    assert core_host.get("runtime", "numpy").provider == "edgeai-core"
    assert core_host.known_component("numpy") is None


def test_known_components_of_the_wrong_type_mark_the_plugin_broken(core_host: PluginHost) -> None:
    core_host.register(_plugin(edgeai_known_components=lambda: ["runtime:npu"]), name="bad-known")
    core_host.records()
    info = core_host.plugins["bad-known"]
    assert info.status == "broken"
    assert info.error == "edgeai_known_components failed: TypeError: edgeai_known_components returned str, " \
        "not KnownComponent"  # fmt: skip
