"""Tests of edgeai_core.planner with in-process plugins on a host that discovers nothing.

The test components are never built, so their factories point at modules that do not exist: planning
reads records only and must import none of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import edgeai_core.plugin
from edgeai_core import hookimpl
from edgeai_core.config import load_config, parse_config
from edgeai_core.errors import (
    DuplicateComponentError,
    ParameterError,
    PlanError,
    UnknownComponentError,
    UsageError,
)
from edgeai_core.params import Param
from edgeai_core.planner import Plan, PlannedStep, converter_path, plan_pipeline
from edgeai_core.plugins import PluginHost
from edgeai_core.records import (
    CompilerRecord,
    ConverterRecord,
    DatasetRecord,
    ModelRecord,
    ProtocolRecord,
    RuntimeRecord,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blobs-mlp.toml"
MISSING = "edgeai_planner_test_surely_missing"


def factory(name: str) -> str:
    return f"{MISSING}.{name.replace('-', '_')}:Impl"


class Plugin:
    """An in-process plugin built from lists of records (hooks for kinds it has none of return [])."""

    def __init__(self, **records: list[Any]) -> None:
        self._records = records


def _collector(kind: str) -> Any:
    def hook(self: Plugin) -> list[Any]:
        return self._records.get(kind, [])

    hook.__name__ = f"edgeai_register_{kind}"
    return hookimpl(hook)


for _kind in ("datasets", "models", "compilers", "converters", "runtimes", "protocols"):
    setattr(Plugin, f"edgeai_register_{_kind}", _collector(_kind))


def model(name: str, fmt: str, tasks: tuple[str, ...] = ("classification",), **kw: Any) -> ModelRecord:
    return ModelRecord(
        name=name, summary=f"model {name}", factory=factory(name), format=fmt, tasks=tasks, **kw
    )


def named(kind: str, name: str) -> dict[str, str]:
    """The name, summary and factory every test record of ``kind`` gets."""
    return {"name": name, "summary": f"{kind} {name}", "factory": factory(name)}


def compiler(name: str, inputs: tuple[str, ...], output: str, **kw: Any) -> CompilerRecord:
    return CompilerRecord(**named("compiler", name), input_formats=inputs, output_format=output, **kw)


def converter(name: str, source: str, dest: str, **kw: Any) -> ConverterRecord:
    return ConverterRecord(**named("converter", name), input_format=source, output_format=dest, **kw)


def runtime(name: str, formats: tuple[str, ...], **kw: Any) -> RuntimeRecord:
    return RuntimeRecord(name=name, summary=f"runtime {name}", factory=factory(name), formats=formats, **kw)


def dataset(name: str, task: str) -> DatasetRecord:
    return DatasetRecord(name=name, summary=f"dataset {name}", factory=factory(name), task=task)


def make_host(*plugins: Plugin, core: bool = True) -> PluginHost:
    host = PluginHost(discover=False, strict=True, env={})
    if core:
        host.register(edgeai_core.plugin, name="core", distribution="edgeai-core")
    for i, plugin in enumerate(plugins):
        host.register(plugin, name=f"test-{i}", distribution=f"edgeai-test-{i}")
    return host


def base_config(**extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"model": {"name": "net-a"}, "runtime": {"name": "rt-c"}}
    raw.update(extra)
    return raw


def plan(raw: dict[str, Any], host: PluginHost) -> Plan:
    return plan_pipeline(parse_config(raw), host)


#: the converters the planner inserts to bring a fw-a model to fw-c, as step_summary shows them
INSERTED_A_TO_C = [
    ("converter", "a-to-b", "fw-a", "fw-b", True),
    ("converter", "b-to-c", "fw-b", "fw-c", True),
]


def refused(error: type[Exception], raw: dict[str, Any], host: PluginHost) -> str:
    """The message of the ``error`` that planning ``raw`` on ``host`` raises."""
    with pytest.raises(error) as info:
        plan(raw, host)
    return str(info.value)


def step_summary(p: Plan) -> list[tuple[str, str, str, str, bool]]:
    return [(s.record.kind, s.record.name, s.input_format, s.output_format, s.inserted) for s in p.steps]


@pytest.fixture
def chain_plugin() -> Plugin:
    """Formats fw-a -> fw-b -> fw-c -> fw-d, with a compiler taking only fw-c."""
    return Plugin(
        datasets=[dataset("cls-data", "classification"), dataset("any-data", "any")],
        models=[
            model("net-a", "fw-a", params=(Param("width", "int", default=8, minimum=1, help="width"),)),
            model("det-a", "fw-a", tasks=("detection",)),
            model("any-a", "fw-a", tasks=("any",)),
        ],
        compilers=[
            compiler(
                "quant-c",
                ("fw-c",),
                "fw-c",
                params=(Param("mode", "choice", default="static", choices=("static", "dynamic"), help="m"),),
            ),
            compiler("calib-c", ("fw-c",), "fw-c", needs_dataset=True),
            compiler("fw-a-opt", ("fw-a", "fw-x"), "fw-a"),
        ],
        converters=[
            converter("a-to-b", "fw-a", "fw-b"),
            converter("b-to-c", "fw-b", "fw-c"),
            converter("c-to-d", "fw-c", "fw-d"),
        ],
        runtimes=[runtime("rt-c", ("fw-c",)), runtime("rt-d", ("fw-d",)), runtime("rt-a", ("fw-a", "fw-z"))],
        protocols=[
            ProtocolRecord(
                name="fake-tcp",
                summary="tcp",
                factory=factory("tcp"),
                params=(Param("port", "int", default=5555, help="port"),),
            )
        ],
    )


# ------------------------------------------------------------------------------------------ happy path


def test_example_config_plans() -> None:
    host = make_host()
    before = set(sys.modules)
    p = plan_pipeline(load_config(EXAMPLE), host)
    assert not {m for m in set(sys.modules) - before if m.startswith("edgeai_core.builtins")}
    assert p.dataset is not None
    assert p.dataset.record.name == "gaussian-blobs"
    declared = p.dataset.record.params.defaults()
    assert p.dataset.params == {**declared, "classes": 4, "features": 16}
    assert p.model.record.name == "numpy-mlp"
    assert p.model.params["hidden"] == [64]
    assert p.model.params["epochs"] == 40
    assert p.model.params["checkpoint"] is None
    assert p.model.where == "model"
    assert step_summary(p) == [("compiler", "weight-int8", "npz-mlp", "npz-mlp", False)]
    assert p.steps[0].where == "steps[0]"
    assert p.runtime.record.name == "numpy"
    assert p.target is None
    assert p.final_format == "npz-mlp"
    assert p.benchmark["warmup"] == 20
    assert p.benchmark["min_count"] == 500
    assert p.benchmark["min_duration_s"] == 0.5
    assert p.benchmark["max_count"] is None
    assert [r.name for r in p.records()] == ["gaussian-blobs", "numpy-mlp", "weight-int8", "numpy"]
    assert all(r.provider == "edgeai-core" for r in p.records())

    data = p.to_json()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert data["final_format"] == "npz-mlp"
    assert data["model"]["provider"] == "edgeai-core"
    assert data["steps"][0] == {
        "kind": "compiler",
        "name": "weight-int8",
        "provider": "edgeai-core",
        "params": {},
        "where": "steps[0]",
        "input_format": "npz-mlp",
        "output_format": "npz-mlp",
        "inserted": False,
    }
    assert data["target"] is None
    lines = p.describe()
    assert lines[0] == "dataset   gaussian-blobs"
    assert lines[1] == "model     numpy-mlp -> npz-mlp"
    assert "weight-int8: npz-mlp -> npz-mlp" in lines[2]
    assert lines[-1] == "runtime   numpy (npz-mlp)"


def test_path_params_become_strings_in_json() -> None:
    host = make_host()
    raw = {"model": {"name": "numpy-mlp", "checkpoint": "w.npz"}, "runtime": "numpy"}
    p = plan(raw, host)
    assert p.model.params["checkpoint"] == Path("w.npz")
    assert p.to_json()["model"]["params"]["checkpoint"] == "w.npz"
    json.dumps(p.to_json())
    assert p.final_format == "npz-mlp"
    assert p.steps == ()
    assert p.dataset is None


def test_planning_imports_no_factory(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    p = plan(base_config(runtime={"name": "rt-d"}, steps=[{"name": "quant-c"}]), host)
    assert len(p.steps) == 4
    assert not [m for m in sys.modules if m.startswith(MISSING)]


def test_target(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    p = plan(base_config(target={"protocol": "fake-tcp", "port": "6000"}), host)
    assert p.target is not None
    assert p.target.record.name == "fake-tcp"
    assert p.target.params == {"port": 6000}
    assert p.to_json()["target"]["params"] == {"port": 6000}
    assert p.describe()[-1] == "target    fake-tcp"
    with pytest.raises(UnknownComponentError) as info:
        plan(base_config(target={"protocol": "tpc"}), host)
    assert str(info.value).startswith("target.name: unknown protocol 'tpc'")


# ------------------------------------------------------------------------------------ converter paths


def test_converters_inserted_before_compiler(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    p = plan(base_config(steps=[{"name": "quant-c", "mode": "dynamic"}]), host)
    assert step_summary(p) == [
        *INSERTED_A_TO_C,
        ("compiler", "quant-c", "fw-c", "fw-c", False),
    ]
    assert p.steps[0].where == "steps[0] (inserted)"
    assert p.steps[2].params == {"mode": "dynamic"}
    assert p.final_format == "fw-c"
    assert all(isinstance(s, PlannedStep) for s in p.steps)
    data = p.to_json()
    assert [s["inserted"] for s in data["steps"]] == [True, True, False]
    json.dumps(data)
    assert any("(inserted)" in line for line in p.describe())


def test_converter_inserted_before_runtime(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    p = plan(base_config(steps=[{"name": "quant-c"}], runtime={"name": "rt-d"}), host)
    assert step_summary(p) == [
        *INSERTED_A_TO_C,
        ("compiler", "quant-c", "fw-c", "fw-c", False),
        ("converter", "c-to-d", "fw-c", "fw-d", True),
    ]
    assert p.steps[-1].where == "runtime (inserted)"
    assert p.final_format == "fw-d"


def test_converters_without_steps(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    p = plan(base_config(runtime={"name": "rt-d"}), host)
    assert [s.record.name for s in p.steps] == ["a-to-b", "b-to-c", "c-to-d"]
    assert all(s.inserted for s in p.steps)
    assert p.final_format == "fw-d"
    # a runtime that takes the model's format directly needs no converter
    direct = plan(base_config(runtime={"name": "rt-a"}), host)
    assert direct.steps == ()
    assert direct.final_format == "fw-a"


def test_shortest_path_chosen(chain_plugin: Plugin) -> None:
    shortcut = Plugin(converters=[converter("a-to-c", "fw-a", "fw-c")])
    host = make_host(chain_plugin, shortcut)
    p = plan(base_config(steps=[{"name": "quant-c"}]), host)
    assert step_summary(p) == [
        ("converter", "a-to-c", "fw-a", "fw-c", True),
        ("compiler", "quant-c", "fw-c", "fw-c", False),
    ]
    assert [c.name for c in converter_path(host, "fw-a", ["fw-d"]) or []] == ["a-to-c", "c-to-d"]


def test_converter_path_function(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    assert converter_path(host, "fw-a", ["fw-a", "fw-d"]) == []
    assert [c.name for c in converter_path(host, "fw-b", ["fw-d"]) or []] == ["b-to-c", "c-to-d"]
    assert converter_path(host, "fw-d", ["fw-a"]) is None
    assert converter_path(host, "fw-q", ["fw-a"]) is None


def test_converter_cycle_terminates() -> None:
    loop = Plugin(
        converters=[converter("x-to-y", "fw-x", "fw-y"), converter("y-to-x", "fw-y", "fw-x")],
    )
    host = make_host(loop, core=False)
    assert converter_path(host, "fw-x", ["fw-z"]) is None
    assert [c.name for c in converter_path(host, "fw-y", ["fw-x"]) or []] == ["y-to-x"]


def test_explicit_converter_step_is_bridged(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    p = plan(base_config(steps=[{"name": "c-to-d"}], runtime={"name": "rt-d"}), host)
    assert step_summary(p) == [
        *INSERTED_A_TO_C,
        ("converter", "c-to-d", "fw-c", "fw-d", False),
    ]


def test_compiler_with_several_input_formats(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    p = plan(base_config(steps=[{"name": "fw-a-opt"}], runtime={"name": "rt-a"}), host)
    assert step_summary(p) == [("compiler", "fw-a-opt", "fw-a", "fw-a", False)]


# ---------------------------------------------------------------------------------------------- errors


def test_no_path_names_formats(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    with pytest.raises(PlanError) as info:
        plan(base_config(steps=[{"name": "quant-c"}, {"name": "fw-a-opt"}]), host)
    message = str(info.value)
    assert message.startswith("steps[1]: compiler 'fw-a-opt' accepts fw-a or fw-x")
    assert "produces fw-c" in message
    assert "no converter path leads from fw-c to fw-a or fw-x" in message
    assert "install a plugin that converts fw-c to fw-a or fw-x" in message
    assert "a-to-b" not in message  # converters are listed by formats
    assert "fw-a->fw-b" in message
    assert info.value.exit_code == 2


def test_no_path_to_runtime_without_converters() -> None:
    plugin = Plugin(models=[model("net-a", "fw-a")], runtimes=[runtime("rt-c", ("fw-c",))])
    host = make_host(plugin, core=False)
    message = refused(PlanError, base_config(), host)
    assert message.startswith("runtime: runtime 'rt-c' accepts fw-c")
    assert "fw-a" in message
    assert "no converter is installed" in message
    assert "install a plugin that converts fw-a to fw-c" in message


@pytest.mark.parametrize(
    ("raw", "where", "kind", "suggestion"),
    [
        ({"model": {"name": "numpy-mpl"}, "runtime": "numpy"}, "model.name", "model", "numpy-mlp"),
        ({"model": "numpy-mlp", "runtime": "numpi"}, "runtime.name", "runtime", "numpy"),
        (
            {"model": "numpy-mlp", "runtime": "numpy", "steps": [{"name": "weight-int"}]},
            "steps[0].name",
            "compiler or converter",
            "weight-int8",
        ),
        (
            {"model": "numpy-mlp", "runtime": "numpy", "dataset": "gaussian-blob"},
            "dataset.name",
            "dataset",
            "gaussian-blobs",
        ),
    ],
)
def test_misspelled_names(raw: dict[str, Any], where: str, kind: str, suggestion: str) -> None:
    host = make_host()
    with pytest.raises(UnknownComponentError) as info:
        plan(raw, host)
    message = str(info.value)
    assert message.startswith(f"{where}: unknown {kind} ")
    assert f"did you mean '{suggestion}'?" in message
    assert info.value.kind == kind
    assert info.value.exit_code == 2


def test_unknown_name_without_close_match_lists_installed() -> None:
    host = make_host()
    with pytest.raises(UnknownComponentError) as info:
        plan({"model": "numpy-mlp", "runtime": "tensorrt-zz"}, host)
    assert "(installed: echo, numpy)" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (base_config(steps=[{"name": "quant-c", "mode": "dynamc"}]), "steps[0].mode"),
        (base_config(steps=[{"name": "quant-c", "mdoe": "static"}]), "steps[0].mdoe"),
        (base_config(steps=[{"name": "a-to-b", "x": 1}], runtime={"name": "rt-c"}), "steps[0].x"),
        (base_config(model={"name": "net-a", "width": 0}), "model.width"),
        (base_config(runtime={"name": "rt-c", "threads": 2}), "runtime.threads"),
        (base_config(dataset={"name": "cls-data", "size": 2}), "dataset.size"),
    ],
)
def test_bad_parameters(chain_plugin: Plugin, raw: dict[str, Any], field: str) -> None:
    host = make_host(chain_plugin)
    with pytest.raises(ParameterError) as info:
        plan(raw, host)
    assert info.value.field == field


def test_bad_step_parameter_in_core_plugin() -> None:
    host = make_host()
    raw = {"model": "numpy-mlp", "runtime": "numpy", "steps": [{"name": "weight-int8", "bits": 4}]}
    with pytest.raises(ParameterError) as info:
        plan(raw, host)
    assert info.value.field == "steps[0].bits"


def test_compiler_needing_dataset(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    message = refused(PlanError, base_config(steps=[{"name": "calib-c"}]), host)
    assert message.startswith("steps[0]: ")
    assert "calib-c" in message
    assert "[dataset]" in message
    p = plan(base_config(steps=[{"name": "calib-c"}], dataset={"name": "cls-data"}), host)
    assert [s.record.name for s in p.steps][-1] == "calib-c"


def test_task_mismatch(chain_plugin: Plugin) -> None:
    host = make_host(chain_plugin)
    message = refused(PlanError, base_config(model={"name": "det-a"}, dataset={"name": "cls-data"}), host)
    assert message.startswith("model.name: ")
    assert "detection" in message
    assert "classification" in message
    # "any" on either side matches
    assert plan(base_config(model={"name": "any-a"}, dataset={"name": "cls-data"}), host).dataset
    assert plan(base_config(model={"name": "det-a"}, dataset={"name": "any-data"}), host).dataset
    assert plan(base_config(model={"name": "net-a"}, dataset={"name": "cls-data"}), host).dataset


def test_name_both_compiler_and_converter(chain_plugin: Plugin) -> None:
    both = Plugin(
        compilers=[compiler("dual", ("fw-c",), "fw-c")],
        converters=[converter("dual", "fw-a", "fw-c")],
    )
    host = make_host(chain_plugin, both)
    message = refused(UsageError, base_config(steps=[{"name": "dual"}]), host)
    assert message.startswith("steps[0].name: ")
    assert "both a compiler and a converter" in message
    assert 'kind = "compiler"' in message
    assert 'kind = "converter"' in message

    as_converter = plan(base_config(steps=[{"name": "dual", "kind": "converter"}]), host)
    assert step_summary(as_converter) == [("converter", "dual", "fw-a", "fw-c", False)]
    as_compiler = plan(base_config(steps=[{"name": "dual", "kind": "compiler"}]), host)
    assert step_summary(as_compiler)[-1] == ("compiler", "dual", "fw-c", "fw-c", False)
    assert step_summary(as_compiler)[0][4] is True  # fw-a reaches fw-c through an inserted converter

    with pytest.raises(ParameterError) as info:
        plan(base_config(steps=[{"name": "dual", "kind": "runtime"}]), host)
    assert info.value.field == "steps[0].kind"
    with pytest.raises(UnknownComponentError) as info:
        plan(base_config(steps=[{"name": "quant-c", "kind": "converter"}]), host)
    assert str(info.value).startswith("steps[0].name: unknown converter 'quant-c'")


@pytest.mark.parametrize(
    ("benchmark", "field"),
    [
        ({"min_count": 0}, "benchmark.min_count"),
        ({"min_count": "many"}, "benchmark.min_count"),
        ({"warmup": -1}, "benchmark.warmup"),
        ({"min_cout": 10}, "benchmark.min_cout"),
    ],
)
def test_bad_benchmark_settings(benchmark: dict[str, Any], field: str) -> None:
    host = make_host()
    raw = {"model": "numpy-mlp", "runtime": "numpy", "benchmark": benchmark}
    with pytest.raises(ParameterError) as info:
        plan(raw, host)
    assert info.value.field == field


def test_duplicate_runtime_names() -> None:
    first = Plugin(runtimes=[runtime("npu", ("fw-a",))])
    second = Plugin(runtimes=[runtime("npu", ("fw-a",))])
    host = PluginHost(discover=False, strict=True, env={})
    host.register(Plugin(models=[model("net-a", "fw-a")]), name="models", distribution="edgeai-models")
    host.register(first, name="first", distribution="edgeai-npu-vendor")
    host.register(second, name="second", distribution="edgeai-npu-community")
    with pytest.raises(DuplicateComponentError) as info:
        plan({"model": "net-a", "runtime": "npu"}, host)
    message = str(info.value)
    assert "runtime 'npu'" in message
    assert "edgeai-npu-vendor" in message
    assert "edgeai-npu-community" in message
    assert info.value.providers == ["edgeai-npu-community", "edgeai-npu-vendor"]
    assert info.value.kind == "runtime"
