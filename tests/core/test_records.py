"""Tests of edgeai_core.records: registration records, lazy factory loading and building."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from edgeai_core.errors import EdgeaiError, MissingDependencyError, ParameterError
from edgeai_core.params import Param, ParamSet
from edgeai_core.records import (
    KINDS,
    RECORD_TYPES,
    Registration,
    RuntimeRecord,
)

#: Keyword arguments that make a valid record of each kind (besides name, summary and factory).
EXTRA: dict[str, dict[str, Any]] = {
    "dataset": {"task": "classification"},
    "model": {"format": "torch"},
    "compiler": {"input_formats": ("onnx",), "output_format": "onnx"},
    "converter": {"input_format": "torch", "output_format": "onnx"},
    "runtime": {"formats": ("onnx",)},
    "protocol": {},
    "probe": {},
}


def make(kind: str, **overrides: Any) -> Registration:
    kwargs: dict[str, Any] = {"name": "thing", "summary": "A thing", "factory": "json:dumps", **EXTRA[kind]}
    kwargs.update(overrides)
    return RECORD_TYPES[kind](**kwargs)


def unique_module_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def test_kinds() -> None:
    assert tuple(KINDS) == (
        "dataset",
        "model",
        "compiler",
        "converter",
        "runtime",
        "protocol",
        "probe",
        "analyzer",
        "executor",
    )
    assert RECORD_TYPES["runtime"] is RuntimeRecord
    for kind, cls in RECORD_TYPES.items():
        assert cls.kind == kind


def test_the_kinds_table_names_record_type_hook_and_base_class() -> None:
    from edgeai_core import components, hookspecs

    runtime = KINDS["runtime"]
    assert (runtime.name, runtime.record_type, runtime.hook) == (
        "runtime",
        RuntimeRecord,
        "edgeai_register_runtimes",
    )
    assert runtime.base_class() is components.Runtime
    assert KINDS["probe"].base_class() is components.ResourceProbe
    for name, kind in KINDS.items():
        assert kind.name == name and kind.record_type.kind == name
        assert issubclass(kind.base_class(), components.Component)
        assert callable(getattr(hookspecs, kind.hook))
    assert {name: kind.hook for name, kind in KINDS.items()} == hookspecs.COLLECTORS


def test_known_components_from_a_catalog() -> None:
    from edgeai_core.records import KnownComponent

    [runtime, compiler] = KnownComponent.catalog({"npu-tools": ["runtime:npu", "compiler:npu-compile"]})
    assert (runtime.kind, runtime.name, runtime.distribution, runtime.requirement) == (
        "runtime", "npu", "npu-tools", "npu-tools"
    )  # fmt: skip
    assert (compiler.kind, compiler.name) == ("compiler", "npu-compile")
    extra = KnownComponent(
        kind="compiler", name="npu-compile", distribution="npu-tools", install="npu-tools[cc]"
    )
    assert extra.requirement == "npu-tools[cc]"
    with pytest.raises(ValueError, match="kind 'runtimes' is not one of dataset, model"):
        KnownComponent(kind="runtimes", name="npu", distribution="npu-tools")
    with pytest.raises(ValueError, match="'npu' must look like 'kind:name'"):
        KnownComponent.catalog({"npu-tools": ["npu"]})
    with pytest.raises(ValueError, match="distribution must not be empty"):
        KnownComponent(kind="runtime", name="npu", distribution="")


@pytest.mark.parametrize("kind", list(EXTRA))
def test_every_kind_builds(kind: str) -> None:
    record = make(kind, name="my-thing_2.0")
    assert record.kind == kind
    assert record.qualified_name == f"{kind}:my-thing_2.0"
    assert isinstance(record.params, ParamSet)
    assert len(record.params) == 0
    assert record.provider == ""
    hash(record)  # frozen records are hashable
    assert record.with_provider("dist-x").provider == "dist-x"
    assert record.with_provider("dist-x").name == record.name
    assert record.provider == ""  # with_provider returns a copy


@pytest.mark.parametrize("kind", list(EXTRA))
@pytest.mark.parametrize("name", ["Bad", "has space", "", "-leading", "UPPER-case", "tab\t"])
def test_bad_names(kind: str, name: str) -> None:
    with pytest.raises(ValueError, match="must be lowercase"):
        make(kind, name=name)


@pytest.mark.parametrize("kind", list(EXTRA))
@pytest.mark.parametrize("factory", ["json.dumps", "json:", ":dumps", "json:dumps:x", "1json:x", "js on:x"])
def test_bad_factories(kind: str, factory: str) -> None:
    with pytest.raises(ValueError, match="module:attr"):
        make(kind, factory=factory)


@pytest.mark.parametrize("kind", list(EXTRA))
@pytest.mark.parametrize("summary", ["", "first line\nsecond line"])
def test_bad_summaries(kind: str, summary: str) -> None:
    with pytest.raises(ValueError, match="one non-empty line"):
        make(kind, summary=summary)


def test_facts() -> None:
    assert make("dataset").facts() == {"task": "classification"}
    assert make("model", tasks=("detection", "segmentation"), trainable=False).facts() == {
        "format": "torch",
        "tasks": ["detection", "segmentation"],
        "trainable": False,
    }
    assert make("model").facts() == {"format": "torch", "tasks": ["classification"], "trainable": True}
    assert make("compiler", needs_dataset=True).facts() == {
        "input_formats": ["onnx"],
        "output_format": "onnx",
        "needs_dataset": True,
    }
    assert make("compiler").facts()["needs_dataset"] is False
    assert make("converter").facts() == {"input_format": "torch", "output_format": "onnx"}
    assert make("runtime").facts() == {"formats": ["onnx"]}
    assert make("protocol").facts() == {}
    assert make("probe").facts() == {}
    json.dumps([make(k).facts() for k in EXTRA])


def test_params_accepted_as_tuple_or_list_or_paramset() -> None:
    p1 = Param("threads", "int", default=1, help="threads")
    p2 = Param("mode", "choice", default="a", choices=("a", "b"), help="mode")
    as_tuple = make("runtime", params=(p1, p2))
    as_list = make("runtime", params=[p1, p2])
    as_set = make("runtime", params=ParamSet((p1, p2)))
    for record in (as_tuple, as_list, as_set):
        assert isinstance(record.params, ParamSet)
        assert record.params.names == ["threads", "mode"]
    assert as_tuple == as_set
    hash(as_tuple)


def test_duplicate_params_rejected_in_record() -> None:
    p = Param("threads", "int", default=1, help="threads")
    with pytest.raises(ValueError, match="duplicate"):
        make("runtime", params=(p, p))


# ------------------------------------------------------------------------------------------------ load


def test_load_real_attribute() -> None:
    assert make("runtime", factory="json:dumps").load() is json.dumps
    assert make("runtime", factory="os.path:join").load() is __import__("os").path.join
    assert make("runtime", factory="json:JSONDecoder.decode").load() is json.JSONDecoder.decode


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_load_missing_third_party_dependency(module_dir: Path) -> None:
    name = unique_module_name("edgeai_test_needs_framework")
    (module_dir / f"{name}.py").write_text("import surely_missing_framework_xyz\n\nclass Impl:\n    pass\n")
    record = make("runtime", name="npu", factory=f"{name}:Impl", install="edgeai-npu[runtime]")
    try:
        with pytest.raises(MissingDependencyError) as info:
            record.load()
    finally:
        sys.modules.pop(name, None)
    error = info.value
    assert "pip install edgeai-npu[runtime]" in str(error)
    assert "surely_missing_framework_xyz" in str(error)
    assert error.missing == "surely_missing_framework_xyz"
    assert error.install == "edgeai-npu[runtime]"
    assert error.component == "runtime:npu"
    assert error.exit_code == 1


def test_missing_dependency_falls_back_to_provider_then_module(module_dir: Path) -> None:
    name = unique_module_name("edgeai_test_needs_sub")
    (module_dir / f"{name}.py").write_text("import surely_missing_framework_xyz.sub\n")
    record = make("runtime", factory=f"{name}:Impl")
    try:
        with pytest.raises(MissingDependencyError) as info:
            record.with_provider("edgeai-npu").load()
        assert "pip install edgeai-npu" in str(info.value)
        with pytest.raises(MissingDependencyError) as info:
            record.load()
        assert "pip install surely_missing_framework_xyz" in str(info.value)
        assert info.value.missing == "surely_missing_framework_xyz"
    finally:
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    "factory", ["edgeai_surely_missing_module_xyz:Impl", "edgeai_surely_missing_pkg_xyz.runtime:Impl"]
)
def test_load_missing_factory_module(factory: str) -> None:
    record = make("runtime", name="npu", factory=factory).with_provider("edgeai-npu")
    with pytest.raises(EdgeaiError) as info:
        record.load()
    assert not isinstance(info.value, MissingDependencyError)
    message = str(info.value)
    assert "runtime:npu" in message
    assert factory.partition(":")[0] in message
    assert "reinstall edgeai-npu" in message


def test_load_missing_submodule_of_existing_package() -> None:
    record = make("runtime", factory="edgeai_core.surely_missing_submodule:Impl")
    with pytest.raises(EdgeaiError, match="reinstall its plugin") as info:
        record.load()
    assert not isinstance(info.value, MissingDependencyError)


@pytest.mark.parametrize("factory", ["json:surely_missing_attr", "json:JSONDecoder.surely_missing"])
def test_load_missing_attribute(factory: str) -> None:
    record = make("model", factory=factory).with_provider("edgeai-x")
    with pytest.raises(EdgeaiError) as info:
        record.load()
    message = str(info.value)
    assert "no such attribute" in message
    assert factory in message
    assert "reinstall edgeai-x" in message


# ---------------------------------------------------------------------------------------------- create


@pytest.fixture
def factory_module(module_dir: Path) -> Any:
    name = unique_module_name("edgeai_test_factory")
    (module_dir / f"{name}.py").write_text(
        "class Built:\n"
        "    def __init__(self, *, record, params, **context):\n"
        "        self.record, self.params, self.context = record, params, context\n"
    )
    yield name
    sys.modules.pop(name, None)


def test_create_validates_and_calls_factory(factory_module: str) -> None:
    record = make(
        "runtime",
        name="npu",
        factory=f"{factory_module}:Built",
        params=(
            Param("threads", "int", default=1, minimum=1, help="threads"),
            Param("device", "str", default="/dev/npu0", help="device"),
        ),
    )
    built = record.create({"threads": "4"}, where="runtime", workdir="/tmp/w", seed=3)
    assert built.record is record
    assert built.params == {"threads": 4, "device": "/dev/npu0"}
    assert built.context == {"workdir": "/tmp/w", "seed": 3}

    default_built = record.create()
    assert default_built.params == {"threads": 1, "device": "/dev/npu0"}
    assert default_built.context == {}


def test_create_error_names_where_and_param(factory_module: str) -> None:
    record = make(
        "compiler",
        name="quant",
        factory=f"{factory_module}:Built",
        params=(Param("mode", "choice", default="static", choices=("static", "dynamic"), help="m"),),
    )
    with pytest.raises(ParameterError) as info:
        record.create({"mode": "dynamc"}, where="steps[1]")
    assert info.value.field == "steps[1].mode"
    assert "did you mean 'dynamic'?" in str(info.value)
    with pytest.raises(ParameterError) as info:
        record.create({"mdoe": "static"})
    assert info.value.field == "compiler.mdoe"


def test_create_validates_before_importing() -> None:
    record = make(
        "runtime",
        factory="edgeai_surely_missing_module_xyz:Impl",
        params=(Param("threads", "int", default=1, minimum=1, help="threads"),),
    )
    with pytest.raises(ParameterError):
        record.create({"threads": 0}, where="runtime")
    assert "edgeai_surely_missing_module_xyz" not in sys.modules


def test_create_with_plain_function() -> None:
    # the factory may be any callable taking keyword arguments
    record = make("probe", factory="builtins:dict")
    built = record.create(where="probe", extra=1)
    assert built == {"record": record, "params": {}, "extra": 1}


def test_record_classes_exported() -> None:
    import edgeai_core

    for cls in (*RECORD_TYPES.values(), Registration):
        assert getattr(edgeai_core, cls.__name__) is cls
