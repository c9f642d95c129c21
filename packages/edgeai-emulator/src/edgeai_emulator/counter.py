"""Guest instruction counts on the emulated target: QEMU's TCG plugin ``insn`` under the dynamic qemu-aarch64.

The binfmt interpreter (``qemu-aarch64-static``) is built without plugin support; the dynamic ``qemu-aarch64``
of Debian's ``qemu-user`` has it, but Debian ships no plugin. So:

* :func:`build_plugin` fetches QEMU's sources of exactly the installed qemu-user through the package manager
  (``apt-get source qemu=VERSION``; needs a ``deb-src`` entry), compiles only ``tests/plugin/insn.c`` against
  the tree's ``include/qemu/qemu-plugin.h`` into ``libinsn.so`` (one gcc call) and caches it under
  ``~/.cache/edgeai/qemu-plugins/VERSION/`` (``EDGEAI_ARM_CACHE`` moves the cache).
* :func:`install_counter` copies ``qemu-aarch64``, the plugin and the x86-64 libraries they need into the
  target's ``/opt/edgeai/counter`` (the target is an arm64 root filesystem: the host's libraries are not in
  it), checks there that the plugin loads, and records it in the state file (``counter``).
* :func:`count_instructions` runs ``edgeai_emulator/guest_count.py`` inside the chroot under
  ``qemu-aarch64 -plugin libinsn.so``: per repeat two processes, with ``low`` and ``high`` inferences, whose
  main-thread instruction counts differ by the extra inferences' instructions (:mod:`edgeai_core.instructions`).
  Only the main thread (vCPU 0, which runs the inference loop with the runtime's ``threads=1``) is counted:
  a helper thread's counts depend on timing. Address-space randomization is off, Python's hash seed is fixed,
  the math libraries run one thread and ONNX Runtime's telemetry is off (:data:`COUNT_ENV`), so that two
  processes execute the same code apart from the loop: their counts then agree to about 1e-5 (the plugin
  folds vCPU 8 and above into its 8 slots, so a runtime with more threads than that would pollute vCPU 0).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from edgeai_core.api import (
    SIDECAR_SUFFIX,
    Artifact,
    ArtifactError,
    InstructionRun,
    InstructionsSection,
    Progress,
)
from edgeai_emulator.build import guest_env
from edgeai_emulator.cpuinfo import arm_cpuinfo
from edgeai_emulator.mounts import Mounts
from edgeai_emulator.prereq import START_TOOLS, check_root, check_tools
from edgeai_emulator.state import (
    GUEST_HOME,
    GUEST_VENV,
    TargetError,
    TargetState,
    load_state,
    rootfs_of,
    save_state,
)

#: where the counter lives inside the target
GUEST_COUNTER = f"{GUEST_HOME}/counter"
#: where a count's model, program and logs go inside the target
GUEST_COUNT_DIR = f"{GUEST_HOME}/run/count"
PLUGIN_NAME = "libinsn.so"
#: the plugin's source in QEMU's tree, and the header it is compiled against
PLUGIN_SOURCE = "tests/plugin/insn.c"
PLUGIN_HEADER_DIR = "include/qemu"
#: the Debian packages the counter needs on the host
COUNTER_APT = "apt-get install -y qemu-user gcc libglib2.0-dev pkg-config dpkg-dev"
#: what to add when apt has no source entries
DEB_SRC_HINT = (
    "add a deb-src entry for the Debian release (e.g. a file /etc/apt/sources.list.d/deb-src.sources with "
    "'Types: deb-src', 'URIs: http://deb.debian.org/debian', 'Suites: bookworm bookworm-updates', "
    "'Components: main'), then apt-get update"
)
METHOD = (
    "guest instructions of the process's main thread (QEMU TCG plugin tests/plugin/insn.c, per-vCPU count, "
    "vCPU 0) as the difference of two run lengths: (total_high - total_low) / (count_high - count_low)"
)
#: the inference counts of a repeat's two processes
DEFAULT_LOW = 10
DEFAULT_HIGH = 110
DEFAULT_REPEATS = 3
#: the guest's environment for a count: one thread in the math libraries, a fixed hash seed, and no ONNX
#: Runtime telemetry (1.32 starts a thread at import that writes a SQLite database under ~/.cache/Microsoft on
#: timers: with it the main thread's counts vary by up to 4% between runs on a loaded machine)
COUNT_ENV = {
    "PYTHONHASHSEED": "0",
    "ORT_DISABLE_TELEMETRY": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TVM_NUM_THREADS": "1",
}


class Runner(Protocol):
    """Runs a command and returns its completed process with text output (tests pass fakes)."""

    def __call__(
        self, command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]: ...


def _run(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, errors="replace", check=False, cwd=cwd, env=env
    )


def cache_root() -> Path:
    """``EDGEAI_ARM_CACHE`` (as the arm nox session), else ``~/.cache/edgeai``."""
    base = os.environ.get("EDGEAI_ARM_CACHE") or str(Path.home() / ".cache" / "edgeai")
    return Path(base).expanduser()


# -- facts about qemu-aarch64 and the plugin's output ---------------------------------------------------------


@dataclass(frozen=True)
class QemuUser:
    """The dynamic ``qemu-aarch64``: its path, QEMU's version and the Debian package's version."""

    path: Path
    version: str
    package_version: str | None

    @property
    def source_version(self) -> str | None:
        """The Debian source version the binary was built from (a binNMU suffix ``+bN`` removed)."""
        if self.package_version is None:
            return None
        return re.sub(r"\+b\d+$", "", self.package_version)


def parse_qemu_version(text: str) -> tuple[str, str | None]:
    """``(QEMU version, Debian package version or None)`` from ``qemu-aarch64 --version``."""
    match = re.search(r"version\s+(\d+(?:\.\d+)+)(?:\s*\(([^)]*)\))?", text)
    if match is None:
        raise TargetError(f"cannot read the QEMU version from {text.strip()[:120]!r}")
    extra = match.group(2) or ""
    debian = re.match(r"Debian\s+(\S+)", extra.strip())
    return match.group(1), None if debian is None else debian.group(1)


def find_qemu_user(run: Runner = _run, which: Callable[[str], str | None] = shutil.which) -> QemuUser:
    """The dynamic ``qemu-aarch64`` on PATH, with TCG plugin support; one-line errors otherwise."""
    found = which("qemu-aarch64")
    if found is None:
        raise TargetError(
            "qemu-aarch64 (the dynamic QEMU user mode, with TCG plugins) not found on PATH: "
            "apt-get install -y qemu-user (as root)"
        )
    help_text = run([found, "-h"]).stdout
    if "-plugin" not in help_text:
        raise TargetError(
            f"{found} has no -plugin option (built without TCG plugins, as qemu-user-static is): "
            "apt-get install -y qemu-user for the dynamic one"
        )
    done = run([found, "--version"])
    version, package = parse_qemu_version(done.stdout or done.stderr)
    return QemuUser(Path(found), version, package)


def parse_plugin_output(text: str) -> int:
    """The main thread's instructions from the ``insn`` plugin's report: ``cpu 0 insns: N`` (per-vCPU
    counting; vCPU 0 is the process's first thread, the one that runs the inference loop), else the single
    total of inline counting (``insns: N``, every thread together). Other threads (a runtime's idle or
    spinning workers) are left out on purpose: their counts depend on timing."""
    main = re.findall(r"^cpu 0 insns:\s*(\d+)\s*$", text, re.MULTILINE)
    if main:
        return int(main[-1])
    inline = re.findall(r"^(?:total )?insns:\s*(\d+)\s*$", text, re.MULTILINE)
    if inline:
        return int(inline[-1])
    tail = " | ".join(line for line in text.strip().splitlines()[-3:]) or "nothing"
    raise TargetError(f"the counting plugin printed no instruction count (got: {tail[:200]})")


def parse_ldd(text: str) -> list[Path]:
    """The shared libraries ``ldd`` lists (resolved paths; the vDSO has none), the dynamic loader included."""
    found: list[Path] = []
    for line in text.splitlines():
        line = line.strip()
        if "=>" in line:
            target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
            if target.startswith("/"):
                found.append(Path(target))
            elif target == "not found" or line.endswith("not found"):
                raise TargetError(f"ldd: {line.split('=>', 1)[0].strip()} not found on this machine")
        elif line.startswith("/"):
            found.append(Path(line.split(" (", 1)[0].strip()))
    return list(dict.fromkeys(found))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- building the plugin -------------------------------------------------------------------------------------


def plugin_cache_dir(qemu: QemuUser, root: Path | None = None) -> Path:
    key = re.sub(r"[^A-Za-z0-9.+~-]", "_", qemu.source_version or qemu.version)
    return (root or cache_root()) / "qemu-plugins" / key


def build_plugin(
    progress: Progress,
    *,
    cache: Path | None = None,
    run: Runner = _run,
    which: Callable[[str], str | None] = shutil.which,
) -> Path:
    """``libinsn.so`` for the installed qemu-user: from the cache, else built from QEMU's Debian sources."""
    qemu = find_qemu_user(run, which)
    out_dir = plugin_cache_dir(qemu, cache)
    plugin = out_dir / PLUGIN_NAME
    meta = out_dir / "plugin.json"
    if plugin.is_file() and meta.is_file():
        progress.done(f"counting plugin for QEMU {qemu.version}: {plugin} (cached)")
        return plugin
    if qemu.source_version is None:
        raise TargetError(
            f"{qemu.path} (QEMU {qemu.version}) is not Debian's qemu-user, so its sources cannot be fetched "
            f"with apt: build {PLUGIN_SOURCE} of QEMU {qemu.version} yourself and pass --counter-plugin PATH"
        )
    if which("apt-get") is None:
        raise TargetError(
            f"no apt-get: QEMU's sources come from Debian's package manager; build {PLUGIN_SOURCE} of QEMU "
            f"{qemu.version} yourself and pass --counter-plugin PATH"
        )
    tools = {"dpkg-source": "dpkg-dev", "gcc": "gcc", "pkg-config": "pkg-config"}
    missing = sorted({pkg for tool, pkg in tools.items() if which(tool) is None})
    if missing:
        raise TargetError(
            f"building the counting plugin needs {', '.join(missing)}: apt-get install -y {' '.join(missing)} "
            "(as root)"
        )
    if run(["pkg-config", "--exists", "glib-2.0"]).returncode != 0:
        raise TargetError(
            "building the counting plugin needs GLib's headers: apt-get install -y libglib2.0-dev"
        )
    spec = f"qemu={qemu.source_version}"
    with tempfile.TemporaryDirectory(prefix="edgeai-qemu-src-") as tmp:
        work = Path(tmp)
        progress.stage(f"fetching QEMU's sources ({spec}) with apt-get source (about 25 MB)")
        done = run(["apt-get", "source", "-qq", "--only-source", spec], cwd=work)
        if done.returncode != 0 or not list(work.glob("qemu-*/" + PLUGIN_SOURCE)):
            message = (done.stderr or done.stdout).strip()
            if "deb-src" in message or "sources.list" in message:
                raise TargetError(f"apt-get source qemu: apt has no source entries: {DEB_SRC_HINT}")
            if "Can not find version" in message or "Unable to find a source package" in message:
                raise TargetError(
                    f"apt-get source {spec}: apt knows no such source package; {DEB_SRC_HINT} "
                    f"(the deb-src suites must hold the installed qemu-user {qemu.package_version})"
                )
            last = message.splitlines()[-1] if message else f"exit {done.returncode}"
            raise TargetError(f"apt-get source {spec} failed: {last}")
        tree = next(work.glob("qemu-*/" + PLUGIN_SOURCE)).parents[2]
        out_dir.mkdir(parents=True, exist_ok=True)
        cflags = run(["pkg-config", "--cflags", "glib-2.0"]).stdout.split()
        libs = run(["pkg-config", "--libs", "glib-2.0"]).stdout.split()
        partial = out_dir / f"{PLUGIN_NAME}.tmp"
        command = ["gcc", "-shared", "-fPIC", "-O2", "-I", str(tree / PLUGIN_HEADER_DIR), *cflags,
                   str(tree / PLUGIN_SOURCE), "-o", str(partial), *libs]  # fmt: skip
        progress.stage(f"compiling {PLUGIN_SOURCE} of QEMU {qemu.version} into {plugin}")
        done = run(command)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise TargetError(f"gcc failed on {PLUGIN_SOURCE}: {lines[-1] if lines else done.returncode}")
        header = (tree / PLUGIN_HEADER_DIR / "qemu-plugin.h").read_text(encoding="utf-8", errors="replace")
        api = re.search(r"#define\s+QEMU_PLUGIN_VERSION\s+(\d+)", header)
        os.replace(partial, plugin)
    info = {
        "qemu": qemu.version,
        "qemu_package": qemu.package_version,
        "source": f"{spec} {PLUGIN_SOURCE}",
        "plugin_api": None if api is None else int(api.group(1)),
        "sha256": _sha256(plugin),
        "built_at": _now(),
    }
    meta.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    progress.done(f"counting plugin for QEMU {qemu.version}: {plugin}")
    return plugin


# -- installing it in a target -------------------------------------------------------------------------------


def _libraries(paths: Sequence[Path], run: Runner) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        done = run(["ldd", str(path)])
        if done.returncode != 0:
            raise TargetError(f"ldd {path} failed: {(done.stderr or done.stdout).strip()[:200]}")
        found += parse_ldd(done.stdout)
    return list(dict.fromkeys(found))


def _loader(libraries: Sequence[Path]) -> Path:
    for lib in libraries:
        if lib.name.startswith("ld-linux"):
            return lib
    raise TargetError("ldd names no dynamic loader (ld-linux*.so) for qemu-aarch64: is it a static build?")


def guest_command(
    state_counter: dict[str, str], program: Sequence[str], log: str, *, inline: bool = False
) -> list[str]:
    """The command inside the chroot that runs ``program`` under the counting qemu-aarch64."""
    loader = state_counter.get("loader", "ld-linux-x86-64.so.2")
    plugin = f"{GUEST_COUNTER}/{PLUGIN_NAME}" + (",inline=on" if inline else "")
    return [
        f"{GUEST_COUNTER}/lib/{loader}", "--library-path", f"{GUEST_COUNTER}/lib",
        f"{GUEST_COUNTER}/qemu-aarch64", "-plugin", plugin, "-d", "plugin", "-D", log, *program,
    ]  # fmt: skip


def install_counter(
    folder: Path,
    plugin: Path,
    progress: Progress,
    *,
    run: Runner = _run,
    which: Callable[[str], str | None] = shutil.which,
) -> TargetState:
    """Copy the counting qemu-aarch64, ``plugin`` and their libraries into the target, check that the plugin
    loads there, and record it in the state file."""
    folder = Path(folder).resolve()
    state = load_state(folder)
    if not state.complete:
        raise TargetError(state.describe_incomplete(folder))
    plugin = Path(plugin).resolve()
    if not plugin.is_file():
        raise TargetError(f"--counter-plugin {plugin}: no such file")
    qemu = find_qemu_user(run, which)
    libraries = _libraries([qemu.path, plugin], run)
    loader = _loader(libraries)
    rootfs = rootfs_of(folder)
    guest = rootfs / GUEST_COUNTER.lstrip("/")
    progress.stage(f"installing qemu-aarch64 {qemu.version} and {plugin.name} in {guest}")
    shutil.rmtree(guest, ignore_errors=True)
    (guest / "lib").mkdir(parents=True)
    shutil.copy2(qemu.path, guest / "qemu-aarch64")
    shutil.copy2(plugin, guest / PLUGIN_NAME)
    for lib in libraries:
        shutil.copy(lib.resolve(), guest / "lib" / lib.name)
    counter = {
        "plugin": str(plugin),
        "plugin_sha256": _sha256(plugin),
        "qemu": qemu.version,
        "qemu_package": qemu.package_version or "",
        "loader": loader.name,
        "installed_at": _now(),
    }
    log = f"{GUEST_COUNT_DIR}/check.log"
    (rootfs / GUEST_COUNT_DIR.lstrip("/")).mkdir(parents=True, exist_ok=True)
    host_log = rootfs / log.lstrip("/")
    host_log.unlink(missing_ok=True)
    done = run(["chroot", str(rootfs), *guest_command(counter, ["/bin/true"], log)])
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise TargetError(
            f"the counting plugin does not load in QEMU {qemu.version}: {message[-1] if message else 'no output'}"
            f" (build it from the sources of the installed qemu-user: edgeai target refresh {folder} "
            "--with-counter)"
        )
    parse_plugin_output(host_log.read_text(encoding="utf-8", errors="replace") if host_log.is_file() else "")
    state.counter = counter
    save_state(folder, state)
    progress.done(f"instruction counter ready in {folder} (QEMU {qemu.version}, {plugin.name})")
    return state


def setup_counter(
    folder: Path, progress: Progress, *, plugin: Path | None = None, cache: Path | None = None
) -> TargetState:
    """``--with-counter`` (build or reuse the cached plugin) or ``--counter-plugin PATH``, then install it."""
    check_root()
    chosen = plugin if plugin is not None else build_plugin(progress, cache=cache)
    return install_counter(folder, chosen, progress)


# -- counting ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountTarget:
    """What a count runs: the artifact, the runtime and its parameters, and the run folder it belongs to."""

    artifact: Path
    runtime: str
    params: dict[str, Any]
    results: Path | None = None


def resolve_model(model: Path, runtime: str | None, params: dict[str, Any]) -> CountTarget:
    """A model file with its sidecar, or a run folder (its results.json: the last step's artifact and the
    run's runtime)."""
    model = Path(model)
    results = model / "results.json" if model.is_dir() else None
    if results is not None and results.is_file():
        doc = json.loads(results.read_text(encoding="utf-8"))
        config = (doc.get("provenance") or {}).get("config") or {}
        table = dict(config.get("runtime") or {})
        chosen = runtime or table.pop("name", None)
        table.pop("name", None)
        artifacts = [
            step["artifact"]
            for step in doc.get("steps") or []
            if isinstance(step, dict)
            and isinstance(step.get("artifact"), dict)
            and step.get("kind") != "upload"
        ]
        if not artifacts or not chosen:
            raise TargetError(f"{results} names no model artifact and runtime to count (a failed run?)")
        return CountTarget(model / artifacts[-1]["path"], str(chosen), {**table, **params}, results)
    if model.is_dir():
        raise TargetError(f"{model} is a folder without results.json: pass a run folder or a model file")
    if not Path(str(model) + SIDECAR_SUFFIX).is_file():
        raise TargetError(
            f"{model} has no sidecar {model.name}{SIDECAR_SUFFIX}: pass a model file that edgeai wrote "
            "(a run's artifacts/...) or the run folder"
        )
    if runtime is None:
        raise TargetError(f"--runtime: which runtime runs {model.name}? (a run folder names its own)")
    return CountTarget(model, runtime, dict(params))


def _copy_artifact(artifact: Artifact, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    shutil.copy2(artifact.path, dest / artifact.path.name)
    shutil.copy2(artifact.sidecar, dest / artifact.sidecar.name)
    for name in artifact.files:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(artifact.path.parent / name, target)
    return dest / artifact.path.name


def count_instructions(
    folder: Path,
    what: CountTarget,
    progress: Progress,
    *,
    repeats: int = DEFAULT_REPEATS,
    low: int = DEFAULT_LOW,
    high: int = DEFAULT_HIGH,
    run: Runner | None = None,
) -> InstructionsSection:
    """Guest instructions per inference of ``what`` on the target: ``repeats`` pairs of processes."""
    folder = Path(folder).resolve()
    state = load_state(folder)
    if not state.complete:
        raise TargetError(state.describe_incomplete(folder))
    if not state.counter:
        raise TargetError(
            f"{folder} has no instruction counter: edgeai target refresh {folder} --with-counter "
            f"(needs {COUNTER_APT})"
        )
    if what.runtime not in state.runtimes:
        raise TargetError(
            f"runtime {what.runtime}: the target has {', '.join(state.runtimes)} "
            f"(add it with edgeai target refresh {folder} --runtime {what.runtime})"
        )
    if repeats < 1 or low < 0 or high <= low:
        raise TargetError(
            f"--repeats {repeats}, --low {low}, --high {high}: need repeats >= 1, 0 <= low < high"
        )
    try:
        artifact = Artifact.load(what.artifact)
    except (ArtifactError, OSError, ValueError) as exc:
        raise TargetError(f"cannot read the artifact {what.artifact}: {exc}") from None
    check_root()
    check_tools(START_TOOLS)
    rootfs = rootfs_of(folder)
    count_dir = rootfs / GUEST_COUNT_DIR.lstrip("/")
    model = _copy_artifact(artifact, count_dir / "model")
    guest_model = f"{GUEST_COUNT_DIR}/model/{model.name}"
    shutil.copy2(Path(__file__).with_name("guest_count.py"), count_dir / "guest_count.py")
    cpuinfo = folder / "cpuinfo"
    cpuinfo.write_text(arm_cpuinfo(), encoding="utf-8")
    mounts = Mounts(rootfs, state, lambda: save_state(folder, state))
    runner = run or _run
    setarch = shutil.which("setarch")
    params = json.dumps(what.params)
    runs: list[InstructionRun] = []
    try:
        mounts.ensure(cpuinfo)
        for repeat in range(repeats):
            totals: dict[int, int] = {}
            for count in (low, high) if repeat % 2 == 0 else (high, low):
                progress.stage(
                    f"repeat {repeat + 1}/{repeats}: {count} inferences of {model.name} ({what.runtime}) under "
                    "the counting qemu-aarch64"
                )
                log = f"{GUEST_COUNT_DIR}/insn-{repeat}-{count}.log"
                host_log = rootfs / log.lstrip("/")
                host_log.unlink(missing_ok=True)
                program = [f"{GUEST_VENV}/bin/python", f"{GUEST_COUNT_DIR}/guest_count.py", guest_model,
                           what.runtime, str(count), params]  # fmt: skip
                command = ["chroot", str(rootfs), *guest_command(state.counter, program, log)]
                if setarch is not None:  # no address-space randomization: the same allocations every run
                    command = [setarch, "-R", *command]
                done = runner(command, env=guest_env(extra=COUNT_ENV))
                if done.returncode != 0 or '"counted"' not in done.stdout:
                    lines = (done.stderr or done.stdout).strip().splitlines()
                    raise TargetError(
                        f"the counted run ({count} inferences) failed with exit {done.returncode}: "
                        f"{lines[-1] if lines else 'no output'}"
                    )
                totals[count] = parse_plugin_output(host_log.read_text(encoding="utf-8", errors="replace"))
            runs.append(InstructionRun(low, totals[low], high, totals[high]))
            progress.done(f"repeat {repeat + 1}: {runs[-1].per_inference:,.0f} instructions per inference")
    finally:
        from edgeai_emulator.server import pid_alive

        if not any(pid_alive(entry.pid) for entry in state.servers.values()):
            mounts.release()
    return InstructionsSection(
        runs=tuple(runs),
        method=METHOD,
        isa=state.arch,
        emulator=f"qemu-user {state.counter.get('qemu', '?')}",
        runtime=what.runtime,
        batch_size=1,
        artifact=artifact.path.name,
    )


def write_section(results: Path, section: InstructionsSection) -> None:
    """Put the ``instructions`` section into ``results`` (a results.json), atomically."""
    doc = json.loads(results.read_text(encoding="utf-8"))
    doc["instructions"] = section.to_json()
    tmp = results.with_name(results.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, results)


__all__ = [
    "COUNTER_APT",
    "DEFAULT_HIGH",
    "DEFAULT_LOW",
    "DEFAULT_REPEATS",
    "CountTarget",
    "QemuUser",
    "build_plugin",
    "count_instructions",
    "find_qemu_user",
    "install_counter",
    "parse_ldd",
    "parse_plugin_output",
    "parse_qemu_version",
    "resolve_model",
    "setup_counter",
    "write_section",
]
