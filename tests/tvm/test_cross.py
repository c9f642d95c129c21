"""Cross compilation: a library for the triple where the cross toolchain exists, one exact line where not."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from edgeai_core.errors import EdgeaiError, ParameterError, RuntimeFailure

ELF_AARCH64 = 183


def _empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH holding no cross toolchain (nor anything else), whatever this machine has installed."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.parametrize(
    ("preset", "compiler", "package"),
    [
        ("aarch64", "aarch64-linux-gnu-g++", "g++-aarch64-linux-gnu"),
        ("armv7", "arm-linux-gnueabihf-g++", "g++-arm-linux-gnueabihf"),
    ],
)
def test_missing_toolchain_names_the_package(
    build: Any,
    tiny: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    preset: str,
    compiler: str,
    package: str,
):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    _empty_path(tmp_path, monkeypatch)
    with pytest.raises(EdgeaiError) as caught:
        build("compiler", "tvm", target=preset).compile(artifact, None)
    message = str(caught.value)
    assert "\n" not in message
    assert (
        f"needs the cross compiler {compiler}, which is not installed: apt-get install {package}" in message
    )


def test_named_cross_compiler_must_exist(
    build: Any, tiny: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    _empty_path(tmp_path, monkeypatch)
    with pytest.raises(EdgeaiError, match="cross_compiler 'my-aarch64-g\\+\\+' is not an executable on PATH"):
        build("compiler", "tvm", target="aarch64", cross_compiler="my-aarch64-g++").compile(artifact, None)


def test_cross_targets_cannot_tune(build: Any, tiny: Any, tmp_path: Path):
    artifact = tiny.artifact(tmp_path / "tiny.onnx", batch=1)
    with pytest.raises(ParameterError) as caught:
        build("compiler", "tvm", target="aarch64", tuning_trials=4).compile(artifact, None)
    assert caught.value.field == "tvm.tuning_trials" and "cannot tune for aarch64" in str(caught.value)


@pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-g++") is None,
    reason="the aarch64 cross toolchain is not installed (apt-get install g++-aarch64-linux-gnu)",
)
def test_aarch64_library(build: Any, tiny: Any, tmp_path: Path):
    artifact = tiny.artifact(tmp_path / "tiny.onnx")
    out = build("compiler", "tvm", target="aarch64", target_options={"mcpu": "cortex-a72"}).compile(
        artifact, None
    )
    header = out.path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF" and header[4] == 2  # ELF, 64-bit
    assert struct.unpack("<H", header[18:20])[0] == ELF_AARCH64
    meta = out.metadata
    assert meta["cross_compiled"] is True and meta["arch"] == "aarch64"
    assert meta["triple"] == "aarch64-linux-gnu" and meta["target"]["mcpu"] == "cortex-a72"
    assert (
        meta["linker"].endswith("aarch64-linux-gnu-g++") and meta["linker_package"] == "g++-aarch64-linux-gnu"
    )
    # a host of another architecture refuses it with one line saying where it runs
    from edgeai_tvm.targets import host_arch

    if host_arch() != "aarch64":
        with pytest.raises(
            RuntimeFailure, match=r"is a library for aarch64 \(aarch64-linux-gnu\) .* aarch64 device"
        ):
            build("runtime", "tvm").load(out)
