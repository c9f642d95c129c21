"""Release metadata (tools/release.py, run by `nox -s metadata`): the repository passes, and each rule catches
what it is there for, on a copy of the packages."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _release() -> ModuleType:
    spec = importlib.util.spec_from_file_location("edgeai_release_tool", ROOT / "tools" / "release.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building the class
    spec.loader.exec_module(module)
    return module


release = _release()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the repository's LICENSE and packages/*/ (metadata, READMEs, version files; no tests)."""
    shutil.copy(ROOT / "LICENSE", tmp_path / "LICENSE")
    for package in release.packages(ROOT):
        target = tmp_path / "packages" / package.folder.name
        shutil.copytree(package.folder, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp_path


def test_the_repository_has_no_metadata_problem() -> None:
    assert release.check(ROOT) == []
    names = [p.name for p in release.packages(ROOT)]
    assert "edgeai" in names and "edgeai-core" in names
    assert {p.version for p in release.packages(ROOT)} == {release.release_version(ROOT)}


def test_every_package_requires_its_siblings_compatibly_and_pins_no_framework() -> None:
    version = release.release_version(ROOT)
    for package in release.packages(ROOT):
        for _, requirement in package.requirements():
            spec = requirement.split(";")[0].replace(" ", "")
            assert "==" not in spec, (package.name, requirement)
            if spec.startswith("edgeai-"):
                assert spec.endswith(f"~={version}"), (package.name, requirement)


def test_torch_is_a_range_and_tflite_runtime_forces_nothing_where_it_has_no_wheel() -> None:
    by_name = {p.name: p for p in release.packages(ROOT)}
    assert "torch>=2.6,<3" in by_name["edgeai-torch"].project["dependencies"]
    assert by_name["edgeai-tflite"].project["optional-dependencies"]["tflite-runtime"] == [
        "tflite-runtime>=2.14,<3; python_version < '3.12' and sys_platform == 'linux'",
        "numpy<2; python_version < '3.12' and sys_platform == 'linux'",
    ]


def test_set_version_moves_every_version_and_sibling_pin(repo: Path) -> None:
    old = release.release_version(ROOT)
    changed = release.set_version("0.2.0", repo)
    assert release.release_version(repo) == "0.2.0"
    assert {p.version for p in release.packages(repo)} == {"0.2.0"}
    assert release.check(repo) == []
    meta = (repo / "packages" / "edgeai" / "pyproject.toml").read_text()
    assert 'version = "0.2.0"' in meta
    assert '"edgeai-torch[onnx]~=0.2.0"' in meta and f"~={old}" not in meta
    assert repo / "packages" / "edgeai-core" / "src" / "edgeai_core" / "__init__.py" in changed
    with pytest.raises(SystemExit, match="not a release version"):
        release.set_version("0.2", repo)


def test_check_names_each_problem(repo: Path) -> None:
    version = release.release_version(ROOT)
    onnx = repo / "packages" / "edgeai-onnx"
    (onnx / "LICENSE").unlink()
    pyproject = onnx / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text.replace('"onnxruntime>=1.18,<2"', '"onnxruntime==1.31.1"')
        .replace('"Programming Language :: Python :: 3.13",\n', "")
        .replace(f'"edgeai-core~={version}"', '"edgeai-core>=0.1"')
    )
    readme = onnx / "README.md"
    readme.write_text(readme.read_text() + "\nSee [the docs](../../docs/plugins.md).\n")
    version_file = onnx / "src" / "edgeai_onnx" / "__init__.py"
    version_file.write_text(
        version_file.read_text().replace(f'__version__ = "{version}"', '__version__ = "9.9.9"')
    )
    problems = release.check(repo)
    where = "packages/edgeai-onnx: "
    assert problems == [
        where + "LICENSE must be a copy of the repository's LICENSE (cp LICENSE packages/edgeai-onnx/)",
        where + "classifiers lack 'Programming Language :: Python :: 3.13'",
        where + f"version 9.9.9 differs from the release version {version} "
        "(packages/edgeai-core/src/edgeai_core/__init__.py)",
        where + f"dependencies 'edgeai-core>=0.1': a sibling must be required as ~={version}",
        where + "dependencies 'onnxruntime==1.31.1': an exact pin in a published package clashes with the "
        "user's own install; use a compatible range (>=tested,<next major)",
        where + "README.md links to '../../docs/plugins.md': a package index cannot follow relative links",
    ]
