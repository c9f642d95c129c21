"""The distribution as pip installed it: edgeai discovers the plugin through its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata

import pytest

from edgeai_core.plugins import PluginHost


@pytest.fixture
def installed() -> None:
    try:
        metadata.distribution("edgeai-plugin-template")
    except metadata.PackageNotFoundError:
        pytest.skip("edgeai-plugin-template is not installed (pip install this folder first)")


def test_entry_point_brings_the_three_components(installed: None) -> None:
    host = PluginHost(env={"EDGEAI_LOAD_PLUGINS": "template", "EDGEAI_STRICT_PLUGINS": "1"})
    assert host.names()["dataset"] == ["gaussian-blobs", "template-waves"]
    assert "template-fp16" in host.names()["compiler"]
    assert host.get("runtime", "template-numpy").provider == "edgeai-plugin-template"


def test_edgeai_plugins_lists_it_ok(installed: None) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edgeai_core", "plugins", "--json"], capture_output=True, text=True, check=True
    )
    [plugin] = [p for p in json.loads(done.stdout)["plugins"] if p["name"] == "template"]
    assert plugin["status"] == "ok", plugin["error"]
    assert plugin["distribution"] == "edgeai-plugin-template"
    assert {(c["kind"], c["name"]) for c in plugin["components"]} == {
        ("dataset", "template-waves"),
        ("compiler", "template-fp16"),
        ("runtime", "template-numpy"),
    }
