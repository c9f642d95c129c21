"""``oxford-pets``: the Oxford-IIIT Pet dataset, breed classification (37 classes), as in Kenning's PetDataset.

Files (https://www.robots.ox.ac.uk/~vgg/data/pets/): ``images.tar.gz`` (folder ``images/*.jpg``) and
``annotations.tar.gz`` (folder ``annotations/`` with ``list.txt``: comment lines starting with '#', then
``Image CLASS-ID SPECIES BREED-ID`` lines such as ``Abyssinian_100 1 1 1``). The class of an image is its
CLASS-ID (1..37); the class name is the image name without the trailing ``_<number>`` (``Abyssinian``,
``american_bulldog``). Only images listed in ``list.txt`` are used (7349 of the 7390 files).

The download (about 800 MB) happens only with ``download=true``. The archives are checked against their
official MD5s (or the ``checksums`` parameter) before they are extracted into ``root``; a marker file per
archive makes extraction happen once. Folders ``images/`` and ``annotations/`` already extracted by hand
are used as they are. A 224x224 RGB split is large (see :mod:`edgeai_datasets.base` for ``cache_mb``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgeai_core.api import DatasetError
from edgeai_datasets.base import ImageClassificationDataset, SampleIndex
from edgeai_datasets.download import (
    checksums_for,
    extract_tar,
    extraction_marker,
    fetch,
    join_url,
    missing_data_error,
    verify,
)

log = logging.getLogger(__name__)

#: The official archives and their MD5s (as published with torchvision's OxfordIIITPet).
ARCHIVES: dict[str, str | None] = {
    "images.tar.gz": "md5:5c4f3ee8e5d25df40f4fd59a7f44e54c",
    "annotations.tar.gz": "md5:95a8c909bbe2e81eed6a22bccdf3f68f",
}
#: What each archive leaves in root, for folders extracted by hand.
CONTENTS = {"images.tar.gz": "images", "annotations.tar.gz": "annotations/list.txt"}
SIZE = "about 800 MB"


def parse_list(path: Path) -> tuple[list[str], list[int], dict[int, str]]:
    """``annotations/list.txt`` -> image names, CLASS-IDs and the breed name of every CLASS-ID."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"{path}: cannot read it ({exc}); delete annotations/ and extract it again"
        ) from None
    names: list[str] = []
    ids: list[int] = []
    breeds: dict[int, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 4 or not fields[1].isdigit():
            raise DatasetError(
                f"{path}:{lineno}: expected 'Image CLASS-ID SPECIES BREED-ID' (e.g. 'Abyssinian_100 1 1 1'), "
                f"got {line!r}"
            )
        name, class_id = fields[0], int(fields[1])
        stem, sep, number = name.rpartition("_")
        breed = stem if sep and number.isdigit() else name
        if breeds.setdefault(class_id, breed) != breed:
            raise DatasetError(
                f"{path}:{lineno}: CLASS-ID {class_id} is '{breeds[class_id]}' above but '{breed}' here"
            )
        names.append(name)
        ids.append(class_id)
    if not names:
        raise DatasetError(f"{path} lists no images")
    return names, ids, breeds


class OxfordPets(ImageClassificationDataset):
    """The 37 breeds of Oxford-IIIT Pet; class names from the image names, ordered by CLASS-ID."""

    _paths: list[Path]

    def _load_index(self) -> SampleIndex:
        root = Path(self.params["root"]).expanduser()
        self._ensure_files(root)
        names, ids, breeds = parse_list(root / "annotations" / "list.txt")
        order = sorted(breeds)  # CLASS-IDs 1..37; any gaps are closed up
        label_of = {class_id: i for i, class_id in enumerate(order)}
        images = root / "images"
        paths = [images / f"{name}.jpg" for name in names]
        for path in paths:
            if not path.is_file():
                raise DatasetError(
                    f"{path} is listed in annotations/list.txt but missing; delete {images} and the "
                    f"marker {extraction_marker(root / 'images.tar.gz', root).name} to extract it again"
                )
        self._paths = paths
        labels = np.asarray([label_of[i] for i in ids], dtype=np.int64)
        return SampleIndex(labels, [breeds[i] for i in order])

    def _load_images(self, indices: np.ndarray) -> np.ndarray:
        return self._decode_files([self._paths[i] for i in indices])

    def _ensure_files(self, root: Path) -> None:
        """Extract what is there; download what is missing if allowed; else say how to get it."""
        checksums = checksums_for(self.params["checksums"], ARCHIVES)
        missing = []
        for archive, content in CONTENTS.items():
            path = root / archive
            if extraction_marker(path, root).exists():
                continue
            if path.is_file():
                verify(path, checksums[archive])
                extract_tar(path, root, progress=self.context.progress)
            elif not (root / content).exists():
                missing.append(archive)
        if not missing:
            return
        if not self.params["download"]:
            raise missing_data_error(self.name, root, missing, list(ARCHIVES), SIZE)
        for archive in missing:
            path = fetch(
                join_url(self.params["url"], archive),
                root / archive,
                checksum=checksums[archive],
                progress=self.context.progress,
            )
            extract_tar(path, root, progress=self.context.progress)
