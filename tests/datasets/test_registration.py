"""Registration: light plugin module, documented parameters, discovery through the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeai_core.plugins import PluginHost

DATASETS = {
    "digits",
    "image-folder",
    "oxford-pets",
    "mnist",
    "synthetic",
    "files",
    "shapes",
    "shapes-segmentation",
    "coco",
    "voc",
    "voc-segmentation",
}
#: the detection and segmentation datasets and their tasks
VISION = {
    "coco": "detection",
    "voc": "detection",
    "voc-segmentation": "segmentation",
    "shapes": "detection",
    "shapes-segmentation": "segmentation",
}
README = Path(__file__).resolve().parents[2] / "packages" / "edgeai-datasets" / "README.md"

PROBE = """
import json, sys
import edgeai_datasets.plugin
from edgeai_core.config import parse_config
from edgeai_core.plugins import PluginHost
from edgeai_core.planner import plan_pipeline

host = PluginHost(discover=False, env={})
import edgeai_core.plugin
host.register(edgeai_core.plugin, name="core", distribution="edgeai-core", version="0.1.0")
host.register(edgeai_datasets.plugin, name="datasets", distribution="edgeai-datasets", version="0.1.0")
schemas = [r.params.json_schema(title=r.qualified_name) for r in host.records("dataset")]
for name in ("digits", "synthetic", "oxford-pets"):
    plan_pipeline(parse_config({
        "dataset": {"name": name},
        "model": {"name": "numpy-mlp"},
        "runtime": {"name": "numpy"},
    }), host)
heavy = sorted(m for m in ("sklearn", "PIL", "scipy", "torch", "tensorflow", "pycocotools") if m in sys.modules)
json.dump({"heavy": heavy, "schemas": len(schemas)}, sys.stdout)
"""


@pytest.mark.subprocess
def test_listing_and_planning_import_neither_sklearn_nor_pillow() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report == {"heavy": [], "schemas": 12}


def test_every_dataset_and_parameter_is_documented(host: PluginHost) -> None:
    readme = README.read_text(encoding="utf-8")
    records = {r.name: r for r in host.records("dataset") if r.provider == "edgeai-datasets"}
    assert set(records) == DATASETS
    for record in records.values():
        assert f"`{record.name}`" in readme
        assert record.install == "edgeai-datasets"
        for param in record.params:
            assert param.help.strip(), (record.name, param.name)
            assert f"`{param.name}`" in readme, (record.name, param.name)
    assert records["synthetic"].task == "any" and records["files"].task == "any"  # files: by its labels
    assert {records[n].task for n in DATASETS - {"synthetic", "files", *VISION}} == {"classification"}
    assert {n: records[n].task for n in VISION} == VISION


def test_defaults_per_dataset(host: PluginHost) -> None:
    def defaults(name: str) -> dict[str, object]:
        return host.get("dataset", name).params.defaults()

    assert defaults("digits")["image_size"] == 8 and defaults("digits")["channels"] == 1
    assert defaults("mnist")["image_size"] == 28 and "test_fraction" not in defaults("mnist")
    for name in ("image-folder", "oxford-pets"):
        assert defaults(name)["image_size"] == 224 and defaults(name)["channels"] == 3
    pets = defaults("oxford-pets")
    assert (
        pets["download"] is False
        and Path(str(pets["root"])) == Path("~/.cache/edgeai/oxford-pets").expanduser()
    )
    assert pets["url"] == "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"
    assert host.get("dataset", "image-folder").params["root"].required


def test_the_installed_distribution_is_discovered() -> None:
    """Through the real ``edgeai`` entry point group (the package must be installed)."""
    host = PluginHost(env={})
    found = {r.name: r for r in host.records("dataset")}
    assert set(found) >= DATASETS
    assert {found[n].provider for n in DATASETS} == {"edgeai-datasets"}
    info = {p.name: p for p in host.plugin_infos()}
    assert info["datasets"].status == "ok"


def test_describe_json_is_a_schema() -> None:
    from edgeai_core.cli import cli

    result = CliRunner().invoke(cli, ["describe", "mnist", "--json"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["properties"]["download"]["default"] is False
    assert "test_fraction" not in schema["properties"]
    assert schema["properties"]["layout"]["enum"] == ["NCHW", "NHWC"]
