"""Target profiles: the file format and its errors, the shipped profiles' figures, the measured host profile,
``edgeai list target`` and ``edgeai describe TARGET``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeai_core.hostprofile import cpuinfo_fields, measure_host, memtotal_bytes
from edgeai_core.targetprofiles import (
    TargetFileError,
    TargetProfile,
    format_bytes,
    load_target_file,
    parse_size,
    target_profiles,
)

GOOD = """
[targets.my-board]
summary = "My Cortex-A53 board"
arch = "aarch64"
triple = "aarch64-unknown-linux-gnu"
cores = 4
clock_mhz = 1200
ram_bytes = "512 MiB"
storage_bytes = 4194304
runtimes = ["tflite"]
dtypes = ["float32", "int8"]
runtime_ram_bytes = { tflite = "2 MiB" }
operators = { tflite = { tflite = ["CONV_2D", "SOFTMAX"] } }
source = "datasheet rev 3"
"""


def write(tmp_path: Path, text: str, name: str = "boards.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_profile_file_reads_every_field(tmp_path: Path) -> None:
    (profile,) = load_target_file(write(tmp_path, GOOD))
    assert profile.name == "my-board"
    assert (profile.arch, profile.triple, profile.cores, profile.clock_mhz) == (
        "aarch64",
        "aarch64-unknown-linux-gnu",
        4,
        1200.0,
    )
    assert profile.ram_bytes == 512 * 1024 * 1024
    assert profile.storage_bytes == 4194304
    assert profile.runtimes == ("tflite",)
    assert profile.dtypes == ("float32", "int8")
    assert profile.runtime_ram_bytes == {"tflite": 2 * 1024 * 1024}
    assert profile.operators == {"tflite": {"tflite": ("CONV_2D", "SOFTMAX")}}
    assert profile.weights_in == "ram"
    assert profile.source == "datasheet rev 3"
    assert profile.provider == str(tmp_path / "boards.toml")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("cores = 4\n", ""), "targets.my-board.cores: is required (int): CPU cores"),
        (("cores = 4", 'cores = "four"'), "targets.my-board.cores: must be an integer >= 1, got 'four'"),
        (("cores = 4", "cores = 0"), "targets.my-board.cores: must be an integer >= 1, got 0"),
        (
            ("clock_mhz = 1200", 'clock_mhz = "fast"'),
            "targets.my-board.clock_mhz: must be a number >= 1, got 'fast'",
        ),
        (
            ('ram_bytes = "512 MiB"', 'ram_bytes = "lots"'),
            "targets.my-board.ram_bytes: must be a byte count (an integer, or a number with B, KiB, MiB or GiB), "
            "got 'lots'",
        ),
        (('summary = "My Cortex-A53 board"\n', ""), "targets.my-board.summary: is required (str)"),
        (
            ("cores = 4", "cores = 4\ncorse = 2"),
            "targets.my-board.corse: unknown parameter; did you mean 'cores'?",
        ),
        (
            ('dtypes = ["float32", "int8"]', 'dtypes = ["float32", "int4"]'),
            "targets.my-board.dtypes[1]: must be one of float64, float32, float16, bfloat16, int32, int16, int8, "
            "uint8, got 'int4'",
        ),
        (
            ('source = "datasheet rev 3"', 'weights_in = "rom"'),
            "targets.my-board.weights_in: must be one of ram, flash, got 'rom'",
        ),
        (
            ('runtime_ram_bytes = { tflite = "2 MiB" }', 'runtime_ram_bytes = { tflite = "2 MB" }'),
            "targets.my-board.runtime_ram_bytes.tflite: must be a byte count",
        ),
        (
            (
                'operators = { tflite = { tflite = ["CONV_2D", "SOFTMAX"] } }',
                'operators = { tflite = ["CONV_2D"] }',
            ),
            "targets.my-board.operators.tflite: must be a table of format = [operators], got ['CONV_2D']",
        ),
    ],
)
def test_a_bad_field_is_one_line_naming_file_target_and_field(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    assert edit[0] in GOOD
    path = write(tmp_path, GOOD.replace(*edit))
    with pytest.raises(TargetFileError) as caught:
        load_target_file(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_bad_target_name_and_a_stray_section_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("[targets.my-board]", '[targets."My Board"]'))
    with pytest.raises(TargetFileError, match=r"boards\.toml: targets\.My Board: target names are lowercase"):
        load_target_file(path)
    path = write(tmp_path, "[board]\nname = 1\n", "stray.toml")
    with pytest.raises(TargetFileError, match=r"stray\.toml: board: unknown section; a targets file holds"):
        load_target_file(path)
    with pytest.raises(TargetFileError, match=r"missing\.toml does not exist"):
        load_target_file(tmp_path / "missing.toml")


def test_the_cli_exits_2_with_the_one_line_error(tmp_path: Path, targets_host: Any) -> None:
    from edgeai_core.cli import cli

    path = write(tmp_path, GOOD.replace("cores = 4", 'cores = "four"'))
    result = CliRunner().invoke(cli, ["list", "target", "--targets", str(path)], obj={"host": targets_host})
    assert result.exit_code == 2
    assert (
        result.output.strip() == f"error: {path}: targets.my-board.cores: must be an integer >= 1, got 'four'"
    )


def test_sizes_and_their_text() -> None:
    assert parse_size("256 KiB", "f") == 262144
    assert parse_size("1.5 GiB", "f") == 1610612736
    assert parse_size(1024, "f") == 1024
    assert format_bytes(262144) == "256 KiB"
    assert format_bytes(3.4 * 1024 * 1024) == "3.4 MiB"
    assert format_bytes(-3.25 * 1024 * 1024) == "-3.2 MiB"
    assert format_bytes(4 * 1024**3) == "4 GiB"
    assert format_bytes(999) == "999 B"


#: name -> (cores, clock MHz, RAM, storage, dtypes, weights_in)
SHIPPED = {
    "raspberry-pi-4": (4, 1500.0, 4 << 30, None, ("float32", "float16", "int8", "uint8"), "ram"),
    "raspberry-pi-5": (4, 2400.0, 8 << 30, None, ("float32", "float16", "int8", "uint8"), "ram"),
    "nxp-imx8mp": (4, 1800.0, 6 << 30, 32 << 30, ("float32", "int8", "uint8"), "ram"),
    "coral-devboard": (4, 1500.0, 1 << 30, 8 << 30, ("int8", "uint8"), "ram"),
    "jetson-orin-nano-cpu": (6, 1500.0, 8 << 30, None, ("float32", "float16", "int8", "uint8"), "ram"),
    "cortex-m7": (1, 480.0, 1 << 20, 2 << 20, ("float32", "int16", "int8"), "flash"),
    "cortex-m4": (1, 100.0, 256 << 10, 1 << 20, ("float32", "int16", "int8"), "flash"),
}


def test_the_shipped_profiles_load_with_their_figures(targets_host: Any) -> None:
    profiles = target_profiles(targets_host)
    assert set(SHIPPED) | {"host"} == set(profiles)
    for name, (cores, clock, ram, storage, dtypes, weights_in) in SHIPPED.items():
        p = profiles[name]
        assert (p.cores, p.clock_mhz, p.ram_bytes, p.storage_bytes, p.dtypes, p.weights_in) == (
            cores,
            clock,
            ram,
            storage,
            dtypes,
            weights_in,
        ), name
        assert p.provider == "edgeai-targets"
        assert p.source and p.summary and p.triple, name
    assert profiles["coral-devboard"].int_only
    assert profiles["coral-devboard"].tflite_delegate == "libedgetpu.so.1"
    assert "CONV_2D" in profiles["coral-devboard"].operators["edgetpu"]["tflite"]
    assert profiles["cortex-m4"].triple == "thumbv7em-none-eabihf"
    assert profiles["cortex-m4"].runtime_storage_bytes == {"tflite-micro": 16 * 1024}
    assert "DEPTHWISE_CONV_2D" in profiles["cortex-m4"].operators["tflite-micro"]["tflite"]
    assert profiles["raspberry-pi-4"].cpu == "Cortex-A72"
    assert profiles["jetson-orin-nano-cpu"].cpu == "Cortex-A78AE"


def test_a_user_file_replaces_a_shipped_profile_of_the_same_name(tmp_path: Path, targets_host: Any) -> None:
    path = write(tmp_path, GOOD.replace("my-board", "raspberry-pi-4"))
    profiles = target_profiles(targets_host, [path])
    assert profiles["raspberry-pi-4"].ram_bytes == 512 << 20
    assert profiles["raspberry-pi-4"].provider == str(path)


def test_the_host_profile_is_this_machine() -> None:
    host = measure_host()
    assert host.name == "host"
    assert host.cores == os.cpu_count()
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        total = next(line for line in meminfo.read_text().splitlines() if line.startswith("MemTotal:"))
        assert host.ram_bytes == int(total.split()[1]) * 1024
    assert host.arch == {"amd64": "x86_64", "arm64": "aarch64"}.get(
        os.uname().machine.lower(), os.uname().machine
    )
    assert host.triple.startswith(host.arch)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        fields = cpuinfo_fields(cpuinfo.read_text())
        flags = (fields.get("flags") or fields.get("features") or "").split()
        assert set(host.cpu_flags) == set(flags)
        if fields.get("model name"):
            assert host.cpu == fields["model name"]


def test_cpuinfo_and_meminfo_parsing() -> None:
    arm = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd crc32\nCPU part\t: 0xd08\n\nprocessor\t: 1\n"
    fields = cpuinfo_fields(arm)
    assert fields["features"] == "fp asimd crc32"
    assert fields["cpu part"] == "0xd08"
    assert memtotal_bytes("MemTotal:        3884328 kB\nMemFree: 1 kB\n") == 3884328 * 1024


def test_list_target_and_describe_target(targets_host: Any, tmp_path: Path) -> None:
    from edgeai_core.cli import cli

    runner = CliRunner()
    listed = runner.invoke(cli, ["list", "target"], obj={"host": targets_host})
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split()[:6] == ["TARGET", "ARCH", "CPU", "RAM", "STORAGE", "DTYPES"]
    m4 = next(line for line in lines if line.startswith("cortex-m4 "))
    assert m4.split()[1:7] == ["armv7e-m", "1", "x", "100", "MHz", "256"]
    as_json = runner.invoke(cli, ["list", "targets", "--json"], obj={"host": targets_host})
    names = [p["name"] for p in json.loads(as_json.output)]
    assert names == sorted([*SHIPPED, "host"])

    described = runner.invoke(cli, ["describe", "cortex-m4"], obj={"host": targets_host})
    assert described.exit_code == 0, described.output
    assert described.output.startswith("target cortex-m4: Cortex-M4 class MCU")
    assert "  ram_bytes: 256 KiB\n" in described.output
    assert "  storage_bytes: 1 MiB\n" in described.output
    assert "  weights_in: flash\n" in described.output
    data = json.loads(
        runner.invoke(cli, ["describe", "target:coral-devboard", "--json"], obj={"host": targets_host}).output
    )
    assert data["kind"] == "target"
    assert data["dtypes"] == ["int8", "uint8"]
    assert data["ram_bytes"] == 1 << 30

    own = write(tmp_path, GOOD)
    mine = runner.invoke(cli, ["describe", "my-board", "--targets", str(own)], obj={"host": targets_host})
    assert mine.exit_code == 0, mine.output
    assert "  runtime_ram_bytes: tflite 2 MiB\n" in mine.output
    unknown = runner.invoke(cli, ["describe", "target:raspberry-pi-6"], obj={"host": targets_host})
    assert unknown.exit_code == 2
    assert "NAME: unknown target profile 'raspberry-pi-6'; did you mean 'raspberry-pi-5'?" in unknown.output


def test_a_record_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="dtype 'int4'"):
        TargetProfile(name="x", summary="x", arch="aarch64", cores=1, ram_bytes=1, dtypes=("int4",))
    with pytest.raises(ValueError, match="lowercase"):
        TargetProfile(name="X", summary="x", arch="aarch64", cores=1, ram_bytes=1)


def test_the_installed_distribution_ships_its_profiles(
    installed_distribution: Any, edgeai_console: Any, tmp_path: Path
) -> None:
    """Entry-point discovery: the installed edgeai-targets registers its data files (a real subprocess)."""
    installed_distribution("edgeai-targets")
    result = edgeai_console("list", "target", "--json", cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    found = {p["name"]: p for p in json.loads(result.stdout)}
    assert {*SHIPPED, "host"} <= set(found)
    assert found["cortex-m4"]["provider"] == "edgeai-targets"
    assert found["host"]["cores"] == os.cpu_count()
