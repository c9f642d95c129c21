"""Bad input through the real CLI: one actionable `error:` line, a non-zero exit, nothing measured lost."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("edgeai_torch", exc_type=ImportError)
pytest.importorskip("edgeai_onnx", exc_type=ImportError)
pytest.importorskip("edgeai_datasets", exc_type=ImportError)

pytestmark = pytest.mark.subprocess

FAST = "[benchmark]\nwarmup = 1\nmin_count = 5\nmin_duration_s = 0\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def failed_run(tmp_path: Path, edgeai, errors):  # type: ignore[no-untyped-def]
    """``failed_run(toml, returncode)``: ``edgeai run`` of that config into out/, asserted to exit with
    ``returncode`` and one error line; that line and the results.json written."""

    def run(toml: str, returncode: int) -> tuple[str, dict[str, Any]]:
        result = edgeai("run", str(_write(tmp_path / "c.toml", toml)), "-o", str(tmp_path / "out"))
        assert result.returncode == returncode
        [line] = errors(result.stderr)
        return line, json.loads((tmp_path / "out" / "results.json").read_text())

    return run


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, edgeai) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("train")
    result = edgeai("train", "digits-cnn", "digits", "-o", str(out), "--epochs", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "model.pt"


def test_corrupt_model_file(tmp_path: Path, failed_run) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not protobuf" * 10)
    line, doc = failed_run(f'[dataset]\nname = "digits"\n[model]\nname = "onnx-file"\n'
                           f'path = "{bad}"\n[runtime]\nname = "onnxruntime"\n{FAST}', 1)  # fmt: skip
    assert "broken.onnx" in line and "not a valid ONNX model" in line
    assert doc["status"] == "failed" and doc["error"]["stage"] == "model"
    assert [s["kind"] for s in doc["steps"]] == ["dataset"], "the finished dataset step is kept"


def test_wrong_input_shape(failed_run, checkpoint: Path) -> None:  # type: ignore[no-untyped-def]
    line, doc = failed_run(f'[dataset]\nname = "digits"\nimage_size = 16\n[model]\n'
                           f'name = "digits-cnn"\ncheckpoint = "{checkpoint}"\n'
                           f'[runtime]\nname = "onnxruntime"\n{FAST}', 2)  # fmt: skip
    assert "(1, 16, 16)" in line and "(1, 8, 8)" in line and "edgeai describe digits" in line
    assert doc["status"] == "failed" and doc["error"]["stage"] == "benchmark"
    kinds = [s["kind"] for s in doc["steps"]]
    assert kinds == ["dataset", "model", "converter", "runtime-load"], "steps done before the error are kept"


def test_missing_dataset_files(tmp_path: Path, failed_run) -> None:  # type: ignore[no-untyped-def]
    line, doc = failed_run(f'[dataset]\nname = "mnist"\nroot = "{tmp_path / "nothing"}"\n'
                           f'[model]\nname = "digits-cnn"\nimage_size = 28\n'
                           f'[runtime]\nname = "torch"\n{FAST}', 1)  # fmt: skip
    assert "mnist" in line and "nothing" in line and "download" in line
    assert doc["error"]["stage"] == "dataset"


def test_config_naming_an_uninstalled_plugin(tmp_path: Path, edgeai, errors) -> None:  # type: ignore[no-untyped-def]
    # edgeai-tvm may well be installed here: disabling its plugin makes it absent the same way
    config = _write(tmp_path / "c.toml", '[dataset]\nname = "digits"\n[model]\nname = "digits-cnn"\n'
                                         '[runtime]\nname = "tvm"\n')  # fmt: skip
    result = edgeai("run", str(config), "-o", str(tmp_path / "out"), env={"EDGEAI_DISABLE_PLUGINS": "tvm"})
    assert result.returncode == 2
    [line] = errors(result.stderr)
    assert (
        line == "error: runtime.name: unknown runtime 'tvm'; it comes with edgeai-tvm: pip install edgeai-tvm"
    )
    assert not (tmp_path / "out").exists(), "planning fails before anything is built or written"
