"""edgeai-datasets' datasets pass the plugin-author conformance kit (edgeai_core.testing).

``oxford-pets`` is left out: its layout (two tar archives of about 800 MB) is exercised by test_oxford_pets.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.artifacts import IOSpec, TensorSpec
from edgeai_core.testing import DatasetConformance

PLUGIN = "edgeai_datasets.plugin"


class TestDigits(DatasetConformance):
    plugin = PLUGIN
    component = "digits"
    params = {"limit": 200}  # noqa: RUF012


class TestSynthetic(DatasetConformance):
    plugin = PLUGIN
    component = "synthetic"
    params = {"samples": 16}  # noqa: RUF012
    io_spec = IOSpec(
        (TensorSpec("input", (None, 1, 8, 8), "float32"),), (TensorSpec("y", (None, 10), "float32"),)
    )


class TestImageFolder(DatasetConformance):
    plugin = PLUGIN
    component = "image-folder"

    def component_params(self, workdir: Path) -> dict[str, Any]:
        from PIL import Image

        root = workdir / "images"
        rng = np.random.default_rng(0)
        for label, name in enumerate(("apple", "banana", "cherry")):
            (root / name).mkdir(parents=True, exist_ok=True)
            for i in range(10):
                pixels = np.clip(rng.normal(60 * label + 40, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / name / f"img{i:02d}.png")
        return {"root": str(root), "image_size": 8}


class TestMnist(DatasetConformance):
    plugin = PLUGIN
    component = "mnist"

    def component_params(self, workdir: Path) -> dict[str, Any]:
        root = workdir / "mnist"
        root.mkdir(parents=True, exist_ok=True)
        for prefix, count in (("train", 40), ("t10k", 20)):
            labels = (np.arange(count) % 10).astype(np.uint8)
            images = np.zeros((count, 28, 28), np.uint8)
            images[:, 4:-4, 4:-4] = (20 * labels + 30)[:, None, None]
            for kind, array, magic in (("images-idx3", images, 0x803), ("labels-idx1", labels, 0x801)):
                header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
                (root / f"{prefix}-{kind}-ubyte").write_bytes(header + array.tobytes())
        return {"root": str(root)}


class TestShapes(DatasetConformance):
    plugin = PLUGIN
    component = "shapes"
    params = {"samples": 40}  # noqa: RUF012


class TestShapesSegmentation(DatasetConformance):
    plugin = PLUGIN
    component = "shapes-segmentation"
    params = {"samples": 40}  # noqa: RUF012
