"""The instruction counter without an emulator: the difference of run lengths, the plugin's and ldd's output,
QEMU's version line, the one-line errors of a missing tool or source entry, the ``instructions`` section in
results.json (schema) and the state file. The report's side is in tests/report/test_instructions_report.py."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_core.api import (
    InstructionCountError,
    InstructionRun,
    InstructionsSection,
    NullProgress,
    load_schema,
)
from edgeai_emulator import counter
from edgeai_emulator.commands import target_group
from edgeai_emulator.state import TargetError, TargetState, load_state, save_state

PLUGIN_PER_VCPU = """cpu 0 insns: 763817322
cpu 1 insns: 5255247
cpu 2 insns: 200936
total insns: 769273505
"""


def _runs() -> list[InstructionRun]:
    return [
        InstructionRun(10, 737_624_205, 110, 763_817_322),
        InstructionRun(10, 737_637_570, 110, 763_820_477),
        InstructionRun(10, 737_633_723, 110, 763_819_893),
    ]


def _section() -> InstructionsSection:
    return InstructionsSection(
        runs=tuple(_runs()), method=counter.METHOD, isa="aarch64", emulator="qemu-user 7.2.22",
        runtime="onnxruntime", artifact="model.onnx",
    )  # fmt: skip


# ------------------------------------------------------------------------------- difference of run lengths
def test_per_inference_is_the_difference_of_two_run_lengths() -> None:
    runs = _runs()
    assert [r.per_inference for r in runs] == [261_931.17, 261_829.07, 261_861.7]
    section = _section()
    assert section.per_inference == pytest.approx((261_931.17 + 261_829.07 + 261_861.7) / 3)
    assert section.spread == pytest.approx((261_931.17 - 261_829.07) / section.per_inference)
    assert section.spread < 0.001
    single = InstructionsSection(runs=(InstructionRun(0, 1000, 4, 1400),), method="m", isa="a", emulator="e",
                                 runtime="r")  # fmt: skip
    assert (single.per_inference, single.spread) == (100.0, 0.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((10, 100, 10, 200), "inference counts 10 and 10: the second must exceed the first"),
        ((-1, 100, 10, 200), "inference counts -1 and 10"),
        ((0, 0, 10, 200), "instruction totals 0 and 200: both must be > 0"),
        (
            (0, 300, 10, 200),
            "the process with 10 inferences executed 200 instructions, not more than the one",
        ),
    ],
)
def test_run_lengths_that_say_nothing_are_refused(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(InstructionCountError, match=message):
        InstructionRun(*args)
    with pytest.raises(InstructionCountError, match="at least one repeat"):
        InstructionsSection(runs=(), method="m", isa="a", emulator="e", runtime="r")


def test_section_round_trips_and_validates_against_the_schema(tmp_path: Path) -> None:
    import jsonschema

    section = _section()
    data = section.to_json()
    assert data["repeats"] == 3 and data["runs"][1]["per_inference"] == 261_829.07
    assert InstructionsSection.from_json(json.loads(json.dumps(data))) == section
    schema = load_schema()
    fixture = Path(__file__).parents[1] / "report" / "fixtures" / "blobs-mlp-int8-tcp.json"
    doc = json.loads(fixture.read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)  # older documents without the section stay valid
    doc["instructions"] = data
    jsonschema.validate(doc, schema)
    doc["instructions"] = {**data, "runs": []}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"status": "complete"}), encoding="utf-8")
    counter.write_section(results, section)
    assert json.loads(results.read_text(encoding="utf-8")) == {"status": "complete", "instructions": data}


# ---------------------------------------------------------------------------------------- parsing outputs
def test_plugin_output_gives_the_main_thread() -> None:
    assert counter.parse_plugin_output(PLUGIN_PER_VCPU) == 763_817_322
    assert counter.parse_plugin_output("detected repeat execution @ 0x4000\ninsns: 88191\n") == 88_191
    assert counter.parse_plugin_output("total insns: 42\n") == 42
    with pytest.raises(TargetError, match=r"printed no instruction count \(got: qemu: fatal\)"):
        counter.parse_plugin_output("qemu: fatal\n")
    with pytest.raises(TargetError, match=r"\(got: nothing\)"):
        counter.parse_plugin_output("")


def test_qemu_version_line() -> None:
    text = "qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 ...\n"
    assert counter.parse_qemu_version(text) == ("7.2.22", "1:7.2+dfsg-7+deb12u18+b3")
    assert counter.parse_qemu_version("qemu-aarch64 version 9.1.0\n") == ("9.1.0", None)
    qemu = counter.QemuUser(Path("/usr/bin/qemu-aarch64"), "7.2.22", "1:7.2+dfsg-7+deb12u18+b3")
    assert qemu.source_version == "1:7.2+dfsg-7+deb12u18"
    assert counter.plugin_cache_dir(qemu, Path("/c")) == Path("/c/qemu-plugins/1_7.2+dfsg-7+deb12u18")
    with pytest.raises(TargetError, match="cannot read the QEMU version"):
        counter.parse_qemu_version("garbage")


def test_ldd_output() -> None:
    text = (
        "\tlinux-vdso.so.1 (0x00007fdc098f8000)\n"
        "\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007fdc098c7000)\n"
        "\tlibglib-2.0.so.0 => /lib/x86_64-linux-gnu/libglib-2.0.so.0 (0x00007fdc092c7000)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007fdc098fa000)\n"
        "\tlibz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x00007fdc098c7000)\n"
    )
    assert counter.parse_ldd(text) == [
        Path("/lib/x86_64-linux-gnu/libz.so.1"),
        Path("/lib/x86_64-linux-gnu/libglib-2.0.so.0"),
        Path("/lib64/ld-linux-x86-64.so.2"),
    ]
    with pytest.raises(TargetError, match=r"ldd: libcapstone.so.4 not found on this machine"):
        counter.parse_ldd("\tlibcapstone.so.4 => not found\n")


def test_guest_command_runs_qemu_through_the_copied_loader() -> None:
    command = counter.guest_command(
        {"loader": "ld-linux-x86-64.so.2"}, ["/bin/true"], "/opt/edgeai/run/x.log"
    )
    assert command == [
        "/opt/edgeai/counter/lib/ld-linux-x86-64.so.2", "--library-path", "/opt/edgeai/counter/lib",
        "/opt/edgeai/counter/qemu-aarch64", "-plugin", "/opt/edgeai/counter/libinsn.so", "-d", "plugin",
        "-D", "/opt/edgeai/run/x.log", "/bin/true",
    ]  # fmt: skip


# ------------------------------------------------------------------------------------ one-line errors
def _fake(
    outputs: dict[str, tuple[int, str, str]], calls: list[list[str]]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
        calls.append(command)
        key = " ".join(command[:2])
        code, out, err = outputs.get(key, outputs.get(command[0], (0, "", "")))
        return subprocess.CompletedProcess(command, code, out, err)

    return run


QEMU_OK = {
    "/usr/bin/qemu-aarch64 -h": (0, "-plugin   QEMU_PLUGIN  [file=]<file>", ""),
    "/usr/bin/qemu-aarch64 --version": (
        0,
        "qemu-aarch64 version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
        "",
    ),
}


def _which(missing: set[str]) -> Callable[[str], str | None]:
    return lambda tool: None if tool in missing else f"/usr/bin/{tool}"


def test_missing_qemu_user_names_the_package() -> None:
    with pytest.raises(TargetError) as info:
        counter.find_qemu_user(_fake({}, []), _which({"qemu-aarch64"}))
    assert str(info.value) == (
        "qemu-aarch64 (the dynamic QEMU user mode, with TCG plugins) not found on PATH: "
        "apt-get install -y qemu-user (as root)"
    )
    static = {"/usr/bin/qemu-aarch64 -h": (0, "-L path  QEMU_LD_PREFIX", "")}
    with pytest.raises(TargetError, match=r"has no -plugin option .*apt-get install -y qemu-user"):
        counter.find_qemu_user(_fake(static, []), _which(set()))


def test_plugin_build_errors_name_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(TargetError) as info:
        counter.build_plugin(NullProgress(), cache=tmp_path, run=_fake(QEMU_OK, []),
                             which=_which({"gcc", "dpkg-source"}))  # fmt: skip
    assert str(info.value) == (
        "building the counting plugin needs dpkg-dev, gcc: apt-get install -y dpkg-dev gcc (as root)"
    )
    with pytest.raises(TargetError) as info:
        counter.build_plugin(
            NullProgress(), cache=tmp_path, run=_fake(QEMU_OK, []), which=_which({"apt-get"})
        )
    assert str(info.value) == (
        "no apt-get: QEMU's sources come from Debian's package manager; build tests/plugin/insn.c of QEMU "
        "7.2.22 yourself and pass --counter-plugin PATH"
    )
    no_glib = {**QEMU_OK, "pkg-config --exists": (1, "", "")}
    with pytest.raises(TargetError, match=r"GLib's headers: apt-get install -y libglib2.0-dev$"):
        counter.build_plugin(NullProgress(), cache=tmp_path, run=_fake(no_glib, []), which=_which(set()))
    no_src = {
        **QEMU_OK,
        "apt-get source": (100, "", "E: You must put some 'deb-src' URIs in your sources.list"),
    }
    with pytest.raises(TargetError) as info:
        counter.build_plugin(NullProgress(), cache=tmp_path, run=_fake(no_src, []), which=_which(set()))
    assert str(info.value).startswith("apt-get source qemu: apt has no source entries: add a deb-src entry")
    assert str(info.value).endswith("then apt-get update")
    gone = {
        **QEMU_OK,
        "apt-get source": (100, "", "E: Can not find version '1:7.2+dfsg-7+deb12u18' of package 'qemu'"),
    }
    with pytest.raises(TargetError, match=r"apt-get source qemu=1:7.2\+dfsg-7\+deb12u18: apt knows no such"):
        counter.build_plugin(NullProgress(), cache=tmp_path, run=_fake(gone, []), which=_which(set()))


def test_a_cached_plugin_is_reused_without_apt(tmp_path: Path) -> None:
    qemu = counter.QemuUser(Path("/usr/bin/qemu-aarch64"), "7.2.22", "1:7.2+dfsg-7+deb12u18+b3")
    cached = counter.plugin_cache_dir(qemu, tmp_path)
    cached.mkdir(parents=True)
    (cached / "libinsn.so").write_bytes(b"\x7fELF")
    (cached / "plugin.json").write_text("{}", encoding="utf-8")
    calls: list[list[str]] = []
    found = counter.build_plugin(
        NullProgress(), cache=tmp_path, run=_fake(QEMU_OK, calls), which=_which(set())
    )
    assert found == cached / "libinsn.so"
    assert [c[0] for c in calls] == ["/usr/bin/qemu-aarch64", "/usr/bin/qemu-aarch64"]


def test_not_a_debian_qemu_asks_for_a_plugin(tmp_path: Path) -> None:
    upstream = {**QEMU_OK, "/usr/bin/qemu-aarch64 --version": (0, "qemu-aarch64 version 9.1.0", "")}
    with pytest.raises(TargetError, match=r"QEMU 9.1.0\) is not Debian's qemu-user.*--counter-plugin PATH$"):
        counter.build_plugin(NullProgress(), cache=tmp_path, run=_fake(upstream, []), which=_which(set()))


# --------------------------------------------------------------------------------- state and the command
def _complete(tmp_path: Path, **changes: object) -> TargetState:
    state = TargetState(arch="aarch64", suite="bookworm", mirror="m", runtimes=["onnxruntime"],
                        created_at="now", stage="complete")  # fmt: skip
    for key, value in changes.items():
        setattr(state, key, value)
    save_state(tmp_path, state)
    return state


def test_state_keeps_the_counter_and_old_files_have_none(tmp_path: Path) -> None:
    _complete(tmp_path)
    assert load_state(tmp_path).counter is None
    data = json.loads((tmp_path / "edgeai-target.json").read_text())
    del data["counter"]  # a state file written before the counter existed
    (tmp_path / "edgeai-target.json").write_text(json.dumps(data))
    assert load_state(tmp_path).counter is None
    info = {"plugin": "/c/libinsn.so", "qemu": "7.2.22", "loader": "ld-linux-x86-64.so.2"}
    _complete(tmp_path, counter=info)
    assert load_state(tmp_path).counter == info
    out = CliRunner().invoke(target_group, ["status", str(tmp_path)]).output
    assert out.splitlines()[-1] == "instruction counter: QEMU 7.2.22, plugin /c/libinsn.so"


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    (run / "artifacts" / "00-torch-to-onnx").mkdir(parents=True)
    model = run / "artifacts" / "00-torch-to-onnx" / "model.onnx"
    model.write_bytes(b"onnx")
    steps = [
        {"name": "digits", "kind": "dataset", "artifact": None},
        {"name": "digits-cnn", "kind": "model", "artifact": {"path": "artifacts/model/model.pt"}},
        {
            "name": "torch-to-onnx",
            "kind": "converter",
            "artifact": {"path": "artifacts/00-torch-to-onnx/model.onnx"},
        },
        {"name": "upload", "kind": "upload", "artifact": {"path": "artifacts/upload/model.onnx"}},
    ]
    config = {"runtime": {"name": "onnxruntime", "threads": 1}}
    (run / "results.json").write_text(json.dumps({"steps": steps, "provenance": {"config": config}}))
    return run


def test_a_run_folder_names_its_last_artifact_and_runtime(tmp_path: Path) -> None:
    run = _run_folder(tmp_path)
    what = counter.resolve_model(run, None, {})
    assert what == counter.CountTarget(
        run / "artifacts/00-torch-to-onnx/model.onnx", "onnxruntime", {"threads": 1}, run / "results.json"
    )
    assert counter.resolve_model(run, "tvm", {"threads": 2}).params == {"threads": 2}
    model = run / "artifacts" / "00-torch-to-onnx" / "model.onnx"
    with pytest.raises(TargetError, match=r"model.onnx has no sidecar model.onnx.edgeai.json"):
        counter.resolve_model(model, "onnxruntime", {})
    (run / "artifacts" / "00-torch-to-onnx" / "model.onnx.edgeai.json").write_text("{}")
    with pytest.raises(TargetError, match=r"^--runtime: which runtime runs model.onnx\?"):
        counter.resolve_model(model, None, {})
    with pytest.raises(TargetError, match=r"is a folder without results\.json"):
        counter.resolve_model(tmp_path / "run" / "artifacts", None, {})


def test_count_needs_a_counter_and_the_runtime(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    _complete(target)
    what = counter.CountTarget(tmp_path / "model.onnx", "onnxruntime", {})
    with pytest.raises(TargetError) as info:
        counter.count_instructions(target, what, NullProgress())
    assert str(info.value) == (
        f"{target.resolve()} has no instruction counter: edgeai target refresh {target.resolve()} --with-counter "
        f"(needs {counter.COUNTER_APT})"
    )
    _complete(target, counter={"qemu": "7.2.22"})
    with pytest.raises(TargetError, match=r"runtime tvm: the target has onnxruntime \(add it with"):
        counter.count_instructions(target, counter.CountTarget(what.artifact, "tvm", {}), NullProgress())
    with pytest.raises(TargetError, match=r"--low 5, --high 5: need repeats >= 1, 0 <= low < high"):
        counter.count_instructions(target, what, NullProgress(), low=5, high=5)
    result = CliRunner().invoke(
        target_group, ["count", str(target), str(_run_folder(tmp_path)), "--param", "x"]
    )
    assert result.exit_code != 0 and "--param 'x': expected KEY=VALUE" in result.output


def test_count_runs_pairs_and_reads_the_main_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole count with a fake chroot: two processes per repeat, their logs parsed, the section built."""
    from edgeai_core.api import Artifact, IOSpec, TensorSpec

    target = tmp_path / "target"
    (target / "rootfs").mkdir(parents=True)
    _complete(target, counter={"qemu": "7.2.22", "loader": "ld-linux-x86-64.so.2"})
    model = tmp_path / "m" / "model.onnx"
    model.parent.mkdir()
    model.write_bytes(b"onnx")
    spec = TensorSpec("input", (None, 1, 8, 8), "float32")
    Artifact(model, "onnx", IOSpec((spec,), (TensorSpec("logits", (None, 10), "float32"),))).save()
    monkeypatch.setattr(counter, "check_root", lambda: None)
    monkeypatch.setattr(counter, "check_tools", lambda tools: None)
    monkeypatch.setattr(counter.Mounts, "ensure", lambda self, cpuinfo: None)
    monkeypatch.setattr(counter.Mounts, "release", lambda self: [])
    rootfs = (target / "rootfs").resolve()
    seen: list[tuple[list[str], dict[str, str] | None]] = []

    def fake(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
        seen.append((command, env))
        count = int(command[-2])
        log = command[command.index("-D") + 1]
        (rootfs / log.lstrip("/")).write_text(f"cpu 0 insns: {1_000_000 + 2_500 * count + len(seen)}\n")
        return subprocess.CompletedProcess(command, 0, '{"event": "counted"}\n', "")

    section = counter.count_instructions(
        target, counter.CountTarget(model, "onnxruntime", {"threads": 1}), NullProgress(), run=fake
    )
    assert [int(c[-2]) for c, _ in seen] == [10, 110, 110, 10, 10, 110]
    assert [r.per_inference for r in section.runs] == [2500.01, 2499.99, 2500.01]
    assert section.to_json()["artifact"] == "model.onnx" and section.emulator == "qemu-user 7.2.22"
    command, env = seen[0]
    assert "chroot" in command and command[-3:] == ["onnxruntime", "10", '{"threads": 1}']
    assert env is not None and env["ORT_DISABLE_TELEMETRY"] == "1" and env["PYTHONHASHSEED"] == "0"
    assert (rootfs / "opt/edgeai/run/count/model/model.onnx.edgeai.json").is_file()
    assert (rootfs / "opt/edgeai/run/count/guest_count.py").is_file()


def test_create_and_refresh_take_the_counter_options(tmp_path: Path) -> None:
    for command in ("create", "refresh"):
        text = CliRunner().invoke(target_group, [command, "--help"]).output
        assert "--with-counter" in text and "--counter-plugin" in text
    result = CliRunner().invoke(
        target_group, ["refresh", str(tmp_path), "--counter-plugin", str(tmp_path / "no.so")]
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    assert "count" in CliRunner().invoke(target_group, ["--help"]).output
