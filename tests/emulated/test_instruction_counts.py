"""Guest instructions per inference of the digits CNN on the emulated aarch64 target (``edgeai target count``).

Needs a target with the instruction counter (``nox -s arm`` builds or reuses one with ``--with-counter``, sets
``EDGEAI_ARM_TARGET`` and runs this folder) and root. The count runs ONNX Runtime inside the target under the
dynamic qemu-aarch64 with QEMU's insn plugin: three repeats of two processes (10 and 110 inferences), each
repeat's instructions per inference the difference of the two totals over 100. About 6 runs of 5-15 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ARM_TARGET = os.environ.get("EDGEAI_ARM_TARGET", "")
pytestmark = pytest.mark.skipif(
    not ARM_TARGET, reason="no emulated ARM target: `nox -s arm` builds one and sets EDGEAI_ARM_TARGET"
)


def _edgeai(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "edgeai"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def counter_ready() -> None:
    from edgeai_emulator.state import load_state

    if os.geteuid() != 0:
        pytest.skip("counting runs the target's runtime in a chroot: needs root")
    if not load_state(Path(ARM_TARGET)).counter:
        pytest.skip(
            f"the target {ARM_TARGET} has no instruction counter: edgeai target refresh {ARM_TARGET} "
            "--with-counter (needs qemu-user, gcc, libglib2.0-dev, pkg-config, dpkg-dev and a deb-src entry)"
        )


@pytest.fixture(scope="module")
def host_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits CNN trained and exported to ONNX on the host, run once by ONNX Runtime here."""
    folder = tmp_path_factory.mktemp("count")
    config = {
        "dataset": {"name": "digits"},
        "model": {"name": "digits-cnn", "epochs": 30},
        "runtime": {"name": "onnxruntime", "threads": 1},
        "benchmark": {"warmup": 3, "min_count": 30, "min_duration_s": 0},
        "resources": {"enabled": False},
    }
    (folder / "run.json").write_text(json.dumps(config), encoding="utf-8")
    done = _edgeai("run", str(folder / "run.json"), "-o", str(folder / "run"))
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "run"


def test_instructions_per_inference_of_the_digits_cnn_on_onnxruntime(
    counter_ready: None, host_run: Path
) -> None:
    import jsonschema

    from edgeai_core.api import load_schema

    done = _edgeai("target", "count", ARM_TARGET, str(host_run), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    section: dict[str, Any] = json.loads(done.stdout)
    assert (section["isa"], section["runtime"], section["batch_size"]) == ("aarch64", "onnxruntime", 1)
    assert section["emulator"].startswith("qemu-user ")
    assert section["repeats"] == 3 and len(section["runs"]) == 3
    for run in section["runs"]:
        assert (run["count_low"], run["count_high"]) == (10, 110)
        assert run["per_inference"] == (run["total_high"] - run["total_low"]) / 100
    values = [run["per_inference"] for run in section["runs"]]
    assert section["per_inference"] == pytest.approx(sum(values) / 3)
    assert section["spread"] == pytest.approx((max(values) - min(values)) / section["per_inference"])
    assert section["spread"] < 0.01, values
    # a small CNN: about 262,000 aarch64 instructions per inference with ONNX Runtime 1.32
    assert 1e5 < section["per_inference"] < 1e8, section
    doc = json.loads((host_run / "results.json").read_text(encoding="utf-8"))
    assert doc["instructions"] == section
    jsonschema.validate(doc, load_schema())
