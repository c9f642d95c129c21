"""Tests of edgeai_core.params: Param coercion, ParamSet validation, JSON Schema and click options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeai_core.errors import ParameterError, UsageError
from edgeai_core.params import PARAM_TYPES, REQUIRED, Param, ParamSet, as_paramset

# --------------------------------------------------------------------------------------------- helpers


def coerce(type_: str, value: Any, field: str = "runtime.x", **kwargs: Any) -> Any:
    kwargs.setdefault("help", "a test parameter")
    if type_ == "choice":
        kwargs.setdefault("choices", ("static", "dynamic"))
    return Param("x", type_, **kwargs).coerce(value, field)


def schema_validator(paramset: ParamSet) -> jsonschema.Draft202012Validator:
    schema = paramset.json_schema(title="t", description="d")
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# ------------------------------------------------------------------------------------------- coercion


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3), (3, 3), (3.0, 3), (" 7 ", 7), ("0x10", 16), (-2, -2)],
)
def test_int_coercion(value: Any, expected: int) -> None:
    result = coerce("int", value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", ["two", 3.5, "3.5", True, False, [3], {"a": 1}])
def test_int_rejects(value: Any) -> None:
    with pytest.raises(ParameterError) as info:
        coerce("int", value, "runtime.threads")
    assert info.value.field == "runtime.threads"
    assert "integer" in str(info.value)
    assert str(info.value).startswith("runtime.threads: ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", 0.5), (0.5, 0.5), (2, 2.0), ("1e-3", 0.001), (" 3 ", 3.0)],
)
def test_float_coercion(value: Any, expected: float) -> None:
    result = coerce("float", value)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize("value", ["fast", True, None, [1.0], "nan", float("nan"), float("inf"), "-inf"])
def test_float_rejects(value: Any) -> None:
    with pytest.raises(ParameterError) as info:
        coerce("float", value, "model.lr", default=0.1)
    assert info.value.field == "model.lr"


def test_float_nan_rejected_even_within_bounds() -> None:
    # NaN compares false against every bound; it must not slip through "must be >= 0"
    with pytest.raises(ParameterError, match="finite"):
        coerce("float", float("nan"), minimum=0.0, maximum=1.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("Yes", True),
        ("on", True),
        ("true", True),
        ("1", True),
        ("off", False),
        ("no", False),
        ("FALSE", False),
        ("0", False),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
    ],
)
def test_bool_coercion(value: Any, expected: bool) -> None:
    assert coerce("bool", value) is expected


@pytest.mark.parametrize("value", ["maybe", 2, 0.5, "", [True]])
def test_bool_rejects(value: Any) -> None:
    with pytest.raises(ParameterError, match="true or false") as info:
        coerce("bool", value, "runtime.verbose")
    assert info.value.field == "runtime.verbose"


def test_path_coercion(tmp_path: Path) -> None:
    assert coerce("path", "weights.npz") == Path("weights.npz")
    assert coerce("path", tmp_path) == tmp_path
    home = coerce("path", "~/model.onnx")
    assert isinstance(home, Path)
    assert "~" not in str(home)
    assert home.name == "model.onnx"


@pytest.mark.parametrize("value", ["", 3, ["a"]])
def test_path_rejects(value: Any) -> None:
    with pytest.raises(ParameterError, match="file path"):
        coerce("path", value)


def test_str_coercion() -> None:
    assert coerce("str", "cpu") == "cpu"
    assert coerce("str", 3) == "3"
    assert coerce("str", 1.5) == "1.5"
    for bad in (True, ["a"], {"a": 1}):
        with pytest.raises(ParameterError, match="string"):
            coerce("str", bad)


def test_choice_coercion_and_suggestion() -> None:
    assert coerce("choice", "dynamic") == "dynamic"
    with pytest.raises(ParameterError) as info:
        coerce("choice", "dynamc", "compiler.mode")
    assert info.value.field == "compiler.mode"
    message = str(info.value)
    assert "one of static, dynamic" in message
    assert "did you mean 'dynamic'?" in message


def test_choice_without_close_match_has_no_suggestion() -> None:
    with pytest.raises(ParameterError) as info:
        coerce("choice", "zzzzzzzz")
    assert "did you mean" not in str(info.value)
    with pytest.raises(ParameterError):
        coerce("choice", 1)


@pytest.mark.parametrize("value", ["1,2", "[1, 2]", [1, 2], (1, 2), " 1 , 2 ,", ["1", "2"], "[1,2"])
def test_list_int_coercion(value: Any) -> None:
    result = coerce("list[int]", value)
    assert result == [1, 2]
    assert isinstance(result, list)
    assert all(type(v) is int for v in result)


def test_list_float_and_str_coercion() -> None:
    assert coerce("list[float]", "0.5, 1") == [0.5, 1.0]
    assert coerce("list[float]", [1, 2.5]) == [1.0, 2.5]
    assert coerce("list[str]", "a,b") == ["a", "b"]
    assert coerce("list[str]", '["a", "b c"]') == ["a", "b c"]
    assert coerce("list[str]", "[a, b]") == ["a", "b"]
    assert coerce("list[str]", ["x"]) == ["x"]
    assert coerce("list[int]", "") == []


def test_list_item_errors_name_the_index() -> None:
    with pytest.raises(ParameterError) as info:
        coerce("list[int]", [64, "wide"], "model.hidden")
    assert info.value.field == "model.hidden[1]"
    with pytest.raises(ParameterError) as info:
        coerce("list[int]", "8,0", "model.hidden", minimum=1)
    assert info.value.field == "model.hidden[1]"
    assert ">= 1" in str(info.value)
    with pytest.raises(ParameterError, match="must be a list of int") as info:
        coerce("list[int]", 5, "model.hidden")
    assert info.value.field == "model.hidden"


def test_dict_coercion() -> None:
    assert coerce("dict", '{"kind": "llvm", "mcpu": "a72"}') == {"kind": "llvm", "mcpu": "a72"}
    table = {"a": 1}
    result = coerce("dict", table)
    assert result == table
    assert result is not table
    for bad in ("not json", "[1, 2]", [1], 3):
        with pytest.raises(ParameterError, match="table") as info:
            coerce("dict", bad, "compiler.target")
        assert info.value.field == "compiler.target"


@pytest.mark.parametrize(
    ("type_", "value", "message"),
    [
        ("int", 0, "must be an integer >= 1 and <= 8, got 0"),
        ("int", 9, "<= 8"),
        ("float", 0.5, "must be a number >= 1 and <= 8, got 0.5"),
        ("float", "8.5", "<= 8"),
    ],
)
def test_bounds(type_: str, value: Any, message: str) -> None:
    with pytest.raises(ParameterError) as info:
        coerce(type_, value, "runtime.threads", minimum=1, maximum=8)
    assert info.value.field == "runtime.threads"
    assert message in str(info.value)
    assert ">= 1" in str(info.value)


def test_bounds_are_inclusive() -> None:
    assert coerce("int", 1, minimum=1, maximum=8) == 1
    assert coerce("int", "8", minimum=1, maximum=8) == 8
    assert coerce("float", 0.0, minimum=0.0) == 0.0


def test_bad_type_message_mentions_bounds() -> None:
    with pytest.raises(ParameterError, match=r"runtime\.threads: must be an integer >= 1, got 'two'"):
        coerce("int", "two", "runtime.threads", minimum=1)


def test_none_value() -> None:
    assert coerce("int", None, default=None) is None
    assert coerce("list[int]", None, default=None) is None
    with pytest.raises(ParameterError, match="needs a value") as info:
        coerce("int", None, "runtime.threads", default=1)
    assert info.value.field == "runtime.threads"


# ---------------------------------------------------------------------------------------- declaration


def test_param_properties() -> None:
    p = Param("batch_size", "int", help="h", minimum=1)
    assert p.required
    assert p.default is REQUIRED
    assert repr(REQUIRED) == "REQUIRED"
    assert p.option == "--batch-size"
    assert p.describe_type() == "int"
    choice = Param("mode", "choice", default="a", choices=("a", "b"), help="h")
    assert not choice.required
    assert choice.describe_type() == "one of a, b"


def test_list_defaults_are_stored_as_tuples_and_coerced() -> None:
    p = Param("hidden", "list[int]", default=["64", 32], help="h")
    assert p.default == (64, 32)
    hash(p)  # records are hashable
    assert Param("lr", "float", default=1, help="h").default == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Threads", "type": "int", "help": "h"}, "snake_case"),
        ({"name": "num-threads", "type": "int", "help": "h"}, "snake_case"),
        ({"name": "1st", "type": "int", "help": "h"}, "snake_case"),
        ({"name": "", "type": "int", "help": "h"}, "snake_case"),
        ({"name": "x", "type": "integer", "help": "h"}, "not one of"),
        ({"name": "x", "type": "list[bool]", "help": "h"}, "not one of"),
        ({"name": "x", "type": "int"}, "help"),
        ({"name": "x", "type": "choice", "help": "h"}, "choices"),
    ],
)
def test_invalid_declarations(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Param(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type": "int", "default": 0, "minimum": 1},
        {"type": "float", "default": 11.0, "maximum": 10},
        {"type": "list[int]", "default": [1, 0], "minimum": 1},
        {"type": "choice", "default": "c", "choices": ("a", "b")},
        {"type": "int", "default": "many"},
    ],
)
def test_invalid_default_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ParameterError) as info:
        Param("x", help="h", **kwargs)
    assert info.value.field.startswith("x")


def test_duplicate_names_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate parameter names: a"):
        ParamSet((Param("a", "int", default=1, help="h"), Param("a", "str", default="x", help="h")))


def test_all_types_are_declarable() -> None:
    for type_ in PARAM_TYPES:
        extra = {"choices": ("a",)} if type_ == "choice" else {}
        assert Param("x", type_, default=None, help="h", **extra).default is None


# ------------------------------------------------------------------------------------------ ParamSet


@pytest.fixture
def runtime_params() -> ParamSet:
    return ParamSet(
        (
            Param("threads", "int", default=1, minimum=1, help="intra-op threads"),
            Param("mode", "choice", default="static", choices=("static", "dynamic"), help="mode"),
            Param("checkpoint", "path", default=None, help="weights file"),
            Param("hidden", "list[int]", default=[64, 32], minimum=1, help="widths"),
            Param("batch_size", "int", default=None, minimum=1, help="batch"),
            Param("device", "str", help="device node"),
        )
    )


def test_paramset_basics(runtime_params: ParamSet) -> None:
    assert len(runtime_params) == 6
    assert runtime_params.names == ["threads", "mode", "checkpoint", "hidden", "batch_size", "device"]
    assert [p.name for p in runtime_params] == runtime_params.names
    assert runtime_params["mode"].type == "choice"
    with pytest.raises(KeyError):
        runtime_params["nope"]
    assert runtime_params.defaults() == {
        "threads": 1,
        "mode": "static",
        "checkpoint": None,
        "hidden": (64, 32),
        "batch_size": None,
    }
    assert as_paramset(runtime_params) is runtime_params
    assert as_paramset([Param("a", "int", default=1, help="h")]).names == ["a"]
    assert len(ParamSet()) == 0


def test_validate_fills_defaults(runtime_params: ParamSet) -> None:
    values = runtime_params.validate({"device": "/dev/npu0", "threads": "4"}, "runtime")
    assert values == dict(
        threads=4, mode="static", checkpoint=None, hidden=[64, 32], batch_size=None, device="/dev/npu0"
    )
    assert isinstance(values["hidden"], list)
    # each call hands out a fresh list: mutating it does not leak into the next call or the declaration
    values["hidden"].append(1)
    again = runtime_params.validate({"device": "d"}, "runtime")
    assert again["hidden"] == [64, 32]
    assert runtime_params["hidden"].default == (64, 32)


def test_validate_dict_default_is_a_copy() -> None:
    ps = ParamSet((Param("target", "dict", default={"kind": "llvm"}, help="h"),))
    first = ps.validate({}, "compiler")
    first["target"]["mcpu"] = "a72"
    assert ps.validate({}, "compiler")["target"] == {"kind": "llvm"}


def test_validate_required(runtime_params: ParamSet) -> None:
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({}, "runtime")
    assert info.value.field == "runtime.device"
    assert "is required" in str(info.value)
    assert "device node" in str(info.value)
    assert isinstance(info.value, UsageError)
    assert info.value.exit_code == 2


def test_validate_field_paths(runtime_params: ParamSet) -> None:
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({"device": "d", "threads": "two"}, "runtime")
    assert info.value.field == "runtime.threads"
    assert str(info.value) == "runtime.threads: must be an integer >= 1, got 'two'"
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({"device": "d", "hidden": [8, 0]}, "model")
    assert info.value.field == "model.hidden[1]"
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({"device": "d", "threads": 0}, "steps[1]")
    assert info.value.field == "steps[1].threads"
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({"device": "d", "threads": 0}, "")
    assert info.value.field == "threads"


def test_validate_unknown_key_suggests(runtime_params: ParamSet) -> None:
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({"device": "d", "thread": 2}, "runtime")
    assert info.value.field == "runtime.thread"
    assert "unknown parameter; did you mean 'threads'?" in str(info.value)
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({"device": "d", "qqqqqqqq": 2}, "runtime")
    assert "known: threads, mode" in str(info.value)
    with pytest.raises(ParameterError, match="takes none") as info:
        ParamSet().validate({"x": 1}, "runtime")
    assert info.value.field == "runtime.x"


def test_validate_normalizes_dashes(runtime_params: ParamSet) -> None:
    values = runtime_params.validate({"device": "d", "batch-size": "8"}, "runtime")
    assert values["batch_size"] == 8
    assert "batch-size" not in values
    with pytest.raises(ParameterError) as info:
        runtime_params.validate({"device": "d", "batch-size": 0}, "runtime")
    assert info.value.field == "runtime.batch_size"


def test_validate_explicit_none(runtime_params: ParamSet) -> None:
    values = runtime_params.validate({"device": "d", "checkpoint": None, "batch_size": None}, "r")
    assert values["checkpoint"] is None
    assert values["batch_size"] is None
    with pytest.raises(ParameterError, match="needs a value"):
        runtime_params.validate({"device": "d", "threads": None}, "r")


# ---------------------------------------------------------------------------------------- JSON Schema


def test_json_schema_shape(runtime_params: ParamSet) -> None:
    schema = runtime_params.json_schema(title="numpy", description="reference runtime")
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "numpy"
    assert schema["description"] == "reference runtime"
    assert schema["required"] == ["device"]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert props["threads"] == {
        "type": "integer",
        "minimum": 1,
        "description": "intra-op threads",
        "default": 1,
    }
    assert props["mode"]["enum"] == ["static", "dynamic"]
    assert props["hidden"]["items"] == {"type": "integer", "minimum": 1}
    assert props["hidden"]["default"] == [64, 32]
    assert props["checkpoint"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["checkpoint"]["default"] is None
    assert "default" not in props["device"]
    assert "title" not in ParamSet().json_schema()


def test_json_schema_path_default_is_a_string() -> None:
    schema = ParamSet((Param("root", "path", default="~/data", help="h"),)).json_schema()
    default = schema["properties"]["root"]["default"]
    assert isinstance(default, str)
    assert default.endswith("data")


ALL_TYPES = ParamSet(
    (
        Param("i", "int", default=1, minimum=0, maximum=10, help="h"),
        Param("f", "float", default=0.5, minimum=0.0, maximum=1.0, help="h"),
        Param("s", "str", default="x", help="h"),
        Param("b", "bool", default=False, help="h"),
        Param("p", "path", default=None, help="h"),
        Param("c", "choice", default="a", choices=("a", "b"), help="h"),
        Param("li", "list[int]", default=[1], minimum=1, help="h"),
        Param("lf", "list[float]", default=[], help="h"),
        Param("ls", "list[str]", default=["a"], help="h"),
        Param("d", "dict", default=None, help="h"),
    )
)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("i", 0),
        ("i", 10),
        ("f", 0.25),
        ("f", 1),
        ("s", "text"),
        ("b", True),
        ("p", "model.onnx"),
        ("p", None),
        ("c", "b"),
        ("li", [1, 2]),
        ("lf", [0.5, 2]),
        ("ls", ["a", "b"]),
        ("d", {"kind": "llvm"}),
        ("d", None),
    ],
)
def test_json_schema_accepts_valid(key: str, value: Any) -> None:
    validator = schema_validator(ALL_TYPES)
    assert validator.is_valid({key: value})
    ALL_TYPES.validate({key: value}, "x")  # and so does validate()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("i", -1),
        ("i", 11),
        ("i", 1.5),
        ("i", True),
        ("f", 1.5),
        ("f", "x"),
        ("s", ["x"]),
        ("b", "maybe"),
        ("p", 3),
        ("c", "z"),
        ("li", [0]),
        ("li", 3),
        ("lf", ["x"]),
        ("ls", [1]),
        ("d", [1]),
        ("unknown", 1),
    ],
)
def test_json_schema_rejects_invalid(key: str, value: Any) -> None:
    validator = schema_validator(ALL_TYPES)
    assert not validator.is_valid({key: value})


def test_json_schema_required_and_empty() -> None:
    ps = ParamSet((Param("root", "path", help="h"),))
    validator = schema_validator(ps)
    assert not validator.is_valid({})
    assert validator.is_valid({"root": "/data"})
    assert schema_validator(ALL_TYPES).is_valid({})


def _accepted_by_validate(ps: ParamSet, value: Any) -> bool:
    try:
        ps.validate({"v": value}, "x")
    except ParameterError:
        return False
    return True


INT_PARAMS = ParamSet((Param("v", "int", default=5, minimum=-3, maximum=20, help="h"),))
FLOAT_PARAMS = ParamSet((Param("v", "float", default=0.5, minimum=-1.5, maximum=2.5, help="h"),))


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-3, max_value=20))
def test_hypothesis_valid_ints_accepted(value: int) -> None:
    assert INT_PARAMS.validate({"v": value}, "x") == {"v": value}
    assert schema_validator(INT_PARAMS).is_valid({"v": value})


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-100, max_value=100) | st.booleans())
def test_hypothesis_int_validate_agrees_with_schema(value: int) -> None:
    assert _accepted_by_validate(INT_PARAMS, value) == schema_validator(INT_PARAMS).is_valid({"v": value})


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=-10, max_value=10, allow_nan=False) | st.integers(-10, 10))
def test_hypothesis_float_validate_agrees_with_schema(value: float) -> None:
    assert _accepted_by_validate(FLOAT_PARAMS, value) == schema_validator(FLOAT_PARAMS).is_valid({"v": value})


# ------------------------------------------------------------------------------------------------ click


def test_click_options_round_trip() -> None:
    ps = ParamSet(
        (
            Param("threads", "int", default=1, minimum=1, help="threads"),
            Param("mode", "choice", default="static", choices=("static", "dynamic"), help="mode"),
            Param("verbose", "bool", default=True, help="chatty"),
            Param("sizes", "list[int]", default=[4], help="sizes"),
            Param("batch_size", "int", default=None, minimum=1, help="batch"),
            Param("checkpoint", "path", default=None, help="weights"),
        )
    )
    seen: dict[str, Any] = {}

    @click.command()
    @ps.click_options()
    def cmd(**kwargs: Any) -> None:
        seen.clear()
        seen.update(kwargs)

    runner = CliRunner()
    result = runner.invoke(cmd, ["--threads", "2", "--mode", "dynamic", "--no-verbose", "--sizes", "1,2"])
    assert result.exit_code == 0, result.output
    given_values = ps.from_click(seen)
    assert set(given_values) == {"threads", "mode", "verbose", "sizes"}
    assert "batch_size" not in given_values
    assert "checkpoint" not in given_values
    values = ps.validate(given_values, "runtime")
    assert values == dict(
        threads=2, mode="dynamic", verbose=False, sizes=[1, 2], batch_size=None, checkpoint=None
    )

    result = runner.invoke(cmd, [])
    assert result.exit_code == 0, result.output
    assert ps.from_click(seen) == {}

    result = runner.invoke(cmd, ["--verbose", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    assert ps.from_click(seen) == {"verbose": True, "batch_size": "8"}

    result = runner.invoke(cmd, ["--help"])
    assert result.exit_code == 0
    for option in ("--threads", "--mode", "--verbose / --no-verbose", "--sizes", "--batch-size"):
        assert option in result.output
    assert "static|dynamic" in result.output


def test_click_options_with_prefix() -> None:
    ps = ParamSet((Param("threads", "int", default=1, help="threads"),))
    seen: dict[str, Any] = {}

    @click.command()
    @ps.click_options(prefix="runtime_")
    def cmd(**kwargs: Any) -> None:
        seen.update(kwargs)

    result = CliRunner().invoke(cmd, ["--runtime-threads", "3"])
    assert result.exit_code == 0, result.output
    assert seen == {"runtime_threads": "3"}
    assert ps.from_click(seen, prefix="runtime_") == {"threads": "3"}
    assert ps.validate(ps.from_click(seen, prefix="runtime_"), "runtime") == {"threads": 3}
