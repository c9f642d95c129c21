"""A run whose output files cannot be written says which file, in which stage, and where the measurements are.

The errors are real ones from the kernel: a file-size limit (RLIMIT_FSIZE: writes past it fail with EFBIG)
and /dev/full (every write fails with ENOSPC).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from edgeai_core.measurement import PARTIAL_FILE, RESULTS_FILE, recover_partial

pytestmark = pytest.mark.subprocess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "blobs-mlp.toml"
EDGEAI = Path(sys.executable).parent / "edgeai"


def run(out: Path, *, file_limit: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    # no byte-code writes under the file-size limit: a truncated .pyc would break later interpreters
    env.update(EDGEAI_LOAD_PLUGINS="", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [str(EDGEAI), "run", str(EXAMPLE), "-o", str(out)],
        preexec_fn=limit, capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_a_full_progress_file_mid_benchmark_names_file_stage_and_what_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(out, file_limit=16000)  # the progress file reaches it during the benchmark
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert line.startswith(f"error: writing {out / PARTIAL_FILE} during benchmark: file too large"), line
    # results.json (larger still) cannot be written either: the message says where the data is
    assert f"writing {out / RESULTS_FILE}: file too large" in line
    assert f"the measurements up to the failure are in {out / PARTIAL_FILE}" in line
    assert "Traceback" not in result.stderr
    recovered = recover_partial(out / PARTIAL_FILE)
    assert [s["kind"] for s in recovered["steps"]][:3] == ["dataset", "model", "compiler"]
    assert recovered["latency"]["samples_ns"] or recovered["latency"]["warmup"]["samples_ns"]


def test_a_progress_file_on_a_full_disk_fails_at_once(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    out = tmp_path / "out"
    out.mkdir()
    (out / PARTIAL_FILE).symlink_to("/dev/full")
    result = run(out)
    assert result.returncode == 1, result.stderr
    [line] = error_lines(result.stderr)
    assert line == (
        f"error: writing {out / PARTIAL_FILE} during setup: no space left on device; nothing was measured yet"
    )
