"""Plugins as really installed distributions: dist-info folders on PYTHONPATH, found through importlib.metadata
by the real ``edgeai`` console script in a subprocess (and one wheel installed with pip)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "blobs-mlp.toml"
CONSOLE_SCRIPT = Path(sys.executable).parent / ("edgeai.exe" if os.name == "nt" else "edgeai")

# -- plugin sources ---------------------------------------------------------------------------------------

ACME_PLUGIN = '''
"""Acme's edgeai plugin: a runtime, a converter and a command."""

import click

from edgeai_core import ConverterRecord, RuntimeRecord, hookimpl


@hookimpl
def edgeai_register_runtimes():
    return [
        RuntimeRecord(
            name="acme-rt",
            summary="Acme accelerator runtime",
            factory="acme_edgeai.runtime:AcmeRuntime",
            formats=("npz-mlp",),
        )
    ]


@hookimpl
def edgeai_register_converters():
    return [
        ConverterRecord(
            name="acme-conv",
            summary="npz-mlp to the acme format",
            factory="acme_edgeai.runtime:AcmeConverter",
            input_format="npz-mlp",
            output_format="acme-format",
        )
    ]


@hookimpl
def edgeai_register_commands(cli):
    @cli.command("acme-hello")
    def acme_hello():
        """Greet from the acme plugin."""
        click.echo("hello from acme")
'''

ACME_RUNTIME = '''
"""The (never built) implementations of acme's components."""

from edgeai_core.components import Converter, Runtime


class AcmeRuntime(Runtime):
    pass


class AcmeConverter(Converter):
    pass
'''

BROKEN_PLUGIN = 'raise ImportError("no such framework")\n'

WRONG_TYPE_PLUGIN = """
from edgeai_core import hookimpl


@hookimpl
def edgeai_register_runtimes():
    return {"name": "not-a-record"}
"""

CLASH_PLUGIN = """
from edgeai_core import RuntimeRecord, hookimpl


@hookimpl
def edgeai_register_runtimes():
    return [
        RuntimeRecord(
            name="numpy",
            summary="Another runtime called numpy",
            factory="clash_edgeai:Nothing",
            formats=("npz-mlp",),
        )
    ]
"""

MISSPELLED_PLUGIN = """
from edgeai_core.api import RuntimeRecord, hookimpl


@hookimpl
def edgeai_register_runtime():
    return [RuntimeRecord(name="typo-rt", summary="never listed", factory="typo_edgeai:Nothing", formats=("x",))]
"""

UNMARKED_PLUGIN = """
from edgeai_core.api import RuntimeRecord


def edgeai_register_runtimes():
    return [RuntimeRecord(name="bare-rt", summary="never listed", factory="bare_edgeai:Nothing", formats=("x",))]
"""

BOARD_SPECS = '''
from edgeai_core.api import hookspec


@hookspec
def edgeai_boards_register_boards():
    """Return a list of board names."""
'''

BOARD_PROVIDER = """
from edgeai_core.api import hookimpl

import zzz_board_specs


@hookimpl
def edgeai_add_hookspecs(pm):
    pm.add_hookspecs(zzz_board_specs)


@hookimpl
def edgeai_register_commands(cli):
    import click

    from edgeai_core.cli import host_for

    @cli.command("boards")
    @click.pass_context
    def boards(ctx):
        host = host_for(ctx)
        for info, names in host.call_each("edgeai_boards_register_boards"):
            click.echo(f"{info.distribution}: {', '.join(names)}")
"""

BOARD_USER = """
from edgeai_core.api import hookimpl


@hookimpl
def edgeai_boards_register_boards():
    return ["jetson", "pi4"]
"""


# -- helpers -----------------------------------------------------------------------------------------------


def _normalized(dist: str) -> str:
    """The dist-info folder spelling of a distribution name (PEP 427 / binary distribution format)."""
    return re.sub(r"[-_.]+", "_", dist).lower()


def _metadata(dist: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: test plugin {dist}\n"


def _entry_points(ep_name: str, module: str) -> str:
    return f"[edgeai]\n{ep_name} = {module}\n"


def install_plugin(
    site: Path, dist: str, version: str, ep_name: str, module: str, files: dict[str, str]
) -> Path:
    """Write ``files`` (relative path -> source) and a ``<dist>-<version>.dist-info`` into ``site``."""
    for rel, text in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    info = site / f"{_normalized(dist)}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(_metadata(dist, version), encoding="utf-8")
    (info / "entry_points.txt").write_text(_entry_points(ep_name, module), encoding="utf-8")
    (info / "INSTALLER").write_text("test\n", encoding="utf-8")
    (info / "RECORD").write_text("", encoding="utf-8")
    return info


def install_acme(site: Path) -> None:
    install_plugin(
        site,
        "acme-edgeai",
        "1.2.3",
        "acme",
        "acme_edgeai.plugin",
        {
            "acme_edgeai/__init__.py": "",
            "acme_edgeai/plugin.py": ACME_PLUGIN,
            "acme_edgeai/runtime.py": ACME_RUNTIME,
        },
    )


def install_broken(site: Path) -> None:
    install_plugin(
        site, "broken-edgeai", "0.0.1", "broken", "broken_edgeai", {"broken_edgeai.py": BROKEN_PLUGIN}
    )


# edgeai's own backend plugins may be installed next to the core (the full test session installs them):
# keep them out, so these tests see exactly the core plus the distributions they install.
def _first_party_plugins() -> tuple[str, ...]:
    """Entry point names of every package in this repository but the core (new packages are covered too)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    names = []
    for pyproject in sorted((Path(__file__).resolve().parents[2] / "packages").glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        names += [n for n in project.get("entry-points", {}).get("edgeai", {}) if n != "core"]
    return tuple(names)


FIRST_PARTY_PLUGINS = _first_party_plugins()


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    disabled = extra.pop("EDGEAI_DISABLE_PLUGINS", "")
    env["EDGEAI_DISABLE_PLUGINS"] = ",".join(filter(None, [disabled, *FIRST_PARTY_PLUGINS]))
    env.update(extra)
    return env


def edgeai(site: Path | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real console script with ``site`` as the PYTHONPATH (plus extra environment variables)."""
    if not CONSOLE_SCRIPT.exists():
        pytest.skip(f"the edgeai console script is not installed next to {sys.executable}")
    extra = {"PYTHONPATH": str(site)} if site is not None else {}
    return subprocess.run(
        [str(CONSOLE_SCRIPT), *args],
        env=clean_env(**extra, **env),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def plugins_json(site: Path | None, *args: str, **env: str) -> dict:
    proc = edgeai(site, "plugins", "--json", *args, **env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def by_name(doc: dict) -> dict[str, dict]:
    return {p["name"]: p for p in doc["plugins"]}


def component_names(plugin: dict) -> set[tuple[str, str]]:
    return {(c["kind"], c["name"]) for c in plugin["components"]}


def lines_naming(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


# -- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PYTHONPATH entry with the good plugin ``acme-edgeai`` and the broken ``broken-edgeai``."""
    path = tmp_path_factory.mktemp("site")
    install_acme(path)
    install_broken(path)
    return path


@pytest.fixture(scope="module")
def good_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good-site")
    install_acme(path)
    return path


# -- discovery and reporting -------------------------------------------------------------------------------


def test_plugins_json_lists_core_acme_and_the_broken_plugin(site: Path) -> None:
    doc = plugins_json(site)
    plugins = by_name(doc)

    core = plugins["core"]
    assert core["status"] == "ok"
    assert core["distribution"] == "edgeai-core"
    assert ("runtime", "numpy") in component_names(core)
    assert ("model", "numpy-mlp") in component_names(core)

    acme = plugins["acme"]
    assert acme["status"] == "ok"
    assert acme["error"] is None
    assert acme["version"] == "1.2.3"
    assert acme["distribution"] == "acme-edgeai"
    assert acme["module"] == "acme_edgeai.plugin"
    assert component_names(acme) == {("runtime", "acme-rt"), ("converter", "acme-conv")}
    runtime = next(c for c in acme["components"] if c["kind"] == "runtime")
    assert runtime["formats"] == ["npz-mlp"]
    converter = next(c for c in acme["components"] if c["kind"] == "converter")
    assert (converter["input_format"], converter["output_format"]) == ("npz-mlp", "acme-format")

    broken = plugins["broken"]
    assert broken["status"] == "broken"
    assert broken["distribution"] == "broken-edgeai"
    assert broken["version"] == "0.0.1"
    assert "no such framework" in broken["error"]
    assert broken["components"] == []
    assert doc["conflicts"] == []


def test_plugins_human_table_and_one_warning_line(site: Path) -> None:
    proc = edgeai(site, "plugins")
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert "acme-edgeai" in rows["acme"] and "1.2.3" in rows["acme"]
    assert "runtime:acme-rt" in rows["acme"] and "converter:acme-conv" in rows["acme"]
    assert "broken" in rows["broken"] and "no such framework" in rows["broken"]
    warnings = lines_naming(proc.stderr, "broken-edgeai")
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("warning:")
    assert "no such framework" in warnings[0]


@pytest.mark.parametrize(
    "args",
    [
        ("list",),
        ("list", "runtime"),
        ("describe", "numpy-mlp"),
        ("describe", "acme-rt"),
        ("--help",),
        ("acme-hello",),
    ],
    ids=lambda a: " ".join(a),
)
def test_the_broken_plugin_does_not_take_edgeai_down(site: Path, args: tuple[str, ...]) -> None:
    proc = edgeai(site, *args)
    assert proc.returncode == 0, proc.stderr
    warnings = lines_naming(proc.stderr, "broken-edgeai")
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("warning: ")
    assert "no such framework" in warnings[0]
    assert "Traceback" not in proc.stderr


def test_list_shows_the_plugin_components_with_their_provider(site: Path) -> None:
    proc = edgeai(site, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    records = {(r["kind"], r["name"]): r for r in json.loads(proc.stdout)}
    assert records[("runtime", "acme-rt")]["provider"] == "acme-edgeai"
    assert records[("converter", "acme-conv")]["provider"] == "acme-edgeai"
    assert records[("runtime", "numpy")]["provider"] == "edgeai-core"


def test_dry_run_with_the_broken_plugin_present(site: Path, tmp_path: Path) -> None:
    proc = edgeai(site, "run", "--dry-run", str(EXAMPLE), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "weight-int8" in proc.stdout
    assert "numpy-mlp" in proc.stdout
    assert len(lines_naming(proc.stderr, "broken-edgeai")) == 1


def test_a_pipeline_may_use_the_plugin_runtime_in_a_dry_run(site: Path, tmp_path: Path) -> None:
    proc = edgeai(
        site,
        "run",
        "--dry-run",
        "--json",
        str(EXAMPLE),
        "-o",
        str(tmp_path / "out"),
        "--set",
        "runtime.name=acme-rt",
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["runtime"]["name"] == "acme-rt"
    assert plan["runtime"]["provider"] == "acme-edgeai"


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--strict-plugins", "plugins"), {}), (("plugins",), {"EDGEAI_STRICT_PLUGINS": "1"})],
    ids=["option", "environment"],
)
def test_strict_mode_fails_with_one_error_line(
    site: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    proc = edgeai(site, *args, **env)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:")
    assert "broken-edgeai" in lines[0]
    assert "no such framework" in lines[0]


def test_strict_mode_passes_without_a_broken_plugin(good_site: Path) -> None:
    proc = edgeai(good_site, "--strict-plugins", "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    assert by_name(json.loads(proc.stdout))["acme"]["status"] == "ok"


def test_plugin_command_runs(site: Path) -> None:
    proc = edgeai(site, "acme-hello")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello from acme"
    listing = edgeai(site, "--help")
    assert "acme-hello" in listing.stdout
    assert "Greet from the acme plugin." in listing.stdout


# -- environment switches ----------------------------------------------------------------------------------


def test_load_plugins_empty_keeps_only_the_core(site: Path) -> None:
    plugins = by_name(plugins_json(site, EDGEAI_LOAD_PLUGINS=""))
    assert "acme" not in plugins
    assert "broken" not in plugins
    assert plugins["core"]["status"] == "ok"
    assert ("runtime", "numpy") in component_names(plugins["core"])
    proc = edgeai(site, "acme-hello", EDGEAI_LOAD_PLUGINS="")
    assert proc.returncode == 2
    assert "acme-hello" in proc.stderr


@pytest.mark.parametrize("selector", ["acme", "acme-edgeai"])
def test_load_plugins_by_plugin_or_distribution_name(site: Path, selector: str) -> None:
    proc = edgeai(site, "plugins", "--json", EDGEAI_LOAD_PLUGINS=selector)
    assert proc.returncode == 0, proc.stderr
    plugins = by_name(json.loads(proc.stdout))
    assert plugins["acme"]["status"] == "ok"
    assert plugins["core"]["status"] == "ok"
    assert "broken" not in plugins
    assert "broken-edgeai" not in proc.stderr  # a plugin that is not loaded cannot break


def test_disable_plugins_hides_acme(site: Path) -> None:
    plugins = by_name(plugins_json(site, EDGEAI_DISABLE_PLUGINS="acme"))
    assert "acme" not in plugins
    assert plugins["core"]["status"] == "ok"

    everything = by_name(plugins_json(site, "--all", EDGEAI_DISABLE_PLUGINS="acme"))
    assert everything["acme"]["status"] == "disabled"
    assert everything["acme"]["components"] == []
    assert everything["acme"]["distribution"] == "acme-edgeai"

    proc = edgeai(site, "list", "--json", EDGEAI_DISABLE_PLUGINS="acme")
    assert proc.returncode == 0, proc.stderr
    assert "acme-rt" not in {r["name"] for r in json.loads(proc.stdout)}


def test_disable_the_broken_plugin_silences_it(site: Path) -> None:
    proc = edgeai(site, "list", EDGEAI_DISABLE_PLUGINS="broken-edgeai")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_disable_core_leaves_no_core_components(site: Path) -> None:
    doc = plugins_json(site, "--all", EDGEAI_DISABLE_PLUGINS="core")
    plugins = by_name(doc)
    assert plugins["core"]["status"] == "disabled"
    assert plugins["core"]["components"] == []
    assert plugins["acme"]["status"] == "ok"

    proc = edgeai(site, "list", "--json", EDGEAI_DISABLE_PLUGINS="core")
    assert proc.returncode == 0, proc.stderr
    records = json.loads(proc.stdout)
    assert all(r["provider"] != "edgeai-core" for r in records)
    assert {r["name"] for r in records} == {"acme-rt", "acme-conv"}


# -- misbehaving plugins -----------------------------------------------------------------------------------


def test_hook_returning_the_wrong_type_marks_the_plugin_broken(tmp_path: Path) -> None:
    install_plugin(
        tmp_path,
        "wrongtype-edgeai",
        "0.1",
        "wrongtype",
        "wrongtype_edgeai",
        {"wrongtype_edgeai.py": WRONG_TYPE_PLUGIN},
    )
    proc = edgeai(tmp_path, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    plugin = by_name(json.loads(proc.stdout))["wrongtype"]
    assert plugin["status"] == "broken"
    assert "edgeai_register_runtimes" in plugin["error"]
    assert "RuntimeRecord" in plugin["error"]
    assert plugin["components"] == []
    warnings = lines_naming(proc.stderr, "wrongtype-edgeai")
    assert len(warnings) == 1 and "edgeai_register_runtimes" in warnings[0]

    listing = edgeai(tmp_path, "list", "runtime", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [r["name"] for r in json.loads(listing.stdout)] == ["echo", "numpy"]


def test_name_clash_with_the_core_is_an_error_naming_both(tmp_path: Path) -> None:
    install_plugin(
        tmp_path, "clash-edgeai", "2.0", "clash", "clash_edgeai", {"clash_edgeai.py": CLASH_PLUGIN}
    )

    proc = edgeai(tmp_path, "list", "runtime")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "edgeai-core" in errors[0] and "clash-edgeai" in errors[0]
    assert "numpy" in errors[0]

    doc = plugins_json(tmp_path)
    plugins = by_name(doc)
    assert plugins["clash"]["status"] == "ok"
    assert plugins["core"]["status"] == "ok"
    assert len(doc["conflicts"]) == 1
    assert "edgeai-core" in doc["conflicts"][0] and "clash-edgeai" in doc["conflicts"][0]

    human = edgeai(tmp_path, "plugins")
    assert human.returncode == 0, human.stderr
    conflicts = lines_naming(human.stderr, "conflict:")
    assert len(conflicts) == 1 and "clash-edgeai" in conflicts[0] and "edgeai-core" in conflicts[0]

    # disabling one side resolves the clash
    proc = edgeai(tmp_path, "list", "runtime", "--json", EDGEAI_DISABLE_PLUGINS="clash")
    assert proc.returncode == 0, proc.stderr
    assert [(r["name"], r["provider"]) for r in json.loads(proc.stdout)] == [
        ("echo", "edgeai-core"),
        ("numpy", "edgeai-core"),
    ]


@pytest.fixture(scope="module")
def typo_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """acme plus a plugin with a misspelled hook and one with a hook function lacking @hookimpl."""
    path = tmp_path_factory.mktemp("typo-site")
    install_acme(path)
    install_plugin(path, "typo-edgeai", "0.2", "typo", "typo_edgeai", {"typo_edgeai.py": MISSPELLED_PLUGIN})
    install_plugin(path, "bare-edgeai", "0.3", "bare", "bare_edgeai", {"bare_edgeai.py": UNMARKED_PLUGIN})
    return path


def test_hooks_pluggy_would_never_call_mark_their_plugins_broken(typo_site: Path) -> None:
    proc = edgeai(typo_site, "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    plugins = by_name(json.loads(proc.stdout))
    typo = plugins["typo"]
    assert typo["status"] == "broken"
    assert typo["error"] == (
        "unknown hook 'edgeai_register_runtime' (no edgeai hookspec declares it; "
        "did you mean 'edgeai_register_runtimes'?)"
    )
    assert typo["components"] == []
    bare = plugins["bare"]
    assert bare["status"] == "broken"
    assert bare["error"] == (
        "edgeai_register_runtimes() is named like a hook but not marked @hookimpl, so edgeai would never call "
        "it: mark it with @hookimpl (from edgeai_core.api import hookimpl)"
    )
    assert plugins["acme"]["status"] == "ok", "the others still load"
    assert component_names(plugins["acme"]) == {("runtime", "acme-rt"), ("converter", "acme-conv")}
    assert len(lines_naming(proc.stderr, "typo-edgeai 0.2 (plugin 'typo') is broken")) == 1
    assert len(lines_naming(proc.stderr, "bare-edgeai 0.3 (plugin 'bare') is broken")) == 1

    listing = edgeai(typo_site, "list", "runtime", "--json")
    assert listing.returncode == 0, listing.stderr
    assert [r["name"] for r in json.loads(listing.stdout)] == ["acme-rt", "echo", "numpy"]


@pytest.mark.parametrize(
    ("disabled", "message"),
    [
        ("bare", "error: typo-edgeai 0.2 (plugin 'typo') is broken: unknown hook 'edgeai_register_runtime' "
                 "(no edgeai hookspec declares it; did you mean 'edgeai_register_runtimes'?)"),
        ("typo", "error: bare-edgeai 0.3 (plugin 'bare') is broken: edgeai_register_runtimes() is named like a "
                 "hook but not marked @hookimpl, so edgeai would never call it: mark it with @hookimpl "
                 "(from edgeai_core.api import hookimpl)"),
    ],
    ids=["misspelled", "unmarked"],
)  # fmt: skip
@pytest.mark.parametrize("strict", ["option", "environment"])
def test_strict_mode_fails_on_hooks_pluggy_would_never_call(
    typo_site: Path, disabled: str, message: str, strict: str
) -> None:
    if strict == "option":
        proc = edgeai(typo_site, "--strict-plugins", "plugins", "--json", EDGEAI_DISABLE_PLUGINS=disabled)
    else:
        proc = edgeai(
            typo_site, "plugins", "--json", EDGEAI_DISABLE_PLUGINS=disabled, EDGEAI_STRICT_PLUGINS="1"
        )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert [line for line in proc.stderr.splitlines() if line.strip()] == [message]


def test_trace_plugins_prints_hook_calls_to_stderr(good_site: Path) -> None:
    proc = edgeai(good_site, "plugins", "--json", EDGEAI_TRACE_PLUGINS="1")
    assert proc.returncode == 0, proc.stderr
    assert by_name(json.loads(proc.stdout))["acme"]["status"] == "ok", "stdout stays clean JSON"
    lines = proc.stderr.splitlines()
    assert "  edgeai_register_runtimes [hook]" in lines
    assert "  plugin acme [hook]" in lines and "  plugin core [hook]" in lines
    assert any(
        line.startswith("  finish edgeai_register_runtimes --> [[RuntimeRecord(name='acme-rt'")
        for line in lines
    )
    quiet = edgeai(good_site, "plugins", "--json")
    assert quiet.stderr == ""


def test_a_plugin_brings_hookspecs_that_a_plugin_found_before_it_implements(tmp_path: Path) -> None:
    # discovery reads dist-info folders in sorted order: the implementer (aaa) loads before the provider (zzz)
    install_plugin(tmp_path, "aaa-boards", "1.0", "aaa", "aaa_boards", {"aaa_boards.py": BOARD_USER})
    install_plugin(
        tmp_path, "zzz-boards", "1.0", "zzz", "zzz_boards",
        {"zzz_boards.py": BOARD_PROVIDER, "zzz_board_specs.py": BOARD_SPECS},
    )  # fmt: skip
    plugins = by_name(plugins_json(tmp_path, EDGEAI_STRICT_PLUGINS="1"))
    assert plugins["aaa"]["status"] == "ok" and plugins["zzz"]["status"] == "ok"
    proc = edgeai(tmp_path, "boards")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["aaa-boards: jetson, pi4"]

    alone = by_name(plugins_json(tmp_path, EDGEAI_DISABLE_PLUGINS="zzz"))["aaa"]
    assert alone["status"] == "broken"
    assert alone["error"].startswith("unknown hook 'edgeai_boards_register_boards'")


# -- a real wheel installed by pip -------------------------------------------------------------------------


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"{arcname},sha256={digest},{len(data)}"


def build_wheel(
    folder: Path, dist: str, version: str, ep_name: str, files: dict[str, str], module: str
) -> Path:
    """A pure-Python wheel made by hand, per the binary distribution format (PEP 427)."""
    name = _normalized(dist)
    info = f"{name}-{version}.dist-info"
    contents: dict[str, bytes] = {rel: textwrap.dedent(text).lstrip().encode() for rel, text in files.items()}
    contents[f"{info}/METADATA"] = _metadata(dist, version).encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    contents[f"{info}/entry_points.txt"] = _entry_points(ep_name, module).encode()
    record = [_record_line(arcname, data) for arcname, data in contents.items()]
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in contents.items():
            zf.writestr(arcname, data)
    return wheel


def test_wheel_installed_with_pip_is_discovered(tmp_path: Path) -> None:
    pytest.importorskip("pip", reason="pip is not installed in the test environment")
    wheel = build_wheel(
        tmp_path,
        "wheely-edgeai",
        "3.1.4",
        "wheely",
        {
            "wheely_edgeai/__init__.py": "",
            "wheely_edgeai/plugin.py": ACME_PLUGIN.replace("acme", "wheely"),
            "wheely_edgeai/runtime.py": ACME_RUNTIME,
        },
        "wheely_edgeai.plugin",
    )
    with zipfile.ZipFile(wheel) as zf:
        assert zf.testzip() is None
    target = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert (target / "wheely_edgeai" / "plugin.py").is_file()
    installed = target / "wheely_edgeai-3.1.4.dist-info"
    assert (installed / "entry_points.txt").is_file()
    assert (installed / "INSTALLER").read_text().strip() == "pip"

    plugin = by_name(plugins_json(target))["wheely"]
    assert plugin["status"] == "ok"
    assert plugin["distribution"] == "wheely-edgeai"
    assert plugin["version"] == "3.1.4"
    assert component_names(plugin) == {("runtime", "wheely-rt"), ("converter", "wheely-conv")}
    hello = edgeai(target, "wheely-hello")
    assert hello.returncode == 0, hello.stderr
    assert hello.stdout.strip() == "hello from wheely"
