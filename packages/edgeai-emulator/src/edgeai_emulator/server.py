"""``edgeai target start|stop|status``: ``edgeai serve`` inside the emulated root filesystem.

``start`` mounts ``/proc``, ``/sys`` and the ARM cpuinfo, copies the token into the target, runs
``chroot ROOTFS /opt/edgeai/venv/bin/edgeai serve --protocol tcp --host 127.0.0.1 --port N --runtime R``
detached (its stdout and log go to ``DIR/logs/``), waits for its ``listening`` line and records the server in
the state file. The guest's environment has ``EDGEAI_TARGET_EMULATED=qemu-user``, which makes the server report
``emulated: true`` with its ISA. ``stop`` ends every server and unmounts everything under the root
filesystem; it is safe to run at any time.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edgeai_core.api import Progress
from edgeai_emulator.build import guest_env, now
from edgeai_emulator.cpuinfo import arm_cpuinfo
from edgeai_emulator.mounts import Mounts, mounted_under
from edgeai_emulator.prereq import START_TOOLS, check_binfmt, check_root, check_tools
from edgeai_emulator.state import (
    GUEST_HOME,
    GUEST_VENV,
    ServerEntry,
    TargetError,
    TargetState,
    load_state,
    rootfs_of,
    save_state,
    state_path,
)

LOOPBACK = "127.0.0.1"
#: the marker the target server reads (edgeai_core.wire.server): the emulator that runs it
EMULATED_ENV = "EDGEAI_TARGET_EMULATED"
EMULATOR = "qemu-user"
#: runtimes whose models are native code: their server needs --allow-native-code (docs/security.md)
NATIVE_CODE_RUNTIMES = ("tvm",)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process that looks like an edgeai server."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if any(line.startswith("State:") and "Z" in line.split()[1:2] for line in status.splitlines()):
        return False
    return any(part.endswith((b"edgeai", b"edgeai_core")) for part in cmdline) and b"serve" in cmdline


def port_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _prune(state: TargetState) -> None:
    """Forget servers whose process is gone."""
    state.servers = {name: s for name, s in state.servers.items() if pid_alive(s.pid)}


def start_target(
    folder: Path,
    progress: Progress,
    *,
    runtime: str | None = None,
    port: int = 0,
    token_file: Path | None = None,
    timeout_s: float = 300.0,
    extra_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Start ``edgeai serve`` for ``runtime`` inside the target; return its listening event (plus where)."""
    folder = Path(folder).resolve()
    state = load_state(folder)
    if not state.complete:
        raise TargetError(state.describe_incomplete(folder))
    runtime = runtime or state.runtimes[0]
    if runtime not in state.runtimes:
        raise TargetError(
            f"--runtime {runtime}: this target has {', '.join(state.runtimes)}; build one with "
            f"`edgeai target create {state.arch} NEWDIR --runtime {runtime}`"
        )
    _prune(state)
    running = state.servers.get(runtime)
    if running is not None:
        raise TargetError(
            f"the {runtime} server of {folder} is already running (pid {running.pid}, port {running.port}); "
            f"stop it with `edgeai target stop {folder}`"
        )
    if not 0 <= port <= 65535:
        raise TargetError(f"--port {port}: must be 0 (any free port) to 65535")
    if port and not port_free(port):
        raise TargetError(
            f"port {port} is in use on {LOOPBACK}: pick another with --port, or 0 for any free one"
        )
    check_root()
    check_tools(START_TOOLS)
    check_binfmt(fix=True)

    rootfs = rootfs_of(folder)
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    cpuinfo = folder / "cpuinfo"
    cpuinfo.write_text(arm_cpuinfo(), encoding="utf-8")
    host_token = Path(token_file).resolve() if token_file is not None else folder / f"{runtime}.token"
    if token_file is None:
        fd = os.open(host_token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    elif not host_token.is_file():
        raise TargetError(f"--token-file {token_file}: no such file")
    run_dir = rootfs / GUEST_HOME.lstrip("/") / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    guest_token = f"{GUEST_HOME}/run/{runtime}.token"
    fd = os.open(rootfs / guest_token.lstrip("/"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(host_token.read_bytes())

    save = lambda: save_state(folder, state)  # noqa: E731
    mounts = Mounts(rootfs, state, save)
    out_path, log_path = logs / f"{runtime}.out", logs / f"{runtime}.log"
    command = [
        "chroot", str(rootfs), f"{GUEST_VENV}/bin/edgeai", "serve", "--protocol", "tcp",
        "--host", LOOPBACK, "--port", str(port), "--runtime", runtime, "--token-file", guest_token,
        "--workdir", f"{GUEST_HOME}/work/{runtime}",
        *(["--allow-native-code"] if runtime in NATIVE_CODE_RUNTIMES else []), *extra_args,
    ]  # fmt: skip
    proc: subprocess.Popen[bytes] | None = None
    try:
        mounts.ensure(cpuinfo)
        progress.stage(f"starting edgeai serve --runtime {runtime} inside the {state.arch} target (emulated)")
        with out_path.open("wb") as out, log_path.open("wb") as err:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=guest_env(extra={EMULATED_ENV: EMULATOR}),
                start_new_session=True,
            )
        event = _wait_listening(proc, out_path, log_path, timeout_s)
        state.servers[runtime] = ServerEntry(
            runtime=runtime,
            pid=proc.pid,
            port=int(event["port"]),
            token_file=str(host_token),
            log=str(log_path),
            started_at=now(),
        )
        save()
    except BaseException:
        if proc is not None and proc.poll() is None:
            _terminate(proc.pid)
        _prune(state)
        if not state.servers:  # nothing else uses the mounts
            mounts.release()
        save()
        raise
    progress.done(f"listening on {LOOPBACK}:{event['port']} (pid {proc.pid})")
    return {
        **event,
        "host": LOOPBACK,
        "runtime": runtime,
        "token_file": str(host_token),
        "target": str(folder),
        "emulated": True,
        "isa": state.arch,
    }


def _wait_listening(
    proc: subprocess.Popen[bytes], out_path: Path, log_path: Path, timeout_s: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = out_path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "listening":
                    return event
        if proc.poll() is not None:
            raise TargetError(
                f"the target's server exited with {proc.returncode} before listening: "
                f"{_tail(log_path)} (log: {log_path})"
            )
        time.sleep(0.25)
    raise TargetError(
        f"the target's server did not report listening within {timeout_s:g} s: {_tail(log_path)} "
        f"(log: {log_path})"
    )


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


def _terminate(pid: int, grace_s: float = 10.0) -> None:
    """SIGTERM the server (it removes its work folder), then SIGKILL its process group after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop_target(folder: Path, progress: Progress) -> dict[str, Any]:
    """End every server of the target and unmount everything under its root filesystem. Always safe:
    a missing or corrupt folder only unmounts what the kernel lists under ``DIR/rootfs``."""
    folder = Path(folder).resolve()
    rootfs = rootfs_of(folder)
    stopped: list[str] = []
    try:
        state: TargetState | None = load_state(folder)
    except TargetError:
        state = None
    if state is not None:
        for name, entry in list(state.servers.items()):
            if pid_alive(entry.pid):
                progress.stage(f"stopping the {name} server (pid {entry.pid})")
                _terminate(entry.pid)
                stopped.append(name)
        state.servers = {}
        save_state(folder, state)
        stuck = Mounts(rootfs, state, lambda: save_state(folder, state)).release()
    else:
        scratch = TargetState(arch="", suite="", mirror="", runtimes=[], created_at="")
        stuck = Mounts(rootfs, scratch, lambda: None).release() if mounted_under(rootfs) else []
    if stuck:
        raise TargetError(f"still mounted after umount -l: {', '.join(stuck)}; a process inside holds them")
    return {"target": str(folder), "stopped": stopped, "mounted": mounted_under(rootfs)}


def target_status(folder: Path) -> dict[str, Any]:
    """What the folder holds: the build stage, versions, live servers and current mounts."""
    folder = Path(folder).resolve()
    state = load_state(folder)
    servers = {
        name: {**asdict(entry), "alive": pid_alive(entry.pid)} for name, entry in state.servers.items()
    }
    return {
        "target": str(folder),
        "state_file": str(state_path(folder)),
        "arch": state.arch,
        "suite": state.suite,
        "mirror": state.mirror,
        "runtimes": state.runtimes,
        "stage": state.stage,
        "complete": state.complete,
        "failed": state.failed,
        "problem": None if state.complete else state.describe_incomplete(folder),
        "versions": state.versions,
        "servers": servers,
        "mounted": mounted_under(rootfs_of(folder)),
        "emulated": True,
        "counter": state.counter,
    }


def running_server(folder: Path, runtime: str) -> ServerEntry | None:
    """The live server of ``runtime`` in the target at ``folder`` (None when absent or not running)."""
    try:
        state = load_state(Path(folder))
    except TargetError:
        return None
    entry = state.servers.get(runtime)
    return entry if entry is not None and pid_alive(entry.pid) else None


__all__ = [
    "EMULATED_ENV",
    "pid_alive",
    "port_free",
    "running_server",
    "start_target",
    "stop_target",
    "target_status",
]
