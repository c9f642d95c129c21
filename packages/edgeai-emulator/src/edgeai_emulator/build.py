"""``edgeai target create``: a Debian arm64 root filesystem with a venv holding edgeai and the chosen runtimes.

Stages (each recorded in the state file when done, so a failed build is named and ``--resume`` continues it):

1. ``rootfs``: ``debootstrap --arch=arm64 --variant=minbase`` of Debian bookworm with python3, venv and pip, from
   the Debian mirror apt uses on this machine (read from ``/etc/apt/sources.list*``; ``--mirror`` overrides;
   default :data:`DEFAULT_MIRROR`), run through QEMU user mode and binfmt_misc.
2. ``venv``: ``python3 -m venv /opt/edgeai/venv`` inside the chroot.
3. ``packages``: wheels of edgeai-core and the runtimes' plugins built from this checkout on the host
   (``uv build``, else ``pip wheel``), installed inside the chroot by pip with the pinned aarch64 runtime
   packages of :data:`RUNTIMES` (the plugins' compile extras are never installed).

Network access during the build: the guest's pip uses the host's DNS settings, CA bundle and proxy variables.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from edgeai_core.api import Progress
from edgeai_emulator.cpuinfo import arm_cpuinfo
from edgeai_emulator.mounts import Mounts
from edgeai_emulator.prereq import CREATE_TOOLS, check_binfmt, check_root, check_tools
from edgeai_emulator.state import (
    GUEST_HOME,
    GUEST_VENV,
    STAGES,
    TargetError,
    TargetState,
    load_state,
    rootfs_of,
    save_state,
    state_path,
)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
ARCHES = {"aarch64": "arm64"}
#: runtime -> (plugin package in this checkout, pinned target-side requirements known to work under QEMU)
RUNTIMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "onnxruntime": ("edgeai-onnx", ("onnxruntime~=1.32.0",)),
    "tflite": ("edgeai-tflite", ("ai-edge-litert~=2.3.0",)),
    "tvm": ("edgeai-tvm", ("apache-tvm==0.27.0.post1", "apache-tvm-ffi==0.1.14.post1")),
}
#: pinned for every target
BASE_REQUIREMENTS = ("numpy>=1.24,<3",)
DEBOOTSTRAP_INCLUDE = "python3,python3-venv,python3-pip,ca-certificates"
_PROXY_VARS = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def apt_mirror(sources: Iterable[Path] | None = None) -> str | None:
    """The first Debian (non-security) archive URI in apt's sources, one-line or deb822 format."""
    if sources is None:
        base = Path("/etc/apt")
        sources = [base / "sources.list", *sorted((base / "sources.list.d").glob("*"))]
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                    continue
                suites = fields.get("suites", "").split()
                for uri in fields.get("uris", "").split():
                    if _is_archive(uri, suites):
                        return uri
        elif path.suffix == ".list" or path.name == "sources.list":
            for line in text.splitlines():
                parts = re.sub(r"\[[^\]]*\]", " ", line.split("#", 1)[0]).split()
                if len(parts) >= 3 and parts[0] == "deb" and _is_archive(parts[1], parts[2:3]):
                    return parts[1]
    return None


def _is_archive(uri: str, suites: Sequence[str]) -> bool:
    if not uri.startswith(("http://", "https://")) or "security" in uri:
        return False
    return "debian" in uri and any(not s.endswith("-security") for s in suites)


def find_checkout(start: Path | None = None) -> Path | None:
    """The repository holding ``packages/edgeai-core`` that the running edgeai-core was installed from."""
    import edgeai_core

    here = Path(start) if start is not None else Path(edgeai_core.__file__).resolve()
    for parent in [here, *here.parents]:
        if (parent / "packages" / "edgeai-core" / "pyproject.toml").is_file():
            return parent
    return None


def _stream(
    command: Sequence[str],
    log_file: Path,
    on_line: Callable[[str], None],
    env: dict[str, str] | None = None,
) -> int:
    """Run ``command``, append its output to ``log_file`` and hand each line to ``on_line``."""
    with log_file.open("a", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        proc = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            on_line(line.rstrip("\n"))
        return proc.wait()


def _last_lines(log_file: Path, count: int = 1) -> str:
    try:
        lines = [
            ln for ln in log_file.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
        ]
    except OSError:
        return "no output"
    return " | ".join(lines[-count:]) or "no output"


class PhaseReporter:
    """Turns a long tool's output into a few progress lines: one the first time each phase shows."""

    def __init__(self, progress: Progress, prefix: str, phase: Callable[[str], str | None]) -> None:
        self.progress = progress
        self.prefix = prefix
        self.phase = phase
        self.seen: set[str] = set()

    def __call__(self, line: str) -> None:
        phase = self.phase(line)
        if phase and phase not in self.seen:
            self.seen.add(phase)
            self.progress.stage(f"{self.prefix}: {phase}")


def debootstrap_phase(line: str) -> str | None:
    match = re.match(r"I: (Retrieving|Validating|Checking|Extracting|Installing|Unpacking|Configuring|"
                     r"Base system installed)", line)  # fmt: skip
    return None if match is None else match.group(1).lower()


def pip_phase(line: str) -> str | None:
    line = line.strip()
    if line.startswith("Collecting "):
        return "resolving packages"
    if line.startswith(("Downloading ", "Using cached ")):
        return "downloading aarch64 wheels"
    if line.startswith("Installing collected packages"):
        return "installing"
    if line.startswith("Successfully installed"):
        return "installed"
    return None


class Builder:
    """One ``edgeai target create`` run."""

    def __init__(
        self,
        folder: Path,
        progress: Progress,
        *,
        source: Path | None = None,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.rootfs = rootfs_of(self.folder)
        self.progress = progress
        self.source = source
        self.logs = self.folder / "logs"

    # -- the state ------------------------------------------------------------------------------------------
    def begin(self, arch: str, runtimes: Sequence[str], mirror: str | None, resume: bool) -> TargetState:
        if arch not in ARCHES:
            raise TargetError(f"architecture {arch!r} is not supported; choose one of: {', '.join(ARCHES)}")
        unknown = [r for r in runtimes if r not in RUNTIMES]
        if unknown:
            raise TargetError(
                f"--runtime {unknown[0]}: not a target runtime; choose from {', '.join(RUNTIMES)}"
            )
        if state_path(self.folder).is_file():
            state = load_state(self.folder)
            if state.complete:
                raise TargetError(
                    f"{self.folder} is already a complete target; start it with `edgeai target start "
                    f"{self.folder}` or remove the folder to build it again"
                )
            if not resume:
                raise TargetError(state.describe_incomplete(self.folder))
            if sorted(state.runtimes) != sorted(runtimes or state.runtimes):
                raise TargetError(
                    f"--resume: {self.folder} was begun with --runtime {' '.join(state.runtimes)}; "
                    "resume with the same runtimes or remove the folder"
                )
            state.failed = None
            return state
        if self.folder.exists() and any(self.folder.iterdir()):
            raise TargetError(f"{self.folder} exists and is not empty; pick a new folder for the target")
        self.folder.mkdir(parents=True, exist_ok=True)
        state = TargetState(
            arch=arch,
            suite=SUITE,
            mirror=mirror or apt_mirror() or DEFAULT_MIRROR,
            runtimes=list(dict.fromkeys(runtimes or ["onnxruntime"])),
            created_at=now(),
        )
        save_state(self.folder, state)
        return state

    def save(self, state: TargetState) -> None:
        save_state(self.folder, state)

    # -- the stages -----------------------------------------------------------------------------------------
    def run(self, state: TargetState) -> TargetState:
        self.logs.mkdir(parents=True, exist_ok=True)
        cpuinfo = self.folder / "cpuinfo"
        cpuinfo.write_text(arm_cpuinfo(), encoding="utf-8")
        stage = ""
        try:
            for stage in STAGES[: STAGES.index("complete")]:
                if STAGES.index(stage) < _done_index(state):
                    continue
                getattr(self, f"stage_{stage}")(state, cpuinfo)
                state.stage = stage
                self.save(state)
            state.stage = "complete"
            self.save(state)
            return state
        except BaseException as exc:
            message = str(exc) if isinstance(exc, TargetError) else f"{type(exc).__name__}: {exc}"
            state.failed = {"stage": stage, "error": message}
            self.save(state)
            raise
        finally:
            Mounts(self.rootfs, state, lambda: self.save(state)).release()

    def stage_rootfs(self, state: TargetState, cpuinfo: Path) -> None:
        log = self.logs / "debootstrap.log"
        if self.rootfs.exists():  # a failed debootstrap leaves a partial tree: start it afresh
            Mounts(self.rootfs, state, lambda: self.save(state)).release()
            shutil.rmtree(self.rootfs)
        self.progress.stage(
            f"debootstrap {state.suite} {ARCHES[state.arch]} (minbase, python3) from {state.mirror}: "
            f"about 3 minutes under emulation (log: {log})"
        )
        code = _stream(
            ["debootstrap", f"--arch={ARCHES[state.arch]}", "--variant=minbase",
             f"--include={DEBOOTSTRAP_INCLUDE}", state.suite, str(self.rootfs), state.mirror],
            log,
            PhaseReporter(self.progress, "debootstrap", debootstrap_phase),
        )  # fmt: skip
        if code != 0:
            raise TargetError(f"debootstrap failed (exit {code}): {_last_lines(log)} (log: {log})")
        self.progress.done(f"root filesystem in {self.rootfs}")

    def stage_venv(self, state: TargetState, cpuinfo: Path) -> None:
        log = self.logs / "venv.log"
        self.progress.stage(f"creating {GUEST_VENV} inside the target")
        mounts = Mounts(self.rootfs, state, lambda: self.save(state))
        mounts.ensure(cpuinfo)
        code = _stream(
            ["chroot", str(self.rootfs), "/usr/bin/python3", "-m", "venv", GUEST_VENV], log, lambda _: None,
            env=guest_env(),
        )  # fmt: skip
        if code != 0:
            raise TargetError(f"python3 -m venv failed inside the target: {_last_lines(log)} (log: {log})")

    def stage_packages(self, state: TargetState, cpuinfo: Path) -> None:
        log = self.logs / "pip.log"
        names = self._copy_wheels(self.build_wheels(state.runtimes, log))
        self._network_files()
        requirements = list(BASE_REQUIREMENTS)
        for runtime in state.runtimes:
            requirements += RUNTIMES[runtime][1]
        mounts = Mounts(self.rootfs, state, lambda: self.save(state))
        mounts.ensure(cpuinfo)
        self.progress.stage(
            f"pip install inside the target: edgeai-core, {', '.join(RUNTIMES[r][0] for r in state.runtimes)}, "
            f"{', '.join(requirements)} (about 1-2 minutes; log: {log})"
        )
        code = _stream(
            ["chroot", str(self.rootfs), f"{GUEST_VENV}/bin/python", "-m", "pip", "install",
             "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
             "--find-links", f"{GUEST_HOME}/wheels", *names, *requirements],
            log,
            PhaseReporter(self.progress, "pip", pip_phase),
            env=guest_env(network=True),
        )  # fmt: skip
        if code != 0:
            raise TargetError(f"pip install failed inside the target: {_last_lines(log)} (log: {log})")
        state.versions = guest_versions(self.rootfs, [RUNTIMES[r][0] for r in state.runtimes], state.runtimes)
        self.progress.done(", ".join(f"{k} {v}" for k, v in state.versions.items()))

    def refresh(self, state: TargetState, add: Sequence[str] = ()) -> TargetState:
        """Reinstall edgeai-core and the plugins from the checkout (no dependencies): the target then runs
        the checkout's current code. The runtime packages stay as they are; runtimes in ``add`` that the
        target lacks are installed (their plugin and pinned packages, from the package index)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / "refresh.log"
        cpuinfo = self.folder / "cpuinfo"
        cpuinfo.write_text(arm_cpuinfo(), encoding="utf-8")
        unknown = [r for r in add if r not in RUNTIMES]
        if unknown:
            raise TargetError(
                f"--runtime {unknown[0]}: not a target runtime; choose from {', '.join(RUNTIMES)}"
            )
        new = [r for r in dict.fromkeys(add) if r not in state.runtimes]
        names = self._copy_wheels(self.build_wheels([*state.runtimes, *new], log))
        if new:
            self._network_files()
        mounts = Mounts(self.rootfs, state, lambda: self.save(state))
        try:
            mounts.ensure(cpuinfo)
            self.progress.stage(f"reinstalling {', '.join(Path(n).name for n in names)} inside the target")
            code = _stream(
                ["chroot", str(self.rootfs), f"{GUEST_VENV}/bin/python", "-m", "pip", "install", "--no-input",
                 "--disable-pip-version-check", "--no-deps", "--force-reinstall", "--no-index", *names],
                log,
                lambda _: None,
                env=guest_env(),
            )  # fmt: skip
            if code != 0:
                raise TargetError(f"pip install failed inside the target: {_last_lines(log)} (log: {log})")
            if new:
                requirements = [req for r in new for req in RUNTIMES[r][1]]
                self.progress.stage(f"pip install inside the target: {', '.join(requirements)} (log: {log})")
                code = _stream(
                    ["chroot", str(self.rootfs), f"{GUEST_VENV}/bin/python", "-m", "pip", "install",
                     "--no-input", "--disable-pip-version-check", "--progress-bar", "off", *requirements],
                    log,
                    PhaseReporter(self.progress, "pip", pip_phase),
                    env=guest_env(network=True),
                )  # fmt: skip
                if code != 0:
                    raise TargetError(
                        f"pip install failed inside the target: {_last_lines(log)} (log: {log})"
                    )
                state.runtimes = [*state.runtimes, *new]
            state.versions = guest_versions(
                self.rootfs, [RUNTIMES[r][0] for r in state.runtimes], state.runtimes
            )
            self.save(state)
        finally:
            mounts.release()
        return state

    # -- helpers --------------------------------------------------------------------------------------------
    def _copy_wheels(self, wheels: Sequence[Path]) -> list[str]:
        """Copy ``wheels`` into the target; their paths there."""
        guest_wheels = self.rootfs / GUEST_HOME.lstrip("/") / "wheels"
        shutil.rmtree(guest_wheels, ignore_errors=True)
        guest_wheels.mkdir(parents=True)
        names = []
        for wheel in wheels:
            shutil.copy2(wheel, guest_wheels / wheel.name)
            names.append(f"{GUEST_HOME}/wheels/{wheel.name}")
        return names

    def build_wheels(self, runtimes: Sequence[str], log: Path) -> list[Path]:
        """Wheels of edgeai-core and the runtimes' plugins from the checkout, built on the host."""
        checkout = self.source or find_checkout()
        if checkout is None:
            raise TargetError(
                "edgeai-core is not installed from a checkout; pass --source CHECKOUT (the edgeai repository)"
            )
        out = self.folder / "wheels"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        packages = ["edgeai-core", *(RUNTIMES[r][0] for r in runtimes)]
        self.progress.stage(f"building wheels of {', '.join(packages)} from {checkout}")
        uv = shutil.which("uv")
        for package in packages:
            project = checkout / "packages" / package
            if not (project / "pyproject.toml").is_file():
                raise TargetError(f"{project} has no pyproject.toml; pass --source CHECKOUT")
            if uv is not None:
                command = [uv, "build", "--wheel", "--out-dir", str(out), str(project)]
            else:
                command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(project)]
            code = _stream(command, log, lambda _: None)
            if code != 0:
                raise TargetError(f"building the {package} wheel failed: {_last_lines(log)} (log: {log})")
        return sorted(out.glob("*.whl"))

    def _network_files(self) -> None:
        """DNS and the CA bundle of the host, so that the guest's pip reaches the package index."""
        for name in ("etc/resolv.conf",):
            source = Path("/") / name
            if source.is_file():
                target = self.rootfs / name
                if target.is_symlink() or target.exists():
                    target.unlink()
                shutil.copy2(source.resolve(), target)
        bundle = host_ca_bundle()
        if bundle is not None:
            target = self.rootfs / GUEST_HOME.lstrip("/") / "host-ca.crt"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bundle, target)


def host_ca_bundle() -> Path | None:
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"),
                      "/etc/ssl/certs/ca-certificates.crt"):  # fmt: skip
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def guest_env(*, network: bool = False, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for commands inside the chroot (the host's venv and paths mean nothing there)."""
    env = {
        "PATH": f"{GUEST_VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if network:
        env["PIP_CERT"] = f"{GUEST_HOME}/host-ca.crt"
        env["PIP_DEFAULT_TIMEOUT"] = "180"
        for var in (*_PROXY_VARS, "PIP_INDEX_URL"):
            if os.environ.get(var):
                env[var] = os.environ[var]
    env.update(extra or {})
    return env


def guest_versions(rootfs: Path, plugins: Sequence[str], runtimes: Sequence[str]) -> dict[str, str]:
    """Versions of python, edgeai-core, the plugins and the runtime packages inside the target."""
    packages = ["edgeai-core", *plugins, "numpy"]
    for runtime in runtimes:
        packages += [re.split(r"[~=<>]", req)[0] for req in RUNTIMES[runtime][1]]
    script = (
        "import importlib.metadata as m, json, platform, sys\n"
        "v = {'python': platform.python_version(), 'machine': platform.machine()}\n"
        f"for p in {packages!r}:\n"
        "    try: v[p] = m.version(p)\n"
        "    except m.PackageNotFoundError: v[p] = 'missing'\n"
        "print(json.dumps(v))\n"
    )
    done = subprocess.run(
        ["chroot", str(rootfs), f"{GUEST_VENV}/bin/python", "-c", script],
        capture_output=True, text=True, check=False, env=guest_env(),
    )  # fmt: skip
    try:
        data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise TargetError(
            f"cannot read the versions inside the target: {(done.stderr or done.stdout).strip()[-300:]}"
        ) from None
    missing = [k for k, v in data.items() if v == "missing"]
    if missing:
        raise TargetError(f"the target lacks {', '.join(missing)} after pip install (log: logs/pip.log)")
    return {str(k): str(v) for k, v in data.items()}


def _done_index(state: TargetState) -> int:
    return STAGES.index(state.stage) + 1 if state.stage else 0


def refresh_target(
    folder: Path, progress: Progress, *, source: Path | None = None, add: Sequence[str] = ()
) -> TargetState:
    """Reinstall the checkout's edgeai packages into a complete target (its servers must be stopped) and
    install the runtimes of ``add`` that it lacks."""
    from edgeai_emulator.server import pid_alive

    state = load_state(folder)
    if not state.complete:
        raise TargetError(state.describe_incomplete(Path(folder)))
    running = [name for name, entry in state.servers.items() if pid_alive(entry.pid)]
    if running:
        raise TargetError(
            f"the {', '.join(running)} server of {folder} is running; stop it first: edgeai target stop {folder}"
        )
    check_root()
    check_tools(CREATE_TOOLS)
    check_binfmt(fix=True)
    return Builder(folder, progress, source=source).refresh(state, add)


def create_target(
    folder: Path,
    arch: str,
    runtimes: Sequence[str],
    progress: Progress,
    *,
    mirror: str | None = None,
    resume: bool = False,
    source: Path | None = None,
) -> TargetState:
    """Check the prerequisites, then build (or resume building) the target in ``folder``."""
    check_root()
    check_tools(CREATE_TOOLS)
    check_binfmt(fix=True)
    builder = Builder(folder, progress, source=source)
    state = builder.begin(arch, runtimes, mirror, resume)
    return builder.run(state)


__all__ = [
    "ARCHES",
    "DEFAULT_MIRROR",
    "RUNTIMES",
    "Builder",
    "apt_mirror",
    "create_target",
    "find_checkout",
    "guest_env",
    "refresh_target",
]
