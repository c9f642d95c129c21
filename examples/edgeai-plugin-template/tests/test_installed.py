"""The distribution as pip installed it: edgeai discovers the plugin through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from typing import Any

import pytest

from edgeai_core.testing import RuntimeConformance


def is_installed() -> bool:
    try:
        metadata.distribution("edgeai-plugin-template")
    except metadata.PackageNotFoundError:
        return False
    return True


NOT_INSTALLED = "edgeai-plugin-template is not installed (pip install this folder first)"


@pytest.fixture
def installed() -> None:
    if not is_installed():
        pytest.skip(NOT_INSTALLED)


@pytest.mark.skipif(not is_installed(), reason=NOT_INSTALLED)
class TestInstalledRuntime(RuntimeConformance):
    """The runtime as `edgeai` finds it: plugin None discovers the installed plugins through their entry points."""

    plugin = None
    component = "template-numpy"
    model, model_params = "numpy-mlp", {"hidden": [8], "epochs": 5}
    dataset, dataset_params = "template-waves", {"samples": 120}
    reference_runtime = "numpy"


def edgeai(*args: str) -> Any:
    """``edgeai ARGS --json`` with only this plugin (and the core's built-ins) loaded, strictly."""
    env = {**os.environ, "EDGEAI_LOAD_PLUGINS": "template", "EDGEAI_STRICT_PLUGINS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "edgeai_core", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(done.stdout)


def test_edgeai_plugins_lists_it_ok(installed: None) -> None:
    [plugin] = [p for p in edgeai("plugins")["plugins"] if p["name"] == "template"]
    assert plugin["status"] == "ok", plugin["error"]
    assert plugin["distribution"] == "edgeai-plugin-template"
    assert {(c["kind"], c["name"]) for c in plugin["components"]} == {
        ("dataset", "template-waves"),
        ("compiler", "template-fp16"),
        ("runtime", "template-numpy"),
    }


def test_edgeai_list_shows_the_runtime_with_its_parameter(installed: None) -> None:
    runtimes = {r["name"]: r for r in edgeai("list", "runtime")}
    mine = runtimes["template-numpy"]
    assert mine["provider"] == "edgeai-plugin-template"
    assert mine["formats"] == ["npz-mlp"]
    assert mine["params"] == ["precision"]
