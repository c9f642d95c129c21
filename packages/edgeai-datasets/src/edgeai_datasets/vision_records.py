"""Records of the detection and segmentation datasets (``coco``, ``voc``, ``voc-segmentation``).

Imported by :mod:`edgeai_datasets.plugin`; like it, this module imports no numpy, Pillow or pycocotools.
"""

from __future__ import annotations

from edgeai_core import REQUIRED, DatasetRecord, Param

INSTALL = "edgeai-datasets"
#: Base of the official COCO downloads (``zips/val2017.zip``, ``annotations/annotations_trainval2017.zip``).
COCO_URL = "http://images.cocodataset.org/"


def vision_params(*, image_size: int = 320) -> tuple[Param, ...]:
    """Preprocessing and splitting parameters shared by the detection and segmentation datasets."""
    return (
        Param(
            "image_size",
            "int",
            default=image_size,
            minimum=8,
            maximum=4096,
            help="images are fitted into an image_size x image_size square (see resize); boxes and masks are "
            "scaled with them, so targets are in the pixels of the image as fed",
        ),
        Param(
            "resize",
            "choice",
            default="letterbox",
            choices=("letterbox", "stretch"),
            help="letterbox: keep the aspect ratio, longer side = image_size, pad right and bottom (black; "
            "masks: ignore value 255); stretch: scale width and height separately",
        ),
        Param(
            "layout",
            "choice",
            default="NCHW",
            choices=("NCHW", "NHWC"),
            help="axis order of the float32 RGB inputs: (N, 3, H, W) or (N, H, W, 3)",
        ),
        Param(
            "mean",
            "list[float]",
            default=None,
            help="per-channel mean subtracted after scaling pixels to [0, 1] (one value or three)",
        ),
        Param(
            "std",
            "list[float]",
            default=None,
            help="per-channel standard deviation divided by after subtracting mean (one value or three)",
        ),
        Param(
            "validation_fraction",
            "float",
            default=0.1,
            minimum=0.0,
            maximum=0.9,
            help="share of the images in the validation split (seeded; drawn from the official train list "
            "where there is one)",
        ),
        Param(
            "test_fraction",
            "float",
            default=0.2,
            minimum=0.0,
            maximum=0.9,
            help="share of the images in the test split (seeded; unused where an official train/val list "
            "gives the test split)",
        ),
        Param(
            "limit",
            "int",
            default=None,
            minimum=1,
            help="use at most this many images in all splits together (a seeded subset); a split costs "
            "images x 3 x image_size^2 x 4 bytes in memory",
        ),
    )


def voc_params(what: str) -> tuple[Param, ...]:
    return (
        Param(
            "root",
            "path",
            default=REQUIRED,
            help="the VOC folder (e.g. VOCdevkit/VOC2012) holding Annotations/, JPEGImages/, "
            "SegmentationClass/ and optionally ImageSets/",
        ),
        Param(
            "classes",
            "list[str]",
            default=None,
            help=f"class names in label order (default: {what}); for detection, objects of other classes "
            "are skipped when this is given",
        ),
        Param(
            "image_sets",
            "bool",
            default=True,
            help="use ImageSets/<Main|Segmentation>/train.txt and val.txt when both exist: val is the test "
            "split, validation is drawn from train",
        ),
    )


def vision_records() -> list[DatasetRecord]:
    """The ``coco``, ``voc`` and ``voc-segmentation`` records."""
    return [
        DatasetRecord(
            name="coco",
            summary="Object detection from a COCO instances JSON and its images (official val2017: opt-in "
            "download, about 1 GB)",
            factory="edgeai_datasets.coco:Coco",
            task="detection",
            install=INSTALL,
            params=(
                Param(
                    "annotations",
                    "path",
                    default=None,
                    help="a COCO-format instances JSON (images, annotations, categories); default: the "
                    "official val2017 in root",
                ),
                Param(
                    "images",
                    "path",
                    default=None,
                    help="folder of the image files (default: the JSON's folder, or <set>/ beside "
                    "annotations/ for annotations/instances_<set>.json)",
                ),
                Param(
                    "categories",
                    "list[str]",
                    default=None,
                    help="category names to keep, in label order (default: every category, sorted by id); "
                    "other annotations are dropped",
                ),
                Param(
                    "root",
                    "path",
                    default="~/.cache/edgeai/coco",
                    help="folder holding (or receiving) the official val2017 when annotations is not given",
                ),
                Param(
                    "download",
                    "bool",
                    default=False,
                    help="download the official val2017 images and annotations (about 1 GB) into root; "
                    "without it, missing files are an error",
                ),
                Param(
                    "url",
                    "str",
                    default=COCO_URL,
                    help="base URL the archive paths are appended to (a mirror)",
                ),
                Param(
                    "checksums",
                    "dict",
                    default=None,
                    help="expected digests per archive path ('zips/val2017.zip', "
                    "'annotations/annotations_trainval2017.zip') as 'md5:<hex>' or 'sha256:<hex>' (default: "
                    "the official MD5s; an empty table skips verification)",
                ),
                *vision_params(),
            ),
        ),
        DatasetRecord(
            name="voc",
            summary="Pascal VOC object detection: Annotations/*.xml and JPEGImages/ (VOCdevkit layout)",
            factory="edgeai_datasets.voc:Voc",
            task="detection",
            install=INSTALL,
            params=(
                *voc_params("the 20 VOC classes"),
                Param(
                    "include_difficult",
                    "bool",
                    default=False,
                    help="count objects marked difficult like the others (default: they are ignored "
                    "regions, neither rewarded nor penalized, as in VOC's evaluation)",
                ),
                *vision_params(),
            ),
        ),
        DatasetRecord(
            name="voc-segmentation",
            summary="Pascal VOC semantic segmentation: SegmentationClass/*.png palette masks (255 = ignored)",
            factory="edgeai_datasets.voc:VocSegmentation",
            task="segmentation",
            install=INSTALL,
            params=(*voc_params("background and the 20 VOC classes"), *vision_params()),
        ),
    ]
