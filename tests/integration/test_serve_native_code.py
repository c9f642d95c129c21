"""Native code on a target: a shared library built here with the system C compiler, whose constructor writes
a marker file, tried against a real `edgeai serve` the way an attacker would.

- tflite: uploaded as a "model", then named as a delegate by the host (refused: only the operator sets
  delegates), or by the operator pointing into the work directory (refused: code is never loaded from where
  hosts upload). The marker never appears.
- tvm: its models ARE native code. Without --allow-native-code the server refuses to start; with it, the
  uploaded library's constructor runs: that is what the operator allowed, and this test says so.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from edgeai_core.transports.tcp import TcpStream
from edgeai_core.wire.client import Client, TargetError
from edgeai_core.wire.framing import ErrorCode

pytestmark = pytest.mark.subprocess

EDGEAI = Path(sys.executable).parent / "edgeai"
SOURCE = r"""
#include <stdio.h>
__attribute__((constructor)) static void edgeai_test_constructor(void) {
    FILE *f = fopen(MARKER, "w");
    if (f) { fputs("the library's constructor ran\n", f); fclose(f); }
}
void *tflite_plugin_create_delegate(void *a, void *b, int c, void *d) { return 0; }
void tflite_plugin_destroy_delegate(void *d) {}
"""


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    """(library, marker): a shared library whose constructor writes the marker file."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc) to build the test library")
    marker = tmp_path / "marker.txt"
    source = tmp_path / "evil.c"
    source.write_text(SOURCE)
    library = tmp_path / "evil.so"
    subprocess.run(
        [compiler, "-shared", "-fPIC", f'-DMARKER="{marker}"', "-o", str(library), str(source)], check=True
    )
    # the library really does what it says when something loads it
    subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({str(library)!r})"], check=True)
    assert marker.read_text() == "the library's constructor ran\n"
    marker.unlink()
    return library, marker


@pytest.fixture
def tflite_evil(evil: tuple[Path, Path]) -> tuple[Path, Path]:
    """``evil`` for the tests of the tflite runtime (skipped without edgeai-tflite)."""
    pytest.importorskip("edgeai_tflite", exc_type=ImportError)
    return evil


@contextmanager
def serve(args: list[str], workdir: Path) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen(
        [str(EDGEAI), "serve", "--protocol", "tcp", "--port", "0", "--workdir", str(workdir), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, proc.stderr.read()  # type: ignore[union-attr]
        yield json.loads(line)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def connect(port: int) -> Client:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return Client(TcpStream(sock, f"127.0.0.1:{port}"), timeout_s=30)


def spec(fmt: str, runtime: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    io = {"inputs": [{"name": "x", "shape": [1, 4], "dtype": "float32"}],
          "outputs": [{"name": "y", "shape": [1, 4], "dtype": "float32"}]}  # fmt: skip
    doc: dict[str, Any] = {"format": fmt, "io": io, "producer": "attacker", "versions": {}, "metadata": {}}
    if params is not None:
        doc["runtime"] = {"name": runtime, "params": params}
    return doc


def test_a_host_cannot_make_the_tflite_runtime_load_an_uploaded_library(
    tflite_evil: tuple[Path, Path], tmp_path: Path
) -> None:
    library, marker = tflite_evil
    workdir = tmp_path / "target"
    with serve(["--runtime", "tflite"], workdir) as event, connect(event["port"]) as client:
        client.hello()
        client.send_iospec(spec("tflite", "tflite"))
        with pytest.raises(TargetError) as err:  # stored, then the interpreter rejects it as a model
            client.upload(library)
        assert err.value.code == ErrorCode.RUNTIME_FAILURE
        assert str(workdir) not in str(err.value), "the error does not tell the attacker where it is"
        uploaded = workdir.resolve() / "models" / "evil.so"
        for name in (str(uploaded), "models/evil.so", "../models/evil.so"):
            with pytest.raises(TargetError, match=r"runtime\.delegates: only the target's operator") as err:
                client.send_iospec(spec("tflite", "tflite", {"delegates": [name]}))
            assert err.value.code == ErrorCode.NOT_ALLOWED
        with pytest.raises(TargetError, match=r"runtime\.delegate_options: only the target's operator"):
            client.send_iospec(spec("tflite", "tflite", {"delegate_options": {"library": str(uploaded)}}))
        assert client.stats()["runtime"] == "tflite", "the session goes on"
    assert not marker.exists(), "the uploaded library was loaded"


def test_the_operator_cannot_point_a_delegate_into_the_work_directory(
    tflite_evil: tuple[Path, Path], tmp_path: Path
) -> None:
    library, marker = tflite_evil
    workdir = tmp_path / "target"
    planted = workdir.resolve() / "models" / "evil.so"
    args = ["--runtime", "tflite", "--set", f"runtime.delegates={planted}"]
    with serve(args, workdir) as event, connect(event["port"]) as client:
        client.hello()
        client.send_iospec(spec("tflite", "tflite"))
        with pytest.raises(TargetError, match="lies in the target's work directory") as err:
            client.upload(library)  # lands exactly where the operator's delegate points
        assert err.value.code == ErrorCode.RUNTIME_FAILURE and "runtime.delegates" in str(err.value)
    assert not marker.exists(), "a library from the work directory was loaded"


def test_tvm_needs_the_operators_opt_in_and_then_runs_the_hosts_code(
    evil: tuple[Path, Path], tmp_path: Path
) -> None:
    pytest.importorskip("edgeai_tvm", exc_type=ImportError)
    pytest.importorskip("tvm", exc_type=ImportError)
    library, marker = evil
    refused = subprocess.run(
        [str(EDGEAI), "serve", "--runtime", "tvm", "--port", "0", "--workdir", str(tmp_path / "refused")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "runtime tvm loads models as native code" in refused.stderr
    assert "--allow-native-code" in refused.stderr
    public = subprocess.run(
        [str(EDGEAI), "serve", "--runtime", "tvm", "--host", "0.0.0.0", "--port", "0", "--allow-native-code",
         "--allow-remote", "--workdir", str(tmp_path / "public")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert public.returncode == 2 and "--allow-remote is not enough for native code" in public.stderr
    assert not marker.exists()
    with (
        serve(["--runtime", "tvm", "--allow-native-code"], tmp_path / "target") as event,
        connect(event["port"]) as client,
    ):
        client.hello()
        client.send_iospec(spec("tvm", "tvm"))
        with pytest.raises(TargetError):  # not a TVM module, but loading it ran its constructor
            client.upload(library)
    # This is what --allow-native-code means: whoever can upload a model runs code on the target.
    assert marker.read_text() == "the library's constructor ran\n"
