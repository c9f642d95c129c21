"""edgeai-emulator without an emulator: the state file, prerequisite errors, cpuinfo, mount bookkeeping, the
demo variants' availability and the commands' answers for folders that are not (complete) targets."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeai_core.api import NullProgress
from edgeai_core.emulation import EMULATED_ENV, emulation_facts, is_emulated
from edgeai_emulator import build, prereq
from edgeai_emulator.build import Builder, apt_mirror
from edgeai_emulator.commands import target_group
from edgeai_emulator.cpuinfo import arm_cpuinfo
from edgeai_emulator.mounts import Mounts, mounted_under
from edgeai_emulator.server import start_target, stop_target, target_status
from edgeai_emulator.state import (
    STATE_FILE,
    ServerEntry,
    TargetError,
    TargetState,
    load_state,
    save_state,
)
from edgeai_emulator.variants import ARM_TARGET_ENV, arm_demo_variants


def _state(**changes: object) -> TargetState:
    state = TargetState(
        arch="aarch64",
        suite="bookworm",
        mirror="http://deb.debian.org/debian",
        runtimes=["onnxruntime", "tvm"],
        created_at="2026-12-06T00:00:00Z",
    )
    for key, value in changes.items():
        setattr(state, key, value)
    return state


# ---------------------------------------------------------------------------------------------- state file
def test_state_round_trip(tmp_path: Path) -> None:
    state = _state(
        stage="complete",
        versions={"python": "3.11.2", "onnxruntime": "1.32.0"},
        mounts=[str(tmp_path / "rootfs" / "proc")],
        servers={"tvm": ServerEntry("tvm", 4242, 5555, "/t/tvm.token", "/t/logs/tvm.log", "now")},
    )
    save_state(tmp_path, state)
    loaded = load_state(tmp_path)
    assert loaded == state
    assert loaded.complete
    data = json.loads((tmp_path / STATE_FILE).read_text())
    assert data["servers"]["tvm"]["port"] == 5555
    assert not (tmp_path / (STATE_FILE + ".tmp")).exists()


def test_missing_state_names_create(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as info:
        load_state(tmp_path / "arm")
    assert str(info.value) == (
        f"{tmp_path / 'arm'} is not an edgeai target (no {STATE_FILE}); "
        f"create one with `edgeai target create aarch64 {tmp_path / 'arm'}`"
    )


def test_folder_without_state_is_not_a_target(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    with pytest.raises(TargetError, match=r"is not an edgeai target .*remove it or pick another folder"):
        load_state(tmp_path)


@pytest.mark.parametrize(
    "content",
    ["{not json", "[]", json.dumps({"format": 99}), json.dumps({"format": 1, "stage": "rootfs"})],
)
def test_corrupt_state_is_one_line(tmp_path: Path, content: str) -> None:
    (tmp_path / STATE_FILE).write_text(content)
    with pytest.raises(TargetError) as info:
        load_state(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / STATE_FILE} is corrupt (")
    assert message.endswith("and create the target again")
    assert "\n" not in message


def test_half_built_folder_is_named(tmp_path: Path) -> None:
    state = _state(stage="rootfs", failed={"stage": "venv", "error": "python3 -m venv failed"})
    save_state(tmp_path, state)
    expected = (
        f"{tmp_path} is a half-built target (last completed stage: rootfs; stage 'venv' failed: "
        f"python3 -m venv failed); continue with `edgeai target create aarch64 {tmp_path} --resume` "
        "or remove the folder"
    )
    builder = Builder(tmp_path, NullProgress())
    with pytest.raises(TargetError) as info:
        builder.begin("aarch64", ["onnxruntime", "tvm"], None, resume=False)
    assert str(info.value) == expected
    with pytest.raises(TargetError) as info:
        start_target(tmp_path, NullProgress())
    assert str(info.value) == expected
    assert target_status(tmp_path)["problem"] == expected
    resumed = builder.begin("aarch64", ["tvm", "onnxruntime"], None, resume=True)
    assert resumed.stage == "rootfs" and resumed.failed is None


def test_create_refuses_a_non_empty_folder_and_unknown_runtime(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    builder = Builder(tmp_path, NullProgress())
    with pytest.raises(TargetError, match="exists and is not empty; pick a new folder"):
        builder.begin("aarch64", ["onnxruntime"], None, resume=False)
    with pytest.raises(TargetError, match="--runtime torch: not a target runtime; choose from onnxruntime"):
        builder.begin("aarch64", ["torch"], None, resume=False)


def test_failed_stage_is_recorded_and_nothing_stays_mounted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = Builder(tmp_path / "arm", NullProgress())
    state = builder.begin("aarch64", ["onnxruntime"], "http://mirror.invalid/debian", resume=False)
    monkeypatch.setattr(Builder, "stage_rootfs", lambda self, state, cpuinfo: None)

    def broken(self: Builder, state: TargetState, cpuinfo: Path) -> None:
        raise TargetError("python3 -m venv failed inside the target: no space left")

    monkeypatch.setattr(Builder, "stage_venv", broken)
    with pytest.raises(TargetError, match="no space left"):
        builder.run(state)
    saved = load_state(tmp_path / "arm")
    assert saved.stage == "rootfs"
    assert saved.failed == {
        "stage": "venv",
        "error": "python3 -m venv failed inside the target: no space left",
    }
    assert saved.mounts == []
    assert (tmp_path / "arm" / "cpuinfo").read_text() == arm_cpuinfo()


# ---------------------------------------------------------------------------------------------- prerequisites
def test_missing_tools_name_the_apt_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError) as info:
        prereq.check_tools(prereq.CREATE_TOOLS)
    assert str(info.value) == (
        "debootstrap, qemu-aarch64-static, update-binfmts, chroot, mount not found on PATH: "
        "apt-get install -y binfmt-support coreutils debootstrap mount qemu-user-static (as root)"
    )
    tool = tmp_path / "debootstrap"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    with pytest.raises(TargetError, match=r"^qemu-aarch64-static, update-binfmts, chroot, mount not found"):
        prereq.check_tools(prereq.CREATE_TOOLS)


def test_not_root_is_one_line() -> None:
    with pytest.raises(TargetError) as info:
        prereq.check_root(euid=1000)
    assert str(info.value) == (
        "an emulated target needs root (debootstrap, mount, chroot): run the command as root or with sudo"
    )
    prereq.check_root(euid=0)


def test_binfmt_checks(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(command: list[str]) -> int:
        calls.append(command)
        return 1

    with pytest.raises(TargetError) as info:
        prereq.check_binfmt(tmp_path, fix=True, run=run)
    assert str(info.value) == (
        f"binfmt_misc is not mounted: mount binfmt_misc -t binfmt_misc {tmp_path} (as root)"
    )
    assert calls == [["mount", "binfmt_misc", "-t", "binfmt_misc", str(tmp_path)]]
    (tmp_path / "status").write_text("enabled\n")
    with pytest.raises(
        TargetError, match=r"^qemu-aarch64 is not registered with binfmt_misc: apt-get install"
    ):
        prereq.check_binfmt(tmp_path)
    entry = tmp_path / "qemu-aarch64"
    entry.write_text("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n")
    with pytest.raises(TargetError) as info:
        prereq.check_binfmt(tmp_path)
    assert str(info.value) == "qemu-aarch64 is disabled in binfmt_misc: update-binfmts --enable qemu-aarch64"
    entry.write_text("enabled\ninterpreter /usr/bin/qemu-aarch64\nflags: P\n")
    with pytest.raises(TargetError, match="without the F \\(fix binary\\) flag"):
        prereq.check_binfmt(tmp_path)
    entry.write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n")
    prereq.check_binfmt(tmp_path)


def test_arm_cpuinfo() -> None:
    text = arm_cpuinfo(3)
    blocks = text.strip().split("\n\n")
    assert len(blocks) == 3
    assert blocks[2].splitlines()[0] == "processor\t: 2"
    assert "CPU architecture: 8" in blocks[0]
    assert "CPU implementer\t: 0x41" in blocks[0]
    assert "Features\t: fp asimd" in blocks[0]
    assert "vendor_id" not in text and "flags" not in text  # nothing x86


def test_apt_mirror(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    assert apt_mirror([deb822]) == "http://mirror.example/debian"
    security_only = tmp_path / "sources.list"
    security_only.write_text("deb http://security.example/debian-security bookworm-security main\n")
    assert apt_mirror([security_only]) is None
    one_line = tmp_path / "mirror.list"
    one_line.write_text(
        "# deb http://old/debian bookworm main\ndeb [arch=amd64] https://m.example/debian bookworm main\n"
    )
    assert apt_mirror([security_only, one_line]) == "https://m.example/debian"
    assert apt_mirror([tmp_path / "missing.list"]) is None


# ---------------------------------------------------------------------------------------------- mounts
class FakeKernel:
    """mount/umount through a mountinfo file this object keeps; ``fail_on`` makes one mount point fail."""

    def __init__(self, mountinfo: Path, fail_on: str = "") -> None:
        self.mountinfo = mountinfo
        self.fail_on = fail_on
        self.calls: list[list[str]] = []
        mountinfo.write_text("22 1 8:1 / / rw - ext4 /dev/root rw\n")

    def __call__(self, command: list[str]) -> tuple[int, str]:
        self.calls.append(command)
        point = command[-1]
        lines = self.mountinfo.read_text().splitlines()
        if command[0] == "mount":
            if point.endswith(self.fail_on) and self.fail_on:
                return 32, "mount: permission denied"
            lines.append(f"{30 + len(lines)} 22 0:5 / {point.replace(' ', chr(92) + '040')} rw - x x rw")
        else:
            lines = [ln for ln in lines if ln.split()[4].replace("\\040", " ") != point]
        self.mountinfo.write_text("\n".join(lines) + "\n")
        return 0, ""


def test_mounts_are_recorded_and_released_newest_first(tmp_path: Path) -> None:
    folder = tmp_path / "my arm"  # a space: mountinfo escapes it
    rootfs = folder / "rootfs"
    (rootfs / "proc").mkdir(parents=True)
    kernel = FakeKernel(tmp_path / "mountinfo")
    state = _state()
    saved: list[list[str]] = []
    mounts = Mounts(rootfs, state, lambda: saved.append(list(state.mounts)), run=kernel,
                    mountinfo=kernel.mountinfo)  # fmt: skip
    cpuinfo = folder / "cpuinfo"
    mounts.ensure(cpuinfo)
    proc, sys_, info = (str(rootfs / "proc"), str(rootfs / "sys"), str(rootfs / "proc" / "cpuinfo"))
    assert state.mounts == [proc, sys_, info]
    assert [c[:2] for c in kernel.calls] == [["mount", "-t"], ["mount", "-t"], ["mount", "--bind"]]
    assert kernel.calls[2] == ["mount", "--bind", str(cpuinfo.resolve()), info]
    assert mounted_under(rootfs, kernel.mountinfo) == [proc, sys_, info]
    mounts.ensure(cpuinfo)  # already mounted: nothing more
    assert len(kernel.calls) == 3
    kernel.calls.clear()
    assert mounts.release() == []
    assert kernel.calls == [["umount", info], ["umount", sys_], ["umount", proc]]
    assert state.mounts == [] and saved[-1] == []
    assert mounted_under(rootfs, kernel.mountinfo) == []


def test_a_failed_mount_leaves_nothing_mounted(tmp_path: Path) -> None:
    rootfs = tmp_path / "arm" / "rootfs"
    kernel = FakeKernel(tmp_path / "mountinfo", fail_on="/cpuinfo")
    state = _state()
    mounts = Mounts(rootfs, state, lambda: None, run=kernel, mountinfo=kernel.mountinfo)
    with pytest.raises(TargetError) as info:
        mounts.ensure(tmp_path / "arm" / "cpuinfo")
    assert str(info.value) == (
        f"mount --bind {tmp_path / 'arm' / 'cpuinfo'} {rootfs / 'proc' / 'cpuinfo'} failed: "
        "mount: permission denied"
    )
    assert mounted_under(rootfs, kernel.mountinfo) == []
    assert state.mounts == []
    assert kernel.calls[-2:] == [["umount", str(rootfs / "sys")], ["umount", str(rootfs / "proc")]]


def test_release_unmounts_what_the_state_file_forgot_and_falls_back_to_lazy(tmp_path: Path) -> None:
    rootfs = tmp_path / "arm" / "rootfs"
    kernel = FakeKernel(tmp_path / "mountinfo")
    kernel(["mount", "-t", "proc", "proc", str(rootfs / "proc")])  # mounted, then a crash lost the record
    calls: list[list[str]] = []

    def busy_then_lazy(command: list[str]) -> tuple[int, str]:
        calls.append(command)
        if command == ["umount", str(rootfs / "proc")]:
            return 32, "target is busy"
        return kernel(command if command[1] != "-l" else ["umount", command[2]])

    state = _state()
    assert Mounts(rootfs, state, lambda: None, run=busy_then_lazy, mountinfo=kernel.mountinfo).release() == []
    assert calls == [["umount", str(rootfs / "proc")], ["umount", "-l", str(rootfs / "proc")]]
    assert mounted_under(rootfs, kernel.mountinfo) == []


# ---------------------------------------------------------------------------------------------- commands
def test_stop_is_safe_on_anything(tmp_path: Path) -> None:
    assert stop_target(tmp_path / "nothing", NullProgress()) == {
        "target": str(tmp_path / "nothing"),
        "stopped": [],
        "mounted": [],
    }
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / STATE_FILE).write_text("{")
    assert stop_target(tmp_path / "bad", NullProgress())["stopped"] == []
    save_state(tmp_path, _state(stage="complete", servers={
        "onnxruntime": ServerEntry("onnxruntime", 2**22 + 7, 1, "t", "l", "x")}))  # fmt: skip
    assert stop_target(tmp_path, NullProgress())["stopped"] == []  # the pid is not a server: left alone
    assert load_state(tmp_path).servers == {}
    result = CliRunner().invoke(target_group, ["stop", str(tmp_path / "nothing")])
    assert result.exit_code == 0
    assert result.output == f"stopped: no server was running; nothing mounted under {tmp_path / 'nothing'}\n"


def test_start_refuses_a_port_in_use_and_an_unbuilt_runtime(tmp_path: Path) -> None:
    save_state(tmp_path, _state(stage="complete"))
    with pytest.raises(TargetError) as info:
        start_target(tmp_path, NullProgress(), runtime="tflite")
    assert str(info.value) == (
        "--runtime tflite: this target has onnxruntime, tvm; build one with "
        "`edgeai target create aarch64 NEWDIR --runtime tflite`"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(TargetError) as info:
            start_target(tmp_path, NullProgress(), port=port)
    assert str(info.value) == (
        f"port {port} is in use on 127.0.0.1: pick another with --port, or 0 for any free one"
    )


def test_status_command(tmp_path: Path) -> None:
    save_state(tmp_path, _state(stage="complete", versions={"python": "3.11.2"}))
    result = CliRunner().invoke(target_group, ["status", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"target: {tmp_path} (aarch64, emulated, Debian bookworm)",
        "state: complete",
        "runtimes: onnxruntime, tvm",
        "versions: python 3.11.2",
        "servers: none running",
        "mounted: nothing",
    ]
    data = json.loads(CliRunner().invoke(target_group, ["status", str(tmp_path), "--json"]).output)
    assert data["complete"] is True and data["emulated"] is True and data["servers"] == {}


def test_plugin_module_imports_nothing_heavy(python_stdout) -> None:  # type: ignore[no-untyped-def]
    out = python_stdout(
        "import sys, edgeai_emulator.plugin\n"
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'tvm', 'edgeai_emulator.build') if m in sys.modules))"
    )
    assert out.strip() == "[]"


# ---------------------------------------------------------------------------------------------- demo variants
def test_demo_variants_unavailable_without_a_target(tmp_path: Path) -> None:
    variants = {v.name: v for v in arm_demo_variants({})}
    assert sorted(variants) == ["onnxruntime-aarch64", "tvm-aarch64"]
    assert variants["tvm-aarch64"].unavailable == (
        f"no emulated ARM target: set {ARM_TARGET_ENV}=DIR of one started with "
        "`edgeai target start DIR --runtime tvm`"
    )
    assert variants["tvm-aarch64"].config["steps"] == [{"name": "tvm", "target": "aarch64"}]
    save_state(tmp_path, _state(stage="complete"))
    stopped = {v.name: v for v in arm_demo_variants({ARM_TARGET_ENV: str(tmp_path)})}
    assert stopped["onnxruntime-aarch64"].unavailable == (
        f"the emulated target {tmp_path} has no running onnxruntime server: "
        f"edgeai target start {tmp_path} --runtime onnxruntime"
    )
    assert "target" not in stopped["onnxruntime-aarch64"].config


def test_demo_variant_points_at_a_running_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_state(tmp_path, _state(stage="complete", servers={
        "onnxruntime": ServerEntry("onnxruntime", os.getpid(), 40123, "/x/onnxruntime.token", "l", "x")}))  # fmt: skip
    monkeypatch.setattr("edgeai_emulator.server.pid_alive", lambda pid: pid == os.getpid())
    variants = {v.name: v for v in arm_demo_variants({ARM_TARGET_ENV: str(tmp_path)})}
    assert variants["onnxruntime-aarch64"].unavailable == ""
    assert variants["onnxruntime-aarch64"].config["target"] == {
        "protocol": "tcp", "host": "127.0.0.1", "port": 40123, "token_file": "/x/onnxruntime.token",
        "timeout_s": 120.0,
    }  # fmt: skip
    assert variants["tvm-aarch64"].unavailable.startswith(
        f"the emulated target {tmp_path} has no running tvm"
    )


def test_plan_variants_skips_unavailable_ones() -> None:
    from edgeai_core.variants import Variant, plan_variants

    planned, skipped = plan_variants(
        object(), [Variant("x", "s", {"dataset": {}, "model": {}, "runtime": {}}, unavailable="no target")]
    )
    assert planned == []
    assert skipped[0]["variant"] == "x" and skipped[0]["status"] == "skipped"
    assert skipped[0]["note"] == "no target"


# ---------------------------------------------------------------------------------------------- results
def test_emulation_facts() -> None:
    import platform

    assert emulation_facts({}) == {"isa": platform.machine(), "emulated": False}
    assert emulation_facts({EMULATED_ENV: "qemu-user"}) == {
        "isa": platform.machine(),
        "emulated": True,
        "emulator": "qemu-user",
    }
    assert is_emulated({"provenance": {"target": {"emulated": True}}})
    assert not is_emulated({"provenance": {"target": None}})


def test_build_constants_are_consistent() -> None:
    assert set(build.RUNTIMES) == {"onnxruntime", "tflite", "tvm"}
    assert build.ARCHES == {"aarch64": "arm64"}


def test_progress_shows_each_phase_once() -> None:
    from edgeai_core.api import Progress

    class Lines(Progress):
        def __init__(self) -> None:
            self.lines: list[str] = []

        def stage(self, message: str) -> None:
            self.lines.append(message)

    progress = Lines()
    pip = build.PhaseReporter(progress, "pip", build.pip_phase)
    for line in ["Collecting numpy", "  Downloading numpy.whl", "Collecting onnxruntime", "Downloading x",
                 "Installing collected packages: numpy", "Successfully installed numpy"]:  # fmt: skip
        pip(line)
    debootstrap = build.PhaseReporter(progress, "debootstrap", build.debootstrap_phase)
    for line in ["I: Retrieving InRelease", "I: Retrieving Packages", "I: Extracting zlib1g...", "W: x"]:
        debootstrap(line)
    assert progress.lines == [
        "pip: resolving packages",
        "pip: downloading aarch64 wheels",
        "pip: installing",
        "pip: installed",
        "debootstrap: retrieving",
        "debootstrap: extracting",
    ]


def _remote_doc(median_ns: float, emulated: bool | None) -> dict[str, object]:
    target: dict[str, object] = {"protocol": "tcp", "address": "127.0.0.1:1", "runtime": "tvm"}
    if emulated is not None:
        target.update({"isa": "aarch64", "emulated": emulated})
    tvm = {"name": "tvm", "kind": "compiler", "input_format": "onnx", "output_format": "tvm",
           "metadata": {"tuning": None}}  # fmt: skip
    return {
        "status": "complete",
        "plan": {
            "dataset": {"name": "digits", "params": {}},
            "model": {"name": "digits-cnn"},
            "runtime": {"name": "tvm"},
        },
        "steps": [{"name": "digits-cnn", "kind": "model", "output_format": "torch"}, tvm],
        "latency": {"stats": {"median": median_ns}, "target": {"stats": {"median": median_ns / 2}}},
        "quality": {"accuracy": 0.97},
        "fidelity": {"enabled": True, "steps": [{"step": "tvm", "kind": "compiler", "precision": "float32"}]},
        "provenance": {"target": target},
    }


def test_emulated_runs_get_no_slow_build_advice_and_say_emulated_time() -> None:
    from edgeai_core.guidance import slow_build_notes
    from edgeai_core.variants import result_row

    native_float = {
        "status": "complete",
        "plan": {
            "dataset": {"name": "digits", "params": {}},
            "model": {"name": "digits-cnn"},
            "runtime": {"name": "onnxruntime"},
        },
        "steps": [{"name": "digits-cnn", "kind": "model", "output_format": "torch"}],
        "latency": {"stats": {"median": 10_000}},
        "fidelity": {"enabled": True, "steps": []},
    }
    assert slow_build_notes([("f", native_float), ("arm", _remote_doc(9e6, True))]) == []
    assert len(slow_build_notes([("f", native_float), ("remote", _remote_doc(9e6, False))])) == 1
    row = result_row("tvm-aarch64", "complete", _remote_doc(9e6, True))
    assert row["emulated"] is True
    assert row["note"] == "emulated time, not device time; on the target 4500.0 us"
    assert row["median_us"] == 9000.0
    native = result_row("tvm-remote", "complete", _remote_doc(9e6, None))
    assert "emulated" not in native and native["note"] == "round trip to a target; on it 4500.0 us"


def test_cross_architecture_restates_the_final_runtime_against_the_host() -> None:
    from edgeai_core.emulation import cross_architecture

    fidelity = {
        "steps": [
            {"step": "tvm", "kind": "compiler", "status": "failed"},
            {"step": "tvm", "kind": "runtime", "status": "ok", "samples": 32, "top1_agreement": 1.0,
             "max_abs_diff": 7.6e-06, "within_tolerance": True},
        ]
    }  # fmt: skip
    emulated = {"isa": "aarch64", "emulated": True}
    assert cross_architecture(fidelity, emulated, "x86_64") == {
        "host_isa": "x86_64", "target_isa": "aarch64", "emulated": True, "step": "tvm", "status": "ok",
        "samples": 32, "top1_agreement": 1.0, "max_abs_diff": 7.6e-06, "within_tolerance": True,
    }  # fmt: skip
    assert cross_architecture(fidelity, {"isa": "x86_64", "emulated": False}, "x86_64") is None
    assert cross_architecture(fidelity, None, "x86_64") is None
    assert cross_architecture({"steps": fidelity["steps"][:1]}, emulated, "x86_64") is None
