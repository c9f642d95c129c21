"""Tests of edgeai_core.config: reading config files, --set overrides and structural checks."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from edgeai_core.config import (
    EVALUATION_PARAMS,
    RESOURCES_PARAMS,
    TOP_LEVEL,
    ComponentRef,
    PipelineConfig,
    apply_overrides,
    load_config,
    load_config_file,
    parse_config,
    parse_value,
)
from edgeai_core.errors import ConfigError, ParameterError, UsageError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blobs-mlp.toml"

TOML = """\
name = "blobs-mlp-int8"
seed = 3

[dataset]
name = "gaussian-blobs"
classes = 4

[model]
name = "numpy-mlp"
hidden = [64, 32]

[[steps]]
name = "weight-int8"

[[steps]]
name = "other"
kind = "converter"
mode = "dynamic"

[runtime]
name = "numpy"
threads = 2

[benchmark]
warmup = 20
min_count = 500
"""

MINIMAL: dict[str, Any] = {"model": {"name": "numpy-mlp"}, "runtime": {"name": "numpy"}}


def minimal(**extra: Any) -> dict[str, Any]:
    raw = copy.deepcopy(MINIMAL)
    raw.update(extra)
    return raw


HAS_YAML = importlib.util.find_spec("yaml") is not None


# ------------------------------------------------------------------------------------------ reading


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text(TOML)
    config = load_config(path)
    assert isinstance(config, PipelineConfig)
    assert config.name == "blobs-mlp-int8"
    assert config.display_name == "blobs-mlp-int8"
    assert config.seed == 3
    assert config.dataset == ComponentRef("gaussian-blobs", {"classes": 4}, "dataset")
    assert config.model == ComponentRef("numpy-mlp", {"hidden": [64, 32]}, "model")
    assert config.steps == (
        ComponentRef("weight-int8", {}, "steps[0]"),
        ComponentRef("other", {"mode": "dynamic"}, "steps[1]", kind="converter"),
    )
    assert config.runtime == ComponentRef("numpy", {"threads": 2}, "runtime")
    assert config.target is None
    assert config.benchmark == {"warmup": 20, "min_count": 500}
    assert config.evaluation == {
        "enabled": True,
        "split": "test",
        "limit": None,
        "batch_size": None,
        "examples": 4,
    }
    assert config.resources == {"enabled": True, "interval_s": 0.05}
    assert config.raw["model"]["hidden"] == [64, 32]


def test_load_example() -> None:
    config = load_config(EXAMPLE)
    assert config.model.name == "numpy-mlp"
    assert [s.name for s in config.steps] == ["weight-int8"]
    assert config.runtime.name == "numpy"


def test_load_json(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.JSON"
    path.write_text(json.dumps(minimal(seed=1, steps=[{"name": "weight-int8"}])))
    assert load_config_file(path)["seed"] == 1
    config = load_config(path)
    assert config.seed == 1
    assert config.steps[0].name == "weight-int8"
    assert config.display_name == "numpy-mlp-weight-int8-numpy"


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_load_yaml(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pipeline{suffix}"
    path.write_text("model:\n  name: numpy-mlp\nruntime: numpy\nseed: 2\n")
    if HAS_YAML:
        config = load_config(path)
        assert config.model.name == "numpy-mlp"
        assert config.runtime.name == "numpy"
        assert config.seed == 2
    else:
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert "pip install 'edgeai-core[yaml]'" in str(info.value)
        assert str(path) in str(info.value)


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.ini"
    path.write_text("[model]\nname = x\n")
    with pytest.raises(ConfigError, match=r"unknown config format '\.ini'") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(path)
    assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path)  # a directory is not a config file


def test_malformed_toml_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[model]\nname = "numpy-mlp\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "not valid TOML" in message
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [("broken.json", '{"model": ', "not valid JSON"), ("list.json", "[1, 2]", "top level must be a table")],
    ids=["malformed-json", "top-level-not-a-table"],
)
def test_unloadable_config_names_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_load_config_applies_overrides(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.toml"
    path.write_text(TOML)
    config = load_config(path, ["runtime.threads=8", "steps.1.mode=static", "seed=9"])
    assert config.runtime.params == {"threads": 8}
    assert config.steps[1].params == {"mode": "static"}
    assert config.seed == 9


# ---------------------------------------------------------------------------------------- structure


def test_unknown_section_suggests_closest() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(benchmarks={"warmup": 1}))
    assert str(info.value) == "benchmarks: unknown section; did you mean 'benchmark'?"
    with pytest.raises(ConfigError) as info:
        parse_config(minimal(zzzzzz=1))
    assert "known: " + ", ".join(TOP_LEVEL) in str(info.value)


def test_steps_as_list_or_single_table(tmp_path: Path) -> None:
    as_list = parse_config(minimal(steps=[{"name": "a"}, {"name": "b", "x": 1}]))
    assert [(s.name, s.where, s.params) for s in as_list.steps] == [
        ("a", "steps[0]", {}),
        ("b", "steps[1]", {"x": 1}),
    ]
    single = tmp_path / "single.toml"
    single.write_text('[model]\nname = "m"\n[runtime]\nname = "r"\n[steps]\nname = "a"\nmode = "x"\n')
    config = load_config(single)
    assert config.steps == (ComponentRef("a", {"mode": "x"}, "steps[0]"),)
    assert parse_config(minimal()).steps == ()
    with pytest.raises(ConfigError, match="steps: must be a list"):
        parse_config(minimal(steps="weight-int8"))


def test_step_shorthand_and_bad_step() -> None:
    config = parse_config(minimal(steps=["weight-int8"]))
    assert config.steps == (ComponentRef("weight-int8", {}, "steps[0]"),)
    with pytest.raises(ParameterError) as info:
        parse_config(minimal(steps=[{"name": "a"}, {"mode": "x"}]))
    assert info.value.field == "steps[1].name"
    with pytest.raises(ConfigError, match=r"steps\[0\]: must be a table"):
        parse_config(minimal(steps=[3]))
    with pytest.raises(ParameterError) as info:
        parse_config(minimal(steps=[{"name": "a", "kind": 3}]))
    assert info.value.field == "steps[0].kind"


def test_runtime_shorthand() -> None:
    config = parse_config({"model": {"name": "m"}, "runtime": "numpy"})
    assert config.runtime == ComponentRef("numpy", {}, "runtime")
    assert parse_config({"model": "m", "runtime": "r", "dataset": "d"}).dataset == ComponentRef(
        "d", {}, "dataset"
    )


@pytest.mark.parametrize("section", ["model", "runtime"])
def test_missing_required_component(section: str) -> None:
    raw = minimal()
    del raw[section]
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert str(info.value).startswith(f"{section}: missing")
    assert f"[{section}]" in str(info.value)


@pytest.mark.parametrize("section", ["dataset", "model", "runtime"])
@pytest.mark.parametrize("table", [{"classes": 4}, {"name": ""}, {"name": 3}])
def test_component_without_name(section: str, table: dict[str, Any]) -> None:
    raw = minimal()
    raw[section] = table
    with pytest.raises(ParameterError) as info:
        parse_config(raw)
    assert info.value.field == f"{section}.name"


def test_component_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match="model: must be a table"):
        parse_config({"model": 3, "runtime": "r"})


def test_target_protocol() -> None:
    config = parse_config(minimal(target={"protocol": "tcp", "host": "10.0.0.2", "port": 5555}))
    assert config.target == ComponentRef("tcp", {"host": "10.0.0.2", "port": 5555}, "target")
    # an explicit name wins; protocol is then an ordinary parameter
    named = parse_config(minimal(target={"name": "serial", "protocol": "x"}))
    assert named.target == ComponentRef("serial", {"protocol": "x"}, "target")
    assert parse_config(minimal(target="tcp")).target == ComponentRef("tcp", {}, "target")
    with pytest.raises(ParameterError) as info:
        parse_config(minimal(target={"host": "h"}))
    assert info.value.field == "target.name"


def test_evaluation_and_resources_settings() -> None:
    config = parse_config(
        minimal(evaluation={"split": "validation", "limit": "100"}, resources={"interval_s": 1})
    )
    assert config.evaluation == {
        "enabled": True,
        "split": "validation",
        "limit": 100,
        "batch_size": None,
        "examples": 4,
    }
    assert config.resources == {"enabled": True, "interval_s": 1.0}
    assert EVALUATION_PARAMS.names == ["enabled", "split", "limit", "batch_size", "examples"]
    assert RESOURCES_PARAMS.names == ["enabled", "interval_s"]


@pytest.mark.parametrize(
    ("section", "table", "field"),
    [
        ("evaluation", {"split": "train"}, "evaluation.split"),
        ("evaluation", {"limit": 0}, "evaluation.limit"),
        ("evaluation", {"enable": False}, "evaluation.enable"),
        ("resources", {"interval_s": 0.0001}, "resources.interval_s"),
        ("resources", {"enabled": "maybe"}, "resources.enabled"),
    ],
)
def test_bad_settings(section: str, table: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as info:
        parse_config(minimal(**{section: table}))
    assert info.value.field == field


@pytest.mark.parametrize("section", ["benchmark", "evaluation", "resources"])
def test_settings_must_be_tables(section: str) -> None:
    with pytest.raises(ConfigError, match=f"{section}: must be a table"):
        parse_config(minimal(**{section: 3}))


def test_benchmark_kept_raw() -> None:
    # the planner validates benchmark settings; the config only passes them on
    config = parse_config(minimal(benchmark={"min_count": "x"}))
    assert config.benchmark == {"min_count": "x"}


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_bad_seed(seed: Any) -> None:
    with pytest.raises(ParameterError) as info:
        parse_config(minimal(seed=seed))
    assert info.value.field == "seed"
    assert "non-negative integer" in str(info.value)


def test_seed_default_and_name() -> None:
    config = parse_config(minimal())
    assert config.seed == 0
    assert config.name is None
    with pytest.raises(ParameterError) as info:
        parse_config(minimal(name=3))
    assert info.value.field == "name"


def test_display_name() -> None:
    assert parse_config(minimal()).display_name == "numpy-mlp-numpy"
    config = parse_config(minimal(steps=[{"name": "a"}, {"name": "b"}]))
    assert config.display_name == "numpy-mlp-a-b-numpy"
    assert parse_config(minimal(name="mine")).display_name == "mine"
    assert parse_config(minimal(name="")).display_name == "numpy-mlp-numpy"


def test_parse_config_does_not_mutate() -> None:
    raw = minimal(steps={"name": "a"}, target={"protocol": "tcp"})
    before = copy.deepcopy(raw)
    parse_config(raw)
    assert raw == before


# ---------------------------------------------------------------------------------------- overrides


def test_overrides_create_nested_keys() -> None:
    raw = minimal()
    data = apply_overrides(raw, ["runtime.threads=2", "model.optimizer.lr=0.1", "benchmark.warmup=5"])
    assert data["runtime"] == {"name": "numpy", "threads": 2}
    assert data["model"] == {"name": "numpy-mlp", "optimizer": {"lr": 0.1}}
    assert data["benchmark"] == {"warmup": 5}
    assert raw == MINIMAL  # the original is not mutated
    assert "benchmark" not in raw


def test_overrides_do_not_mutate_nested_original() -> None:
    raw = minimal(steps=[{"name": "a", "opts": {"x": 1}}])
    before = copy.deepcopy(raw)
    data = apply_overrides(raw, ["steps.0.opts.x=2", "steps.0.name=b", "model.name=other"])
    assert data["steps"] == [{"name": "b", "opts": {"x": 2}}]
    assert data["model"]["name"] == "other"
    assert raw == before


def test_overrides_index_lists() -> None:
    raw = minimal(steps=[{"name": "a"}, {"name": "b"}], sizes=[1, 2, 3])
    data = apply_overrides(raw, ["steps.0.name=x", "steps.1.mode=dynamic", "sizes.2=7"])
    assert data["steps"] == [{"name": "x"}, {"name": "b", "mode": "dynamic"}]
    assert data["sizes"] == [1, 2, 7]


@pytest.mark.parametrize("override", ["steps.2.name=x", "steps.x.name=y", "sizes.3=1", "sizes.-1=1"])
def test_overrides_index_errors(override: str) -> None:
    raw = minimal(steps=[{"name": "a"}, {"name": "b"}], sizes=[1, 2, 3])
    with pytest.raises(ConfigError, match="takes an index from 0 to") as info:
        apply_overrides(raw, [override])
    assert override in str(info.value)


@pytest.mark.parametrize(
    ("override", "where"),
    [("seed.x=1", "seed"), ("model.name.x=1", "model.name"), ("sizes.0.x=1", "sizes.0")],
)
def test_overrides_through_a_scalar(override: str, where: str) -> None:
    raw = minimal(seed=1, sizes=[1, 2])
    with pytest.raises(ConfigError) as info:
        apply_overrides(raw, [override])
    assert f"'{where}' is a value, not a table" in str(info.value)


@pytest.mark.parametrize("override", ["runtime.threads", "=3", "a..b=1", ".a=1", "a b=1", "a.=1"])
def test_overrides_malformed(override: str) -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides(minimal(), [override])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", 2),
        ("-3", -3),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("null", None),
        ("None", None),
        ("[1, 2]", [1, 2]),
        ('["a", "b"]', ["a", "b"]),
        ('{"kind": "llvm"}', {"kind": "llvm"}),
        ("dynamic", "dynamic"),
        ("1,2", "1,2"),
        ("cuda:0", "cuda:0"),
        ("/dev/ttyUSB0", "/dev/ttyUSB0"),
        ("", ""),
        ('"quoted"', "quoted"),
    ],
)
def test_parse_value(text: str, expected: Any) -> None:
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_override_values_are_parsed() -> None:
    data = apply_overrides(
        minimal(),
        [
            "runtime.threads=4",
            "runtime.lr=1e-3",
            "runtime.verbose=true",
            "runtime.checkpoint=null",
            "runtime.sizes=[1, 2]",
            "runtime.mode=dynamic",
            "runtime.expr=a=b",
        ],
    )
    assert data["runtime"] == {
        "name": "numpy",
        "threads": 4,
        "lr": 0.001,
        "verbose": True,
        "checkpoint": None,
        "sizes": [1, 2],
        "mode": "dynamic",
        "expr": "a=b",
    }


def test_later_overrides_win() -> None:
    data = apply_overrides(minimal(), ["seed=1", "seed=2", " runtime.threads =3"])
    assert data["seed"] == 2
    assert data["runtime"]["threads"] == 3


def test_override_replaces_null_with_table() -> None:
    data = apply_overrides(minimal(dataset=None), ["dataset.name=gaussian-blobs"])
    assert data["dataset"] == {"name": "gaussian-blobs"}
