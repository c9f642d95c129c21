"""The tvm runtime: runtime-only loading in a fresh process, bind() timing contract, threads, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.errors import ArtifactError, RuntimeFailure

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from edgeai_core.artifacts import Artifact
    from edgeai_core.plugins import PluginHost

    library, inputs = sys.argv[1], np.load(sys.argv[2])
    runtime = PluginHost().get("runtime", "tvm").create({"threads": 1})
    runtime.load(Artifact.load(library))
    outputs = np.concatenate([runtime.infer([x[None]])[0] for x in inputs])
    with open("/proc/self/maps") as maps:
        mapped = maps.read()
    print(json.dumps({
        "outputs": outputs.tolist(),
        "relax": sorted(m for m in sys.modules if m == "tvm.relax" or m.startswith("tvm.relax.")),
        "torch": "torch" in sys.modules,
        "compiler_library": "libtvm_compiler" in mapped,
        "runtime_library": "libtvm_runtime" in mapped,
        "versions": runtime.versions(),
    }))
    """
)


@pytest.mark.subprocess
def test_library_runs_in_a_process_without_the_compiler(
    tvm_float_b1: Any, onnx_float: Any, test_split: Any, tmp_path: Path, run_tvm: Any, ort_reference: Any
):
    """A fresh interpreter loads model.so with TVM's runtime library only and gives the same outputs."""
    x = test_split.input[:16]
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TVM_USE_RUNTIME_LIB"}
    result = subprocess.run(
        [sys.executable, str(script), str(tvm_float_b1.path), str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["relax"] == [], "the runtime imported tvm.relax"
    assert report["compiler_library"] is False and report["runtime_library"] is True
    assert report["torch"] is False
    assert report["versions"]["tvm-library"] == "runtime only"
    child = np.asarray(report["outputs"], dtype=np.float32)
    here = np.concatenate([run_tvm(tvm_float_b1, s[None]) for s in x])
    np.testing.assert_allclose(child, here, rtol=0, atol=1e-6)
    assert np.max(np.abs(child - ort_reference(onnx_float.path, x))) <= 1e-4


def test_bind_times_the_vm_call_only(build: Any, tvm_float_b1: Any, test_split: Any):
    import tvm

    runtime = build("runtime", "tvm")
    runtime.load(tvm_float_b1)
    x = test_split.input[:1]
    call = runtime.bind([x])
    # a partial of the VM's main function over tensors prepared up front: nothing else runs when timed
    assert call.func is runtime._main and not call.keywords
    assert all(isinstance(arg, tvm.runtime.Tensor) for arg in call.args)
    np.testing.assert_array_equal(call.args[0].numpy(), x)
    result = call()
    assert isinstance(result, tvm.runtime.Tensor)
    np.testing.assert_allclose(result.numpy(), runtime.infer([x])[0], atol=0)
    assert runtime.io == tvm_float_b1.io
    assert runtime.versions()["tvm"] == tvm.__version__
    runtime.close()


def test_bind_reuses_tensors_of_unchanged_arrays(build: Any, tvm_float_b1: Any, test_split: Any):
    """Cycling through a pool reuses its tensors (as a bare loop does); a changed array is converted again."""
    runtime = build("runtime", "tvm")
    runtime.load(tvm_float_b1)
    first, second = [test_split.input[:1].copy()], [test_split.input[1:2].copy()]
    a, b = runtime.bind(first), runtime.bind(second)
    assert runtime.bind(first).args[0] is a.args[0] and runtime.bind(second).args[0] is b.args[0]
    assert a.args[0] is not b.args[0]
    first[0][0, 0, 0, 0] += 1.0  # changed in place: the cached tensor is stale
    changed = runtime.bind(first)
    assert changed.args[0] is not a.args[0]
    np.testing.assert_array_equal(changed.args[0].numpy(), first[0])
    np.testing.assert_allclose(changed().numpy(), runtime.infer(first)[0], atol=0)
    runtime.close()


def test_threads_set_for_the_run_and_restored(build: Any, tvm_float_b1: Any, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("TVM_NUM_THREADS", raising=False)
    runtime = build("runtime", "tvm", threads=2)
    runtime.load(tvm_float_b1)
    assert os.environ["TVM_NUM_THREADS"] == "2"
    runtime.close()
    assert "TVM_NUM_THREADS" not in os.environ
    monkeypatch.setenv("TVM_NUM_THREADS", "3")
    default = build("runtime", "tvm", threads=0)
    default.load(tvm_float_b1)
    assert os.environ["TVM_NUM_THREADS"] == "3", "threads = 0 leaves TVM's own setting"
    default.close()


def test_input_errors(build: Any, tvm_float_b1: Any):
    runtime = build("runtime", "tvm")
    with pytest.raises(RuntimeFailure, match="no library loaded"):
        runtime.infer([np.zeros((1, 1, 8, 8), np.float32)])
    runtime.load(tvm_float_b1)
    with pytest.raises(RuntimeFailure, match=r"takes 1 input\(s\) \(input\), got 2"):
        runtime.infer([np.zeros((1, 1, 8, 8), np.float32)] * 2)
    with pytest.raises(RuntimeFailure, match=r"expects shape \(1, 1, 8, 8\), got \(1, 64\)"):
        runtime.infer([np.zeros((1, 64), np.float32)])
    with pytest.raises(RuntimeFailure, match="expects float32 values, got complex64"):
        runtime.infer([np.zeros((1, 1, 8, 8), np.complex64)])
    out = runtime.infer([np.zeros((1, 1, 8, 8), np.float64)])[0]  # float64 data is cast
    assert out.shape == (1, 10) and out.dtype == np.float32
    runtime.close()


def test_artifact_errors(build: Any, tvm_float_b1: Any, tmp_path: Path):
    runtime = build("runtime", "tvm")
    with pytest.raises(RuntimeFailure, match="runtime tvm loads tvm libraries, not onnx"):
        runtime.load(Artifact(tvm_float_b1.path, "onnx", tvm_float_b1.io))
    with pytest.raises(ArtifactError, match="does not exist"):
        runtime.load(Artifact(tmp_path / "missing.so", "tvm", tvm_float_b1.io))
    garbage = tmp_path / "garbage.so"
    garbage.write_bytes(b"this is not a library" * 10)
    with pytest.raises(ArtifactError, match="no ELF header"):
        runtime.load(Artifact(garbage, "tvm", tvm_float_b1.io))
    two_inputs = IOSpec(
        (*tvm_float_b1.io.inputs, TensorSpec("extra", (1, 4), "float32")), tvm_float_b1.io.outputs
    )
    with pytest.raises(RuntimeFailure, match=r"'main' takes 1 input\(s\) but the IO spec lists 2"):
        runtime.load(Artifact(tvm_float_b1.path, "tvm", two_inputs))
