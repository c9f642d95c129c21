"""The ``edgeai`` command: plugins, list, describe, run, train and plugin commands (click's CliRunner, plus
a couple of runs of the real console script)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
from click.testing import CliRunner, Result

import edgeai_core
import edgeai_core.plugin
from edgeai_core import RuntimeRecord, hookimpl
from edgeai_core.cli import cli
from edgeai_core.measurement import schema_path
from edgeai_core.plugins import PluginHost

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "blobs-mlp.toml"
CONSOLE_SCRIPT = Path(sys.executable).parent / ("edgeai.exe" if os.name == "nt" else "edgeai")
MLP_PARAMS = ("hidden", "epochs", "learning_rate", "batch_size", "weight_decay", "checkpoint", "input_shape")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No EDGEAI_* switch from the outside; the root logger as the CLI found it (it adds a handler)."""
    for name in list(os.environ):
        if name.startswith("EDGEAI_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


def core_host() -> PluginHost:
    """A host with only the core's built-ins, whatever else is installed in this environment."""
    host = PluginHost(discover=False, env={})
    host.register(
        edgeai_core.plugin, name="core", distribution="edgeai-core", version=edgeai_core.__version__
    )
    return host


def invoke(*args: str, host: PluginHost | None = None) -> Result:
    """Run the CLI in-process on a core-only host (``host`` to use another)."""
    return CliRunner().invoke(cli, list(args), obj={"host": host or core_host()})


def host_with_command(name: str, action: Callable[[], None], *, plugin: str) -> PluginHost:
    """A core-only host plus the in-process plugin ``plugin`` whose one command ``name`` runs ``action``."""

    class Commands:
        @hookimpl
        def edgeai_register_commands(self, cli: click.Group) -> None:
            cli.command(name)(action)

    host = core_host()
    host.register(Commands(), name=plugin)
    return host


def ok(*args: str, host: PluginHost | None = None) -> Result:
    """``invoke`` a command that must succeed."""
    result = invoke(*args, host=host)
    assert result.exit_code == 0, result.stderr
    return result


def run_example(out: Path, *overrides: str, json_summary: bool = False) -> Result:
    """``edgeai run`` of the example pipeline into ``out`` with ``--set`` for each of ``overrides``."""
    sets = [arg for override in overrides for arg in ("--set", override)]
    return invoke("run", str(EXAMPLE), "-o", str(out), *sets, *(["--json"] if json_summary else []))


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def one_error(result: Result, exit_code: int = 2) -> str:
    """The single ``error:`` line a failing command prints on stderr."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def write_config(folder: Path, old: str, new: str, name: str = "pipeline.toml") -> Path:
    """The example pipeline with ``old`` replaced by ``new``."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    path = folder / name
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


# -- plugins -----------------------------------------------------------------------------------------------


def test_plugins_table() -> None:
    result = ok("plugins")
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "COMPONENTS"]
    assert len(rows) == 1
    assert rows[0].split()[:4] == ["core", "edgeai-core", edgeai_core.__version__, "ok"]
    for component in ("dataset:gaussian-blobs", "model:numpy-mlp", "compiler:weight-int8", "runtime:numpy"):
        assert component in rows[0]
    assert result.stderr == ""


def test_plugins_json_structure() -> None:
    result = ok("plugins", "--json")
    doc = json.loads(result.stdout)
    assert set(doc) == {"plugins", "conflicts"}
    assert doc["conflicts"] == []
    [core] = doc["plugins"]
    assert set(core) == {"name", "distribution", "version", "module", "status", "error", "components"}
    assert core["name"] == "core"
    assert core["module"] == "edgeai_core.plugin"
    assert core["status"] == "ok"
    assert core["error"] is None
    components = {(c["kind"], c["name"]): c for c in core["components"]}
    assert set(components) == {
        ("dataset", "gaussian-blobs"),
        ("model", "artifact-file"),
        ("model", "numpy-mlp"),
        ("compiler", "weight-int8"),
        ("runtime", "numpy"),
        ("runtime", "echo"),
        ("protocol", "tcp"),
        ("protocol", "serial"),
        ("probe", "nvml"),
        ("executor", "local"),
    }
    assert components[("runtime", "numpy")]["formats"] == ["npz-mlp"]
    assert components[("model", "numpy-mlp")]["format"] == "npz-mlp"
    assert components[("model", "artifact-file")]["format"] == "sidecar"
    assert components[("dataset", "gaussian-blobs")]["task"] == "classification"
    assert components[("compiler", "weight-int8")]["input_formats"] == ["npz-mlp"]
    assert all(c["summary"] for c in components.values())


def test_plugins_discovers_the_core_through_its_entry_point() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.stderr
    core = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}["core"]
    assert core["distribution"] == "edgeai-core"
    assert core["version"] == edgeai_core.__version__
    assert core["status"] == "ok"
    assert {"kind": "runtime", "name": "numpy"}.items() <= next(
        c for c in core["components"] if c["name"] == "numpy"
    ).items()


# -- list --------------------------------------------------------------------------------------------------


def test_list_everything() -> None:
    result = ok("list")
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["KIND", "NAME", "FORMATS/TASK", "PROVIDER", "STATUS", "SUMMARY"]
    assert [row.split()[:2] for row in rows] == [
        ["dataset", "gaussian-blobs"],
        ["model", "artifact-file"],
        ["model", "numpy-mlp"],
        ["compiler", "weight-int8"],
        ["runtime", "echo"],
        ["runtime", "numpy"],
        ["protocol", "serial"],
        ["protocol", "tcp"],
        ["probe", "nvml"],
        ["executor", "local"],
    ]
    assert "task=classification" in rows[0]
    assert "format=sidecar" in rows[1]
    assert "format=npz-mlp" in rows[2]
    assert "npz-mlp -> npz-mlp" in rows[3]
    assert "formats=npz-mlp" in rows[5]
    assert all("edgeai-core" in row for row in rows)


@pytest.mark.parametrize("kind", ["runtime", "runtimes", "RUNTIME"])
def test_list_one_kind_singular_or_plural(kind: str) -> None:
    result = ok("list", kind)
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [["runtime", "echo"], ["runtime", "numpy"]]


def test_list_a_kind_nothing_provides() -> None:
    result = ok("list", "converters")
    assert result.stdout.startswith("no converter is installed")


def test_list_json() -> None:
    result = ok("list", "--json")
    records = json.loads(result.stdout)
    assert [(r["kind"], r["name"]) for r in records] == [
        ("dataset", "gaussian-blobs"),
        ("model", "artifact-file"),
        ("model", "numpy-mlp"),
        ("compiler", "weight-int8"),
        ("runtime", "echo"),
        ("runtime", "numpy"),
        ("protocol", "serial"),
        ("protocol", "tcp"),
        ("probe", "nvml"),
        ("executor", "local"),
    ]
    model = records[2]
    assert model["provider"] == "edgeai-core"
    assert model["factory"] == "edgeai_core.builtins.mlp:NumpyMlp"
    assert model["format"] == "npz-mlp"
    assert model["trainable"] is True
    assert model["params"] == list(MLP_PARAMS)
    assert records[4]["params"] == []


def test_list_json_of_one_kind() -> None:
    result = ok("list", "compilers", "--json")
    assert [(r["kind"], r["name"], r["output_format"]) for r in json.loads(result.stdout)] == [
        ("compiler", "weight-int8", "npz-mlp")
    ]


@pytest.mark.parametrize(
    ("kind", "suggestion"), [("runtme", "runtime"), ("modle", "model"), ("datsets", "dataset")]
)
def test_list_unknown_kind_suggests_the_closest(kind: str, suggestion: str) -> None:
    line = one_error(invoke("list", kind))
    assert f"'{kind}'" in line
    assert f"did you mean '{suggestion}'?" in line


# -- describe ----------------------------------------------------------------------------------------------


def test_describe_shows_every_parameter_with_type_and_default() -> None:
    result = ok("describe", "numpy-mlp")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("model numpy-mlp: ")
    assert "edgeai_core.builtins.mlp:NumpyMlp" in result.stdout
    assert "format: npz-mlp" in result.stdout
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == ["PARAMETER", "TYPE", "DEFAULT", "HELP"]
    rows = {row.split()[0]: row.split()[1:3] for row in table[1:]}
    assert list(rows) == list(MLP_PARAMS)
    assert rows["hidden"] == ["list[int]", "[64]"]
    assert rows["epochs"] == ["int", "60"]
    assert rows["learning_rate"] == ["float", "0.01"]
    assert rows["batch_size"] == ["int", "32"]
    assert rows["weight_decay"] == ["float", "0.0"]
    assert rows["checkpoint"] == ["path", "null"]
    assert rows["input_shape"] == ["list[int]", "null"]


def described_schema(name: str) -> dict[str, Any]:
    """``edgeai describe NAME --json``: a valid JSON Schema."""
    schema: dict[str, Any] = json.loads(ok("describe", name, "--json").stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def test_describe_json_is_a_json_schema_of_the_parameters() -> None:
    schema = described_schema("numpy-mlp")
    assert schema["title"] == "model:numpy-mlp"
    assert list(schema["properties"]) == list(MLP_PARAMS)
    assert schema["x-edgeai"]["format"] == "npz-mlp"
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"epochs": 3})
    assert validator.is_valid({})
    assert validator.is_valid({"hidden": [8, 8], "checkpoint": None, "learning_rate": 0.5})
    assert not validator.is_valid({"epochs": "x"})
    assert not validator.is_valid({"epochs": 0})  # minimum 1
    assert not validator.is_valid({"epoch": 3})  # additionalProperties: false
    assert not validator.is_valid({"hidden": [0]})


def test_describe_settings_tables() -> None:
    schema = described_schema("benchmark")
    assert schema["title"] == "benchmark"
    assert {"warmup", "min_count", "min_duration_s"} <= set(schema["properties"])
    assert jsonschema.Draft202012Validator(schema).is_valid({"min_count": 50, "min_duration_s": 0})
    text = ok("describe", "benchmark")
    assert "min_count" in text.stdout


def test_describe_kind_and_name() -> None:
    result = ok("describe", "runtime:numpy")
    assert result.stdout.startswith("runtime numpy: ")
    assert "formats: npz-mlp" in result.stdout
    assert "no parameters" in result.stdout


def test_describe_unknown_name_exits_2_and_suggests() -> None:
    line = one_error(invoke("describe", "nope"))
    assert "'nope'" in line
    assert "numpy-mlp" in line  # no close name: the installed ones are listed
    close = one_error(invoke("describe", "numpy-mpl"))
    assert "did you mean 'numpy-mlp'?" in close
    wrong_kind = one_error(invoke("describe", "model:numpy"))
    assert "did you mean 'numpy-mlp'?" in wrong_kind


# -- run: errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('name = "numpy-mlp"', 'name = "numpy-mpl"', ["model.name", "did you mean 'numpy-mlp'?"]),
        ("epochs = 40", 'epochs = "many"', ["model.epochs", "'many'"]),
        ("epochs = 40", "epoch = 3", ["model.epoch", "did you mean 'epochs'?"]),
    ],
    ids=["misspelled-component", "bad-parameter-value", "unknown-parameter"],
)
def test_run_config_error_names_the_field(tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    config = write_config(tmp_path, old, new)
    line = one_error(invoke("run", str(config), "-o", str(tmp_path / "out")))
    for fragment in expected:
        assert fragment in line
    assert not (tmp_path / "out").exists()


def test_run_override_out_of_bounds(tmp_path: Path) -> None:
    line = one_error(run_example(tmp_path / "out", "model.epochs=0"))
    assert "model.epochs" in line
    assert ">= 1" in line


def test_run_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nothere.toml"
    line = one_error(invoke("run", str(missing), "-o", str(tmp_path / "out")))
    assert "nothere.toml" in line


def test_run_malformed_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('name = "unterminated\n[model\n', encoding="utf-8")
    line = one_error(invoke("run", str(config), "-o", str(tmp_path / "out")))
    assert "broken.toml" in line
    assert "TOML" in line


def test_run_failure_is_one_line_and_verbose_adds_the_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path, "epochs = 40", 'checkpoint = "missing.npz"')
    quiet = invoke("run", str(config), "-o", str(tmp_path / "quiet"))
    assert quiet.exit_code == 1, quiet.stderr
    errors = [line for line in quiet.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "missing.npz" in errors[0]
    assert "Traceback" not in quiet.stderr
    assert (tmp_path / "quiet" / "results.json").is_file()  # partial results are kept
    assert json.loads((tmp_path / "quiet" / "results.json").read_text())["status"] == "failed"

    verbose = invoke("--verbose", "run", str(config), "-o", str(tmp_path / "verbose"))
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr
    assert "missing.npz" in verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("error:")


def test_run_unexpected_exception_is_one_line_with_a_hint() -> None:
    def boom() -> None:
        raise ZeroDivisionError("kaboom")

    host = host_with_command("boom", boom, plugin="boom")
    line = one_error(invoke("boom", host=host), exit_code=1)
    assert "ZeroDivisionError: kaboom" in line
    assert "--verbose" in line


# -- run: a real pipeline ----------------------------------------------------------------------------------


def test_run_writes_schema_valid_results(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_example(
        out, "benchmark.min_count=50", "benchmark.min_duration_s=0", "model.epochs=20", json_summary=True
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "complete"
    assert summary["name"] == "blobs-mlp-int8"
    assert summary["accuracy"] >= 0.9
    assert summary["samples"] >= 50
    assert Path(summary["results"]) == out / "results.json"

    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(doc)
    assert doc["status"] == "complete"
    assert doc["latency"]["stats"]["count"] >= 50
    assert doc["latency"]["stats"]["count"] == summary["samples"]
    assert doc["quality"]["accuracy"] == summary["accuracy"]
    assert [(s["kind"], s["name"]) for s in doc["steps"]] == [
        ("dataset", "gaussian-blobs"),
        ("model", "numpy-mlp"),
        ("compiler", "weight-int8"),
        ("runtime-load", "numpy"),
    ]
    assert doc["steps"][2]["artifact"]["size_bytes"] == summary["artifact_bytes"]
    assert doc["steps"][1]["metadata"]["epochs"] == 20  # the --set override reached the model
    assert doc["provenance"]["plugins"] == {"edgeai-core": edgeai_core.__version__}


def test_run_human_summary_line(tmp_path: Path) -> None:
    result = run_example(
        tmp_path / "out",
        "benchmark.min_count=20",
        "benchmark.min_duration_s=0",
        "benchmark.warmup=1",
        "model.epochs=5",
    )
    assert result.exit_code == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(f"results: {tmp_path / 'out' / 'results.json'}")
    assert "median" in line and "accuracy" in line
    assert "- preparing dataset gaussian-blobs" in result.stderr  # progress goes to stderr
    validity = json.loads((tmp_path / "out" / "results.json").read_text())["validity"]
    noisy = [e for e in result.stderr.splitlines() if e.startswith("NOISY run: ")]
    assert noisy == (
        [f"NOISY run: {'; '.join(validity['reasons'])}"] if validity["verdict"] == "noisy" else []
    )


def test_run_dry_run_prints_the_plan(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ok("run", "--dry-run", str(EXAMPLE), "-o", str(out))
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["dataset", "gaussian-blobs"]
    assert any("weight-int8" in line and "npz-mlp -> npz-mlp" in line for line in lines)
    assert lines[-1].split()[:2] == ["runtime", "numpy"]
    assert not out.exists()  # nothing built, nothing written


def test_run_dry_run_json(tmp_path: Path) -> None:
    result = ok("run", "--dry-run", "--json", str(EXAMPLE), "-o", str(tmp_path / "out"))
    plan = json.loads(result.stdout)
    assert plan["model"]["name"] == "numpy-mlp"
    assert plan["model"]["params"]["epochs"] == 40
    assert [s["name"] for s in plan["steps"]] == ["weight-int8"]
    assert plan["runtime"]["name"] == "numpy"
    assert plan["final_format"] == "npz-mlp"
    assert plan["benchmark"]["min_count"] == 500


# -- train -------------------------------------------------------------------------------------------------


def test_train_with_model_and_dataset_options(tmp_path: Path) -> None:
    out = tmp_path / "t"
    result = invoke(
        "train",
        "numpy-mlp",
        "gaussian-blobs",
        "-o",
        str(out),
        "--epochs",
        "5",
        "--dataset-classes",
        "3",
        "--hidden",
        "8,8",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    saved = json.loads((out / "train.json").read_text(encoding="utf-8"))
    assert saved == summary
    assert saved["model"] == "numpy-mlp"
    assert saved["dataset"] == "gaussian-blobs"
    assert saved["params"]["epochs"] == 5
    assert saved["params"]["hidden"] == [8, 8]
    assert saved["params"]["learning_rate"] == 0.01  # untouched defaults are filled in
    assert saved["artifact"]["format"] == "npz-mlp"

    checkpoint = out / "model.npz"
    assert checkpoint.is_file()
    sidecar = json.loads((out / "model.npz.edgeai.json").read_text(encoding="utf-8"))
    assert sidecar["format"] == "npz-mlp"
    assert sidecar["io"]["outputs"][0]["shape"] == [None, 3]
    assert sidecar["io"]["inputs"][0]["shape"] == [None, 16]


def test_train_bad_option_value_exits_2_before_any_work(tmp_path: Path) -> None:
    out = tmp_path / "t"
    line = one_error(invoke("train", "numpy-mlp", "gaussian-blobs", "-o", str(out), "--epochs", "zero"))
    assert "model.epochs" in line or "--epochs" in line
    assert not out.exists()
    dataset = one_error(
        invoke("train", "numpy-mlp", "gaussian-blobs", "-o", str(out), "--dataset-classes", "1")
    )
    assert "dataset.classes" in dataset
    assert ">= 2" in dataset


def test_train_unknown_model(tmp_path: Path) -> None:
    line = one_error(invoke("train", "nope", "gaussian-blobs", "-o", str(tmp_path / "t")))
    assert "'nope'" in line
    assert "numpy-mlp" in line
    close = one_error(invoke("train", "numpy-mpl", "gaussian-blobs", "-o", str(tmp_path / "t")))
    assert "did you mean 'numpy-mlp'?" in close


def test_train_unknown_dataset(tmp_path: Path) -> None:
    line = one_error(invoke("train", "numpy-mlp", "gaussian-blob", "-o", str(tmp_path / "t")))
    assert "DATASET" in line
    assert "did you mean 'gaussian-blobs'?" in line


def test_train_help() -> None:
    plain = ok("train", "--help")
    assert "MODEL DATASET" in plain.stdout
    assert "--output" in plain.stdout
    options = plain.stdout.split("Options:")[1]
    assert "--seed" in options
    assert "--epochs" not in options  # no model named: no model options yet

    specific = ok("train", "numpy-mlp", "gaussian-blobs", "--help")
    options = specific.stdout.split("Options:")[1]
    for option in ("--epochs", "--hidden", "--learning-rate", "--dataset-classes", "--dataset-features"):
        assert option in options
    assert "default: 64]" in specific.stdout  # a list default reads as the option takes it


# -- plugin commands ---------------------------------------------------------------------------------------


class HelloPlugin:
    """An in-process plugin contributing a command and a runtime."""

    @hookimpl
    def edgeai_register_commands(self, cli: click.Group) -> None:
        @cli.command("hello")
        @click.option("--name", default="world")
        def hello(name: str) -> None:
            """Say hello from a plugin."""
            click.echo(f"hello, {name}")

    @hookimpl
    def edgeai_register_runtimes(self) -> list[RuntimeRecord]:
        return [
            RuntimeRecord(
                name="hello-rt", summary="A runtime of the hello plugin", factory="hello:Rt", formats=("x",)
            )
        ]


def test_plugin_command_appears_in_help_and_runs() -> None:
    host = PluginHost(discover=True)
    host.register(HelloPlugin(), name="hello-plugin", distribution="hello-dist", version="9.9")
    result = CliRunner().invoke(cli, ["--help"], obj={"host": host})
    assert result.exit_code == 0, result.stderr
    assert "hello" in result.stdout.split()
    assert "Say hello from a plugin." in result.stdout

    run = CliRunner().invoke(cli, ["hello", "--name", "edge"], obj={"host": host})
    assert run.exit_code == 0, run.stderr
    assert run.stdout == "hello, edge\n"

    listing = CliRunner().invoke(cli, ["list", "runtime", "--json"], obj={"host": host})
    assert listing.exit_code == 0, listing.stderr
    providers = {r["name"]: r["provider"] for r in json.loads(listing.stdout)}
    assert providers["hello-rt"] == "hello-dist"
    assert providers["numpy"] == "edgeai-core"


def test_plugin_commands_do_not_leak_between_hosts() -> None:
    host = core_host()
    host.register(HelloPlugin(), name="hello-plugin")
    assert invoke("hello", host=host).exit_code == 0
    without = invoke("hello")
    assert without.exit_code == 2
    assert "hello" in without.stderr
    assert "hello" not in invoke("--help").stdout.split()


def test_plugin_command_cannot_shadow_a_builtin() -> None:
    host = host_with_command("list", lambda: click.echo("shadowed"), plugin="shadow")
    result = ok("list", host=host)
    assert "shadowed" not in result.stdout
    assert "numpy-mlp" in result.stdout


def test_failing_command_hook_marks_the_plugin_broken() -> None:
    class Failing:
        @hookimpl
        def edgeai_register_commands(self, cli: click.Group) -> None:
            raise RuntimeError("cannot add commands")

    host = core_host()
    host.register(Failing(), name="failing")
    result = ok("--help", host=host)
    assert "cannot add commands" in result.stderr
    plugins = {p["name"]: p for p in json.loads(invoke("plugins", "--json", host=host).stdout)["plugins"]}
    assert plugins["failing"]["status"] == "broken"
    assert "edgeai_register_commands" in plugins["failing"]["error"]


# -- version and the real console script -------------------------------------------------------------------


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert "0.1.0" in result.stdout
    assert result.stdout.strip() == f"edgeai, version {edgeai_core.__version__}"


def _console(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    if not CONSOLE_SCRIPT.exists():
        pytest.skip(f"the edgeai console script is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.subprocess
def test_console_script_version_and_list() -> None:
    version = _console("--version")
    assert version.returncode == 0, version.stderr
    assert "0.1.0" in version.stdout
    listing = _console("list", "runtimes", "--json")
    assert listing.returncode == 0, listing.stderr
    assert "numpy" in {r["name"] for r in json.loads(listing.stdout)}


@pytest.mark.subprocess
def test_console_script_usage_error_and_exit_codes(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'name = "numpy-mlp"', 'name = "numpy-mpl"')
    proc = _console("run", str(config), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: model.name: ")
    assert "numpy-mlp" in lines[0]

    train = _console(
        "train", "numpy-mlp", "gaussian-blobs", "-o", str(tmp_path / "t"), "--epochs", "2", cwd=tmp_path
    )
    assert train.returncode == 0, train.stderr
    assert train.stdout.startswith("checkpoint: ")
    assert (tmp_path / "t" / "train.json").is_file()


def test_warnings_reach_the_stderr_of_every_invocation() -> None:
    """A long-lived ``cli`` (tests, embedding) logs to the stderr of the current invocation."""

    for _ in range(3):
        host = host_with_command(
            "warn", lambda: logging.getLogger("edgeai_test").warning("careful"), plugin="warns"
        )
        result = invoke("warn", host=host)
        assert result.exit_code == 0, result.stderr
        assert result.stderr == "warning: careful\n"
