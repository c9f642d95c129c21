"""A real target-side install: edgeai-core + edgeai-onnx without its [compile] extra (so no `onnx` package), in
a fresh virtual environment made with uv from its cache (offline). `edgeai list` must show the components that
need `onnx` as unavailable with the command that fixes it, and the planner must refuse a plan using one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HINT = "pip install 'edgeai-onnx[compile]'"

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def target_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a venv holding edgeai-core and edgeai-onnx (ONNX Runtime, no onnx)."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (nox and CI have it)")
    venv = tmp_path_factory.mktemp("target") / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_CONSTRAINT")}
    subprocess.run(
        [uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env, timeout=120
    )
    done = subprocess.run(
        [uv, "pip", "install", "-q", "--offline", "--python", str(venv / "bin" / "python"),
         str(ROOT / "packages" / "edgeai-core"), str(ROOT / "packages" / "edgeai-onnx")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    if (
        done.returncode != 0
    ):  # only when uv's cache lacks onnxruntime or hatchling (never after `nox -s tests`)
        pytest.skip(f"uv could not install offline from its cache: {done.stderr.strip()[-300:]}")
    return venv / "bin"


def _edgeai(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    return subprocess.run(
        [str(bin_dir / "edgeai"), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_the_target_install_has_onnx_runtime_but_not_onnx(target_env: Path) -> None:
    code = "import importlib.util as u; print(u.find_spec('onnxruntime') is not None, u.find_spec('onnx') is None)"
    done = subprocess.run(
        [str(target_env / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "True"]


def test_list_marks_what_needs_onnx_unavailable_with_the_install_hint(target_env: Path) -> None:
    listing = _edgeai(target_env, "list")
    assert listing.returncode == 0, listing.stderr
    rows = {tuple(line.split()[:2]): line for line in listing.stdout.splitlines()}
    assert " unavailable " in rows[("compiler", "onnx-quantize")]
    # onnx-file reads a file's structure without the onnx package (its checker runs where onnx is installed)
    assert " ok " in rows[("model", "onnx-file")]
    assert " ok " in rows[("runtime", "onnxruntime")]
    assert (
        f"unavailable: compiler:onnx-quantize needs 'onnx', which is not installed: {HINT}"
        in listing.stdout.splitlines()
    )
    records = {(r["kind"], r["name"]): r for r in json.loads(_edgeai(target_env, "list", "--json").stdout)}
    quantize = records[("compiler", "onnx-quantize")]
    assert (quantize["status"], quantize["missing"], quantize["install"]) == ("unavailable", "onnx", HINT)
    assert records[("runtime", "onnxruntime")]["status"] == "ok"
    described = _edgeai(target_env, "describe", "onnx-quantize").stdout.splitlines()
    assert (
        described[2] == f"  unavailable: compiler:onnx-quantize needs 'onnx', which is not installed: {HINT}"
    )
    plugins = json.loads(_edgeai(target_env, "plugins", "--json").stdout)["plugins"]
    onnx = next(p for p in plugins if p["name"] == "onnx")
    assert {c["name"]: c["status"] for c in onnx["components"]} == {
        "onnx-file": "ok",
        "onnx-quantize": "unavailable",
        "onnx": "unavailable",  # the analyzer needs the onnx package
        "onnxruntime": "ok",
    }


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_plan_with_onnx_quantize_exits_2_before_building(
    target_env: Path, tmp_path: Path, dry_run: bool
) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not read: the plan is refused first")
    config = tmp_path / "quantize.json"
    config.write_text(
        json.dumps(
            {
                "dataset": {"name": "gaussian-blobs"},
                "model": {"name": "artifact-file", "path": str(model), "format": "onnx"},
                "steps": [{"name": "onnx-quantize", "mode": "dynamic"}],
                "runtime": "onnxruntime",
            }
        )
    )
    out = tmp_path / "out"
    done = _edgeai(target_env, "run", str(config), "-o", str(out), *(["--dry-run"] if dry_run else []))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines()[-1] == (
        "error: compiler:onnx-quantize needs 'onnx', which is not installed: pip install edgeai-onnx[compile]"
    )
    assert not out.exists()
