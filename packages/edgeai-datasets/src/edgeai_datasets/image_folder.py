"""``image-folder``: a user's images, one subfolder per class (``root/<class_name>/*.png``).

Class names are the sorted subfolder names (hidden folders, starting with '.', are skipped); files with the
extensions in :data:`EXTENSIONS` (any case) are the samples, in sorted order, so the sample order and
therefore the splits do not depend on the file system. Images are decoded when a split is first used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeai_core.api import DatasetError
from edgeai_datasets.base import ImageClassificationDataset, SampleIndex

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def scan_folder(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """``(paths, labels, class_names)`` of an image folder; DatasetError naming the folder when it is unusable."""
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DatasetError(f"dataset.root: {root} {what}; point it at a folder with one subfolder per class")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(
            f"{root} has no class subfolders; put the images of each class in root/<class_name>/"
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = root / name
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS and p.name[0] != "."
        )
        if not files:
            raise DatasetError(
                f"{folder} holds no images ({', '.join(EXTENSIONS)}); add some or remove the folder"
            )
        paths += files
        labels += [label] * len(files)
    return paths, labels, classes


class ImageFolder(ImageClassificationDataset):
    """Images in ``root/<class_name>/``; an unreadable image is a DatasetError naming the file when decoded."""

    _paths: list[Path]

    def _load_index(self) -> SampleIndex:
        paths, labels, classes = scan_folder(Path(self.params["root"]))
        self._paths = paths
        return SampleIndex(np.asarray(labels, dtype=np.int64), classes)

    def _load_images(self, indices: np.ndarray) -> np.ndarray:
        return self._decode_files([self._paths[i] for i in indices])
