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
    nox -s metadata        every package's metadata: LICENSE, classifiers, URLs, one release version (tools/release.py)
    nox -s dist            build every wheel and sdist into dist/, `twine check --strict`, LICENSE in each, and
                           resolve `./packages/edgeai[all]` against them (dry run)
    nox -s resolve         every package's dependencies (all extras) resolve on Python 3.10-3.13 without the
                           local wheel folder, and the test environment resolves torch to the local CPU wheel

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
# The packages declare a compatible range (`torch>=2.6,<3`), so the index's newer CUDA build would win over the
# folder's CPU wheel: environments built here are constrained to the folder's CPU wheel (`torch==X+cpu`, through
# UV_CONSTRAINT) when it has one for this Python. Elsewhere torch comes from the index (docs/packaging.md).
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


def _local_cpu_torch() -> str | None:
    """The version (`2.13.0+cpu`) of a CPU torch wheel for this Python in the find-links folders, or None."""
    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}"
    for folder in filter(None, os.environ.get("UV_FIND_LINKS", "").split(",")):
        path = Path(folder.removeprefix("file://"))
        wheels = sorted(path.glob(f"torch-*+cpu-{tag}-*.whl")) if path.is_dir() else []
        if wheels:
            return wheels[-1].name.split("-")[1]
    return None


CPU_TORCH = _local_cpu_torch()
if CPU_TORCH and not os.environ.get("UV_CONSTRAINT"):
    _constraints = Path(__file__).resolve().parent / ".nox" / "cpu-torch-constraints.txt"
    _constraints.parent.mkdir(exist_ok=True)
    _constraints.write_text(f"torch=={CPU_TORCH}\n")
    os.environ["UV_CONSTRAINT"] = str(_constraints)

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
    # torchmetrics: an independent cross-check of the mIoU (tests/datasets/test_vision_metrics.py)
    session.install(*_package_specs(), *TEST_DEPS, "torchmetrics")
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
    """Install every package and run `edgeai demo` (arguments after `--` go to it, e.g. `-- --only torch-eager`).
    The install names `./packages/edgeai[all]`, the meta-distribution users install, beside every package folder
    (which is how pip finds the siblings until they are on an index)."""
    dirs = sorted(p.parent for p in PACKAGES_DIR.glob("*/pyproject.toml"))
    session.install(*(_package_spec(d, extras=DEMO_EXTRAS) for d in dirs), "./packages/edgeai[all]")
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
# with tf-keras matching TensorFlow's version and the three helpers it imports (see docs/packaging.md).
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
    # the instruction counter (edgeai_emulator.counter): the dynamic qemu-aarch64 runs QEMU's insn plugin
    "qemu-aarch64": "qemu-user",
}
#: what building the counting plugin needs once (then it is cached under ~/.cache/edgeai/qemu-plugins/):
#: tool -> package, plus GLib's headers and a deb-src entry for `apt-get source qemu`
ARM_COUNTER_BUILD_TOOLS = {"gcc": "gcc", "pkg-config": "pkg-config", "dpkg-source": "dpkg-dev"}
ARM_COUNTER_HEADERS = "/usr/include/glib-2.0/glib.h"
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


def _arm_counter_prerequisites(session: nox.Session) -> None:
    """What `--with-counter` needs to build QEMU's insn plugin, unless a built one is cached: gcc, pkg-config,
    dpkg-dev, GLib's headers (apt-get install) and a deb-src entry for the Debian release (added, then
    apt-get update). A cached plugin needs none of it (the counter checks that it matches qemu-user)."""
    import glob
    import shutil
    import subprocess

    cache = os.environ.get("EDGEAI_ARM_CACHE") or str(Path.home() / ".cache" / "edgeai")
    if glob.glob(str(Path(cache).expanduser() / "qemu-plugins" / "*" / "libinsn.so")):
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    missing = sorted({pkg for tool, pkg in ARM_COUNTER_BUILD_TOOLS.items() if shutil.which(tool) is None})
    if not Path(ARM_COUNTER_HEADERS).is_file():
        missing.append("libglib2.0-dev")
    if missing:
        session.run("apt-get", "update", "-qq", external=True, env=env)
        session.run("apt-get", "install", "-y", "-qq", *missing, external=True, env=env)
    shown = subprocess.run(["apt-cache", "showsrc", "qemu"], capture_output=True, text=True, check=False)
    if shown.returncode == 0 and shown.stdout.strip():
        return
    release = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    )
    codename = release.get("VERSION_CODENAME", "").strip('"')
    if release.get("ID", "").strip('"') != "debian" or not codename:
        session.log("no deb-src entry and not Debian: the instruction counter cannot fetch QEMU's sources")
        return
    entry = Path("/etc/apt/sources.list.d/edgeai-deb-src.sources")
    session.log(f"adding {entry} (deb-src {codename}) for apt-get source qemu")
    entry.write_text(
        "Types: deb-src\nURIs: http://deb.debian.org/debian\n"
        f"Suites: {codename} {codename}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    session.run("apt-get", "update", "-qq", external=True, env=env)


@nox.session
def arm(session: nox.Session) -> None:
    """The emulated aarch64 target: install the apt tools if missing, create the target (or reuse the cached one
    whose state file says it is complete, refreshed with this checkout's code) with its instruction counter,
    start its onnxruntime, tvm and tflite servers, run tests/emulated/ against them, stop them. Needs root and
    binfmt_misc."""
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
    _arm_counter_prerequisites(session)
    session.install(*(_package_spec(PACKAGES_DIR / name) for name in ARM_PACKAGES), *TEST_DEPS)
    folder = _arm_folder()
    state_file = folder / "edgeai-target.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else None
    runtimes = [arg for r in ARM_RUNTIMES for arg in ("--runtime", r)]
    session.run("edgeai", "target", "stop", str(folder))
    if state is None:
        session.run("edgeai", "target", "create", "aarch64", str(folder), *runtimes, "--source", str(ROOT),
                    "--with-counter")  # fmt: skip
    else:
        if state.get("stage") != "complete":
            session.log(f"{folder} is half-built: resuming it")
            begun = [arg for r in state.get("runtimes", []) for arg in ("--runtime", r)]
            session.run("edgeai", "target", "create", "aarch64", str(folder), *begun, "--resume",
                        "--source", str(ROOT))  # fmt: skip
        session.log(f"reusing the target in {folder} (remove the folder to build it afresh)")
        # this checkout's edgeai code, and any runtime the cached target lacks
        session.run("edgeai", "target", "refresh", str(folder), *runtimes, "--source", str(ROOT),
                    "--with-counter")  # fmt: skip
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


# -- packaging: metadata, artifacts, dependency resolution ---------------------------------------------------


def _release_tool():  # type: ignore[no-untyped-def]
    """tools/release.py, imported in-process (standard library only)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import release
    finally:
        sys.path.remove(str(ROOT / "tools"))
    return release


def _uv() -> list[str]:
    import shutil

    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def _uv_run(
    session: nox.Session, args: list[str], *, local_wheels: bool, find_links: Path | None = None
) -> str:
    """Run uv with this machine's find-links folder and CPU torch constraint, or (local_wheels=False) as on a
    fresh machine without them, plus the folder ``find_links``; return stdout and stderr, or fail the session
    with uv's explanation."""
    import subprocess

    env = dict(os.environ)
    if not local_wheels:
        for name in (
            "UV_FIND_LINKS",
            "UV_CONSTRAINT",
            "PIP_FIND_LINKS",
            "UV_INDEX_URL",
            "UV_EXTRA_INDEX_URL",
        ):
            env.pop(name, None)
    if find_links is not None:  # a --find-links option would replace UV_FIND_LINKS, not add to it
        env["UV_FIND_LINKS"] = ",".join(filter(None, [str(find_links), env.get("UV_FIND_LINKS", "")]))
    command = [*_uv(), *args]
    session.log(" ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=600)
    if done.returncode != 0:
        session.error(f"uv failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return done.stdout + done.stderr


def _build_all(session: nox.Session, out: Path) -> list[Path]:
    """Build the wheel and sdist of every packages/*/ into ``out`` (emptied of earlier edgeai artifacts)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("edgeai*.whl"), *out.glob("edgeai*.tar.gz")]:
        old.unlink()
    for package in _release_tool().packages(ROOT):
        _uv_run(session, ["build", "-q", "--out-dir", str(out), str(package.folder)], local_wheels=True)
    return sorted([*out.glob("edgeai*.whl"), *out.glob("edgeai*.tar.gz")])


def _all_extras_specs() -> list[str]:
    """`name[every extra]` for every package: what a resolve of everything declared asks for."""
    specs = []
    for package in _release_tool().packages(ROOT):
        extras = sorted(package.project.get("optional-dependencies", {}))
        specs.append(f"{package.name}[{','.join(extras)}]" if extras else package.name)
    return specs


def _pinned(lock: str) -> dict[str, str]:
    """{name: version} from `uv pip compile` output."""
    found = {}
    for line in lock.splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith((" ", "#")):
            found[_normalize(name.strip())] = version.strip()
    return found


@nox.session(python=False)
def metadata(session: nox.Session) -> None:
    """Every package's metadata (tools/release.py check): LICENSE, classifiers, URLs, keywords, one release
    version, siblings required as ~=version, no exact pins, READMEs without relative links."""
    release = _release_tool()
    problems = release.check(ROOT)
    if problems:
        session.error("metadata problems:\n" + "\n".join(problems))
    session.log(f"ok: {len(release.packages(ROOT))} packages at version {release.release_version(ROOT)}")


@nox.session
def dist(session: nox.Session) -> None:
    """Build every wheel and sdist into dist/, check them with `twine check --strict` and for the LICENSE, and
    resolve `./packages/edgeai[all]` against them (a dry run: the siblings come from dist/, torch is the CPU build
    where the find-links folder has one)."""
    import tarfile
    import zipfile

    metadata(session)
    out = ROOT / "dist"
    artifacts = _build_all(session, out)
    names = {p.name.replace("-", "_") for p in _release_tool().packages(ROOT)}
    built = {a.name.split("-")[0] for a in artifacts}
    if built != names or len(artifacts) != 2 * len(names):
        session.error(
            f"expected a wheel and an sdist of each of {sorted(names)}, built {[a.name for a in artifacts]}"
        )
    missing = []
    for artifact in artifacts:
        if artifact.suffix == ".whl":
            with zipfile.ZipFile(artifact) as z:
                ok = any(n.endswith(".dist-info/licenses/LICENSE") for n in z.namelist())
        else:
            with tarfile.open(artifact) as t:
                ok = any(n.count("/") == 1 and n.endswith("/LICENSE") for n in t.getnames())
        if not ok:
            missing.append(artifact.name)
    if missing:
        session.error("no LICENSE in " + ", ".join(missing))
    session.install("twine>=6")
    session.run("twine", "check", "--strict", *(str(a) for a in artifacts))
    # the meta-distribution from the checkout, its siblings found in dist/ (they are not on an index yet)
    plan = _uv_run(
        session,
        ["pip", "install", "--dry-run", "--python", session.virtualenv.location, "./packages/edgeai[all]"],
        local_wheels=True,
        find_links=out,
    )
    chosen = dict(
        line.strip()[2:].split("==", 1)
        for line in plan.splitlines()
        if line.strip().startswith("+ ") and "==" in line
    )
    version = _release_tool().release_version(ROOT)
    wrong = sorted(n for n in chosen if n.startswith("edgeai") and chosen[n] != version)
    siblings = sorted(n for n in chosen if n.startswith("edgeai-"))  # edgeai itself: `edgeai @ file://...`
    nvidia = sorted(n for n in chosen if n.startswith(("nvidia-", "cuda-", "triton")))
    if (
        wrong
        or len(siblings) != len(names) - 1
        or (CPU_TORCH and (chosen.get("torch") != CPU_TORCH or nvidia))
    ):
        session.error(f"./packages/edgeai[all] resolves to an unexpected set:\n{plan}")
    session.log(
        f"./packages/edgeai[all] resolves {len(chosen)} packages: {', '.join(siblings)} at {version} (siblings "
        f"from dist/), torch {chosen.get('torch')}, {len(nvidia)} nvidia-* packages"
    )
    session.log(
        f"ok: {len(artifacts)} artifacts in dist/, each with its LICENSE; twine check --strict passed"
    )


@nox.session(python=False)
def resolve(session: nox.Session) -> None:
    """Resolve (never install) every package with all its extras, together, for each Python 3.10-3.13
    (`uv pip compile --python-version`: no interpreter of that version is needed) as a fresh Linux machine
    would: from the index, without this machine's find-links folder or constraints; the siblings come from
    freshly built wheels. A set that resolves together also resolves package by package. Then the `tests`
    session's install set with the local folder: torch must be its CPU wheel, with no nvidia-* package."""
    from packaging.requirements import Requirement

    release = _release_tool()
    wheels = Path(session.create_tmp()).resolve() / "resolve-wheels"
    _build_all(session, wheels)
    specs = _all_extras_specs()
    torch_range = next(
        Requirement(r).specifier
        for p in release.packages(ROOT)
        if p.name == "edgeai-torch"
        for r in p.project["dependencies"]
        if Requirement(r).name == "torch"
    )
    request = wheels / "all.in"
    request.write_text("\n".join(specs) + "\n")
    platform = ["--python-platform", "x86_64-manylinux_2_28"]
    for python in release.PYTHONS:
        lock = _uv_run(
            session,
            ["pip", "compile", "--no-config", "--no-header", "--no-annotate", "-q",
             "--python-version", python, *platform, str(request)],
            local_wheels=False,
            find_links=wheels,
        )  # fmt: skip
        pins = _pinned(lock)
        problems = []
        if "torch" not in pins or pins["torch"].split("+")[0] not in torch_range:
            problems.append(f"torch {pins.get('torch')} is outside edgeai-torch's range {torch_range}")
        if python >= "3.12" and ("tflite-runtime" in pins or int(pins["numpy"].split(".")[0]) < 2):
            problems.append(
                f"[tflite-runtime] must install and force nothing on Python {python}: got tflite-runtime "
                f"{pins.get('tflite-runtime')}, numpy {pins['numpy']}"
            )
        if problems:
            session.error(f"Python {python}: " + "; ".join(problems))
        session.log(
            f"Python {python}: {len(pins)} packages resolve; torch {pins['torch']}, numpy {pins['numpy']}, "
            f"tensorflow-cpu {pins.get('tensorflow-cpu')}, onnxruntime {pins.get('onnxruntime')}, "
            f"apache-tvm {pins.get('apache-tvm')}, tflite-runtime {pins.get('tflite-runtime', '-')}"
        )
    if not CPU_TORCH:
        session.log(
            "no CPU torch wheel for this Python in the find-links folder: the local profile is not checked"
        )
        return
    tests_set = wheels / "tests.in"
    tests_set.write_text("\n".join([*_package_specs(), *TEST_DEPS]) + "\n")
    with session.chdir(ROOT):
        lock = _uv_run(
            session,
            ["pip", "compile", "--no-header", "--no-annotate", "-q", "--python-version",
             f"{sys.version_info[0]}.{sys.version_info[1]}", *platform, str(tests_set)],
            local_wheels=True,
        )  # fmt: skip
    pins = _pinned(lock)
    nvidia = sorted(n for n in pins if n.startswith(("nvidia-", "cuda-", "triton")))
    if pins.get("torch") != CPU_TORCH or nvidia:
        session.error(
            f"`nox -s tests` would install torch {pins.get('torch')} and {nvidia or 'no'} CUDA packages"
        )
    session.log(
        f"`nox -s tests` resolves torch {pins['torch']} from the find-links folder, no nvidia-* package"
    )
