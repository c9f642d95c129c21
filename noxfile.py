"""Nox sessions for the edgeai monorepo.

    nox -l                 list sessions
    nox -s tests           the test suite (this is the command CI and the README use)
    nox -s core            edgeai-core alone, proving it needs no ML framework
    nox -s lint            ruff check + ruff format --check
    nox -s typecheck       mypy over packages/*/src (config in pyproject.toml)
    nox -s demo            install every package and run `edgeai demo` (the README's first command)
    nox -s bench           run every bench/*.py script (arguments after `--` are passed on)
    nox -s template        build examples/edgeai-plugin-template as a wheel, install it beside edgeai-core, test it
    nox -s tflite_runtime  edgeai-tflite's runtime tests on numpy<2 with tflite-runtime (and LiteRT), no TensorFlow
    nox -s tflite_onnx2tf  edgeai-tflite's ONNX -> TFLite tests with onnx2tf installed the only way that works
    nox -s ray             the ray executor on a real two-node Ray cluster on loopback addresses (tests/ray)

Packages are discovered by globbing packages/*/pyproject.toml, so a new package is picked up
without editing this file.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nox
from nox.command import CommandFailed

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself depends on tomli on Python < 3.11
    import tomli as tomllib


# torch CPU wheels: the machines provide the CPU build of torch in a find-links folder named by
# PIP_FIND_LINKS (pip config). uv does not read pip's configuration, so hand the same folder(s) to uv.
# Packages that need torch must pin it exactly as `torch==2.13.0` so the resolver takes the CPU wheel
# (2.13.0+cpu) from that folder instead of the multi-GB CUDA build from the index.
# pip separates find-links with whitespace, uv with commas.
def _pip_find_links() -> str:
    """PIP_FIND_LINKS, or else pip's configured find-links (pip.conf), or ''."""
    if os.environ.get("PIP_FIND_LINKS"):
        return os.environ["PIP_FIND_LINKS"]
    import subprocess

    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.find-links"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


if not os.environ.get("UV_FIND_LINKS"):
    _links = _pip_find_links()
    if _links:
        os.environ["UV_FIND_LINKS"] = ",".join(_links.split())

# uv if it can be found (on PATH or as the `uv` Python package next to nox), else virtualenv.
nox.options.default_venv_backend = "uv|virtualenv"
# Always start from fresh environments; `nox -r` (or `--reuse-venv=yes`) still reuses them locally.
nox.options.reuse_existing_virtualenvs = False
nox.options.sessions = ["tests", "lint"]

ROOT = Path(__file__).resolve().parent
PACKAGES_DIR = ROOT / "packages"

# Extras installed for every package that declares them.
INSTALL_EXTRAS = ("test", "compile")
# Test dependencies shared by all test sessions.
TEST_DEPS = ("pytest", "hypothesis", "jsonschema", "pip")
# Must never be importable in the `core` session: edgeai-core is framework free.
FRAMEWORKS = ("torch", "tensorflow", "tvm", "onnxruntime", "keras")


def _normalize(name: str) -> str:
    """PEP 503 / PEP 685 normalization for distribution and extra names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _package_spec(package_dir: Path, extras: tuple[str, ...] = INSTALL_EXTRAS) -> str:
    """`./packages/<dist>[extra,...]` for the wanted extras the package actually declares."""
    with (package_dir / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f).get("project", {})
    declared = {_normalize(e) for e in project.get("optional-dependencies", {})}
    wanted = [e for e in extras if _normalize(e) in declared]
    path = "./" + package_dir.relative_to(ROOT).as_posix()
    return f"{path}[{','.join(wanted)}]" if wanted else path


def _package_specs() -> list[str]:
    """Install specs for every package under packages/, in a stable order."""
    dirs = sorted(p.parent for p in PACKAGES_DIR.glob("*/pyproject.toml"))
    if not dirs:
        raise RuntimeError(f"no packages found under {PACKAGES_DIR.relative_to(ROOT)}/*/pyproject.toml")
    return [_package_spec(d) for d in dirs]


_CHECK_NO_FRAMEWORKS = f"""
import importlib.util, sys
found = [m for m in {FRAMEWORKS!r} if importlib.util.find_spec(m) is not None]
if found:
    sys.exit(
        "core session: edgeai-core must install and run without ML frameworks, but these are "
        "importable in its environment: " + ", ".join(found) + ". Something in edgeai-core's "
        "dependencies (or the test deps) pulls them in."
    )
print("ok: none of " + ", ".join({FRAMEWORKS!r}) + " is importable")
"""


@nox.session
def tests(session: nox.Session) -> None:
    """Install every package (non-editable, one resolve) and run pytest."""
    # One install call: the resolver must see all packages and their pins together.
    session.install(*_package_specs(), *TEST_DEPS)
    session.run("pytest", *(session.posargs or ["tests"]))


@nox.session
def core(session: nox.Session) -> None:
    """edgeai-core alone: assert no ML framework is importable, then run tests/core."""
    session.install(_package_spec(PACKAGES_DIR / "edgeai-core", extras=("test",)), *TEST_DEPS)
    session.run("python", "-c", _CHECK_NO_FRAMEWORKS)
    session.run("pytest", "tests/core", *session.posargs)


# Extras the demo needs: compile sides and the torch -> ONNX exporter, no test tools.
DEMO_EXTRAS = ("compile", "onnx")


@nox.session
def demo(session: nox.Session) -> None:
    """Install every package and run `edgeai demo` (arguments after `--` go to it, e.g. `-- --only torch-eager`)."""
    dirs = sorted(p.parent for p in PACKAGES_DIR.glob("*/pyproject.toml"))
    session.install(*(_package_spec(d, extras=DEMO_EXTRAS) for d in dirs))
    session.run("edgeai", "demo", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check + ruff format --check over the whole repository."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over packages/*/src, with the packages and their deps installed."""
    session.install(*_package_specs(), "mypy", "pytest")  # pytest: edgeai_core.testing builds on it
    session.run("mypy", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Run every bench/*.py script (sorted); a failing benchmark fails the session at the end."""
    session.install(*_package_specs())
    scripts = sorted((ROOT / "bench").glob("*.py"))
    if not scripts:
        session.skip("no bench/*.py scripts")
    failed: list[str] = []
    for script in scripts:
        rel = script.relative_to(ROOT).as_posix()
        try:
            session.run("python", rel, *session.posargs)
        except CommandFailed:
            failed.append(rel)
    if failed:
        session.error("benchmarks failed: " + ", ".join(failed))


TEMPLATE_DIR = ROOT / "examples" / "edgeai-plugin-template"
TEMPLATE_PLUGIN = "template"  # its entry point name in the `edgeai` group


@nox.session
def template(session: nox.Session) -> None:
    """The plugin template as a third party ships it: build its wheel, install the wheel into this fresh
    environment beside edgeai-core (from ./packages), run the template's own tests against the installed copy,
    and check that `edgeai plugins --json` lists the plugin with status ok."""
    import json

    dist = Path(session.create_tmp()).resolve() / "template-dist"
    if dist.exists():
        for old in dist.glob("*.whl"):
            old.unlink()
    template_path = TEMPLATE_DIR.relative_to(ROOT).as_posix()
    if session.venv_backend == "uv":
        session.run("uv", "build", "--wheel", "--out-dir", str(dist), template_path)
    else:
        session.install("build")
        session.run("python", "-m", "build", "--wheel", "--outdir", str(dist), template_path)
    wheels = sorted(dist.glob("edgeai_plugin_template-*.whl"))
    if len(wheels) != 1:
        session.error(
            f"expected one edgeai_plugin_template wheel in {dist}, found {[w.name for w in wheels]}"
        )
    session.install(
        _package_spec(PACKAGES_DIR / "edgeai-core", extras=("testing",)), str(wheels[0]), "pytest"
    )
    # the tests must import the installed wheel, not the source folder
    session.run(
        "python", "-c",
        "import edgeai_plugin_template as t, pathlib; p = pathlib.Path(t.__file__); "
        "assert 'site-packages' in p.parts, f'edgeai_plugin_template imported from {p}, not the installed wheel'",
    )  # fmt: skip
    with session.chdir(TEMPLATE_DIR):
        session.run("pytest", "-q", "-p", "no:cacheprovider", "tests", *session.posargs)
    listing = session.run("edgeai", "plugins", "--json", silent=True, env={"EDGEAI_STRICT_PLUGINS": "1"})
    plugins = json.loads(str(listing))["plugins"]
    found = [p for p in plugins if p["name"] == TEMPLATE_PLUGIN]
    if not found or found[0]["status"] != "ok":
        session.error(
            f"`edgeai plugins --json` does not list plugin '{TEMPLATE_PLUGIN}' as ok: {found or plugins}"
        )
    names = sorted(f"{c['kind']}:{c['name']}" for c in found[0]["components"])
    with session.chdir(TEMPLATE_DIR):  # its three components in one pipeline, as its README shows
        session.run("edgeai", "run", "waves.toml", "--output", str(dist / "run"), "--set", "model.epochs=5")
    session.log(
        f"edgeai plugins: {TEMPLATE_PLUGIN} ({found[0]['distribution']} {found[0]['version']}) ok: {names}"
    )


@nox.session
def ray(session: nox.Session) -> None:
    """edgeai sweep's ray executor on a real two-node Ray cluster (127.0.0.2 and 127.0.0.3, loopback only):
    placement by device resource, one run per device at a time, a killed worker's run retried. A few minutes."""
    session.install(
        _package_spec(PACKAGES_DIR / "edgeai-core", extras=("test",)),
        _package_spec(PACKAGES_DIR / "edgeai-ray"),
        *TEST_DEPS,
        "psutil",
    )
    env = {"EDGEAI_RAY_TESTS": "1", "RAY_USAGE_STATS_ENABLED": "0"}
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/ray", *session.posargs, env=env)


# -- edgeai-tflite profiles ---------------------------------------------------------------------------------

_CHECK_TFLITE_RUNTIME = """
import importlib.util, sys
import numpy
problems = []
if int(numpy.__version__.split(".")[0]) >= 2:
    problems.append("numpy " + numpy.__version__ + " is installed, but tflite-runtime needs numpy<2")
if importlib.util.find_spec("tflite_runtime") is None:
    problems.append("tflite-runtime is not installed (its last release, 2.14, has wheels for Python <= 3.11 only)")
found = [m for m in ("tensorflow", "keras", "torch") if importlib.util.find_spec(m) is not None]
if found:
    problems.append("the base install of edgeai-tflite must bring no framework, but these are importable: "
                    + ", ".join(found))
if problems:
    sys.exit("tflite_runtime session: " + "; ".join(problems))
import tflite_runtime
print("ok: numpy " + numpy.__version__ + ", tflite-runtime " + tflite_runtime.__version__ + ", no TensorFlow")
"""


@nox.session
def tflite_runtime(session: nox.Session) -> None:
    """edgeai-core + edgeai-tflite's base (what a target device installs) on numpy<2 with the legacy tflite-runtime
    interpreter: check no TensorFlow came along, then run the runtime tests once per interpreter package."""
    session.install(
        "./packages/edgeai-core",
        "./packages/edgeai-tflite[tflite-runtime]",
        "numpy<2",
        "flatbuffers",
        *TEST_DEPS,
    )
    session.run("python", "-c", _CHECK_TFLITE_RUNTIME)
    session.run("pytest", "tests/tflite/test_runtime.py", "tests/tflite/test_plugin.py", *session.posargs)


# onnx2tf hard-pins protobuf 4.25.5, which breaks TensorFlow 2.21: it is installed without its dependencies,
# with tf-keras matching TensorFlow's version and the three helpers it imports (see DEPENDENCIES.md).
ONNX2TF = ("onnx2tf==1.29.24", "tf-keras==2.21.0")
ONNX2TF_HELPERS = ("onnx-graphsurgeon", "sne4onnx", "sng4onnx")


@nox.session
def tflite_onnx2tf(session: nox.Session) -> None:
    """edgeai-tflite's ONNX -> TFLite path (onnx-to-tflite, compiler tflite on onnx) with onnx2tf installed."""
    session.install(
        "./packages/edgeai-core",
        "./packages/edgeai-datasets",
        "./packages/edgeai-tflite[compile,test]",
        "tensorflow-cpu==2.21.*",
        *TEST_DEPS,
    )
    session.install("--no-deps", *ONNX2TF)
    session.install(*ONNX2TF_HELPERS)
    session.run("pytest", "tests/tflite/test_onnx_export.py", *session.posargs)


# -- the emulated aarch64 target (edgeai-emulator) ----------------------------------------------------------

#: tool -> the Debian package that brings it: QEMU user mode + binfmt, debootstrap, the aarch64 C++ linker
ARM_APT_TOOLS = {
    "qemu-aarch64-static": "qemu-user-static",
    "update-binfmts": "binfmt-support",
    "debootstrap": "debootstrap",
    "aarch64-linux-gnu-g++": "g++-aarch64-linux-gnu",
}
#: runtimes the arm session's target serves
ARM_RUNTIMES = ("onnxruntime", "tvm", "tflite")
#: the host side of the arm tests: training (torch, keras), export (onnx), cross compilation (tvm), conversion
#: (tflite), the target tools
ARM_PACKAGES = (
    "edgeai-core",
    "edgeai-datasets",
    "edgeai-torch",
    "edgeai-onnx",
    "edgeai-tvm",
    "edgeai-tflite",
    "edgeai-emulator",
)


def _arm_folder() -> Path:
    """Where the arm session keeps its target between runs: EDGEAI_ARM_CACHE, else ~/.cache/edgeai."""
    base = os.environ.get("EDGEAI_ARM_CACHE") or str(Path.home() / ".cache" / "edgeai")
    return Path(base).expanduser() / "arm-aarch64"


@nox.session
def arm(session: nox.Session) -> None:
    """The emulated aarch64 target: install the apt tools if missing, create the target (or reuse the cached one
    whose state file says it is complete, refreshed with this checkout's code), start its onnxruntime, tvm and
    tflite servers, run tests/emulated/ against them, stop them. Needs root and binfmt_misc."""
    import json
    import shutil
    import time

    started = time.monotonic()
    if os.geteuid() != 0:
        session.skip("the emulated target needs root (debootstrap, mount, chroot)")
    missing = sorted({pkg for tool, pkg in ARM_APT_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        if shutil.which("apt-get") is None:
            session.error(
                f"apt-get is not available: install {' '.join(missing)} with the system's package manager"
            )
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", *missing, external=True, env=env)
    session.install(*(_package_spec(PACKAGES_DIR / name) for name in ARM_PACKAGES), *TEST_DEPS)
    folder = _arm_folder()
    state_file = folder / "edgeai-target.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else None
    runtimes = [arg for r in ARM_RUNTIMES for arg in ("--runtime", r)]
    session.run("edgeai", "target", "stop", str(folder))
    if state is None:
        session.run("edgeai", "target", "create", "aarch64", str(folder), *runtimes, "--source", str(ROOT))
    else:
        if state.get("stage") != "complete":
            session.log(f"{folder} is half-built: resuming it")
            begun = [arg for r in state.get("runtimes", []) for arg in ("--runtime", r)]
            session.run("edgeai", "target", "create", "aarch64", str(folder), *begun, "--resume",
                        "--source", str(ROOT))  # fmt: skip
        session.log(f"reusing the target in {folder} (remove the folder to build it afresh)")
        # this checkout's edgeai code, and any runtime the cached target lacks
        session.run("edgeai", "target", "refresh", str(folder), *runtimes, "--source", str(ROOT))
    ready = time.monotonic()
    try:
        for runtime in ARM_RUNTIMES:
            session.run("edgeai", "target", "start", str(folder), "--runtime", runtime)
        session.run("pytest", "tests/emulated", *session.posargs, env={"EDGEAI_ARM_TARGET": str(folder)})
    finally:
        session.run("edgeai", "target", "stop", str(folder))
        session.log(
            f"arm session: {time.monotonic() - started:.0f} s in all, target ready after "
            f"{ready - started:.0f} s"
        )
