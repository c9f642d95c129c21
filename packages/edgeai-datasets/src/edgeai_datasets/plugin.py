"""Registration of the datasets of edgeai-datasets (entry point ``datasets`` in the ``edgeai`` group).

Only records live here: this module imports neither scikit-learn nor Pillow, so listing, describing and
planning stay light. The implementations are imported when a dataset is built.
"""

from __future__ import annotations

from edgeai_core import REQUIRED, DatasetRecord, Param, hookimpl
from edgeai_core.api import KnownComponent
from edgeai_datasets.vision_records import vision_records

INSTALL = "edgeai-datasets"

#: Default download locations (bases; the file names are appended). Overridable with the ``url`` parameter.
PETS_URL = "https://www.robots.ox.ac.uk/~vgg/data/pets/data/"
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def image_params(
    *, image_size: int, channels: int, test_split: bool = True, cache_mb: int = 1024
) -> tuple[Param, ...]:
    """The preprocessing, splitting and memory parameters every image classification dataset shares."""
    params = [
        Param(
            "image_size",
            "int",
            default=image_size,
            minimum=1,
            maximum=4096,
            help="images are resized (Pillow, bilinear) to image_size x image_size pixels",
        ),
        Param(
            "channels",
            "int",
            default=channels,
            minimum=1,
            maximum=3,
            help="1 (grayscale) or 3 (RGB); images are converted as needed",
        ),
        Param(
            "layout",
            "choice",
            default="NCHW",
            choices=("NCHW", "NHWC"),
            help="axis order of the float32 inputs: (N, C, H, W) or (N, H, W, C)",
        ),
        Param(
            "mean",
            "list[float]",
            default=None,
            help="per-channel mean subtracted after scaling pixels to [0, 1] (one value or one per channel)",
        ),
        Param(
            "std",
            "list[float]",
            default=None,
            help="per-channel standard deviation divided by after subtracting mean (one value or one per channel)",
        ),
        Param(
            "validation_fraction",
            "float",
            default=0.1,
            minimum=0.0,
            maximum=0.9,
            help="share of the samples in the validation split (stratified, seeded)",
        ),
    ]
    if test_split:
        params.append(
            Param(
                "test_fraction",
                "float",
                default=0.2,
                minimum=0.0,
                maximum=0.9,
                help="share of the samples in the test split (stratified, seeded)",
            )
        )
    params += [
        Param(
            "limit",
            "int",
            default=None,
            minimum=1,
            help="use at most this many samples in all splits together (a stratified, seeded subset)",
        ),
        Param(
            "cache_mb",
            "int",
            default=cache_mb,
            minimum=0,
            help="memory budget in MiB for decoded splits; a split beyond it is decoded to a disk-backed "
            "temporary array instead",
        ),
    ]
    return tuple(params)


def download_params(name: str, url: str, size: str) -> tuple[Param, ...]:
    """``root``, ``download``, ``url`` and ``checksums`` of a dataset fetched from the internet."""
    return (
        Param(
            "root",
            "path",
            default=f"~/.cache/edgeai/{name}",
            help="folder holding (or receiving) the dataset files",
        ),
        Param(
            "download",
            "bool",
            default=False,
            help=f"download missing files ({size}) into root; without it, missing files are an error",
        ),
        Param("url", "str", default=url, help="base URL the file names are appended to (a mirror)"),
        Param(
            "checksums",
            "dict",
            default=None,
            help="expected digests per file name as 'sha256:<hex>' or 'md5:<hex>' (default: the official "
            "ones; an empty table skips verification, for a mirror that repacked the files)",
        ),
    )


def shapes_params() -> tuple[Param, ...]:
    """The generator parameters ``shapes`` and ``shapes-segmentation`` share."""
    return (
        Param("samples", "int", default=1200, minimum=3, help="images generated (all splits together)"),
        Param("image_size", "int", default=64, minimum=16, maximum=1024, help="square image side in pixels"),
        Param(
            "max_objects", "int", default=3, minimum=1, maximum=32, help="shapes per image: 1..max_objects"
        ),
        Param("min_size", "int", default=10, minimum=3, help="smallest shape side in pixels"),
        Param("max_size", "int", default=24, minimum=3, help="largest shape side in pixels"),
        Param(
            "noise",
            "float",
            default=0.03,
            minimum=0.0,
            maximum=1.0,
            help="standard deviation of the pixel noise, as a share of the 0..255 range",
        ),
        Param("seed", "int", default=None, help="generator seed (default: the run's seed)"),
        Param(
            "layout",
            "choice",
            default="NCHW",
            choices=("NCHW", "NHWC"),
            help="axis order of the float32 inputs in [0, 1]: (N, 3, H, W) or (N, H, W, 3)",
        ),
        Param(
            "validation_fraction",
            "float",
            default=0.1,
            minimum=0.0,
            maximum=0.9,
            help="share of the images in the validation split (after the training images)",
        ),
        Param(
            "test_fraction",
            "float",
            default=0.2,
            minimum=0.0,
            maximum=0.9,
            help="share of the images in the test split (the last ones)",
        ),
    )


@hookimpl
def edgeai_register_datasets() -> list[DatasetRecord]:
    return [
        DatasetRecord(
            name="shapes",
            summary="Seeded rectangles, ellipses and triangles with exact boxes (detection; nothing downloaded)",
            factory="edgeai_datasets.shapes:Shapes",
            task="detection",
            install=INSTALL,
            params=shapes_params(),
        ),
        DatasetRecord(
            name="shapes-segmentation",
            summary="The shapes images with exact per-pixel masks: background + 3 classes (segmentation)",
            factory="edgeai_datasets.shapes:ShapesSegmentation",
            task="segmentation",
            install=INSTALL,
            params=shapes_params(),
        ),
        DatasetRecord(
            name="digits",
            summary="scikit-learn's bundled handwritten digits: 1797 real 8x8 images, 10 classes (no download)",
            factory="edgeai_datasets.digits:Digits",
            task="classification",
            install=INSTALL,
            params=image_params(image_size=8, channels=1),
        ),
        DatasetRecord(
            name="image-folder",
            summary="Your images in root/<class_name>/*.png|jpg|jpeg|bmp|gif|webp, one folder per class",
            factory="edgeai_datasets.image_folder:ImageFolder",
            task="classification",
            install=INSTALL,
            params=(
                Param("root", "path", default=REQUIRED, help="folder with one subfolder of images per class"),
                *image_params(image_size=224, channels=3),
            ),
        ),
        DatasetRecord(
            name="oxford-pets",
            summary="Oxford-IIIT Pet: 37 cat and dog breeds, 7349 photos (opt-in download, about 800 MB)",
            factory="edgeai_datasets.oxford_pets:OxfordPets",
            task="classification",
            install=INSTALL,
            params=(
                *download_params("oxford-pets", PETS_URL, "about 800 MB"),
                *image_params(image_size=224, channels=3),
            ),
        ),
        DatasetRecord(
            name="mnist",
            summary="MNIST handwritten digits from IDX files: 60000 train, 10000 test (opt-in download, 12 MB)",
            factory="edgeai_datasets.mnist:Mnist",
            task="classification",
            install=INSTALL,
            params=(
                *download_params("mnist", MNIST_URL, "about 12 MB"),
                *image_params(image_size=28, channels=1, test_split=False),
            ),
        ),
        DatasetRecord(
            name="synthetic",
            summary="Seeded random inputs shaped like each of the model's inputs (no labels; latency only)",
            factory="edgeai_datasets.synthetic:Synthetic",
            task="any",
            install=INSTALL,
            params=(
                Param("samples", "int", default=256, minimum=1, help="inputs per split"),
                Param(
                    "distribution",
                    "choice",
                    default="normal",
                    choices=("normal", "uniform"),
                    help="float inputs: standard normal, or uniform in [low, high); integer inputs are always "
                    "uniform integers in [low, high]",
                ),
                Param(
                    "shape",
                    "list[int]",
                    default=None,
                    minimum=1,
                    help="per-sample shape (without the batch axis); needed when the model's input has "
                    "dynamic dimensions besides the batch",
                ),
                Param(
                    "low",
                    "float",
                    default=None,
                    help="uniform lower bound (default 0 for floats, the dtype's minimum for integers)",
                ),
                Param(
                    "high",
                    "float",
                    default=None,
                    help="uniform upper bound (default 1 for floats, the dtype's maximum for integers)",
                ),
                Param(
                    "dynamic",
                    "int",
                    default=None,
                    minimum=1,
                    help="size for every dynamic dimension besides the batch (the fixed dims are logged)",
                ),
                Param(
                    "inputs",
                    "dict",
                    default=None,
                    help="per-input settings by input name: low, high, distribution, shape "
                    "(e.g. inputs = {scores = {low = 0, high = 1}} or --set dataset.inputs.scores.low=0)",
                ),
            ),
        ),
        DatasetRecord(
            name="files",
            summary="Your own input arrays: one .npz (keys = input names) or one .npy per input, optional labels",
            factory="edgeai_datasets.files:Files",
            task="any",
            install=INSTALL,
            params=(
                Param("path", "path", default=None, help="a .npz whose keys are the model's input names"),
                Param(
                    "inputs",
                    "dict",
                    default=None,
                    help='input name -> .npy file (e.g. inputs = {boxes = "b.npy", scores = "s.npy"})',
                ),
                Param(
                    "labels",
                    "str",
                    default=None,
                    help="integer labels, one per sample: a key of the .npz or a .npy file (task "
                    "classification; without labels quality is not applicable)",
                ),
                Param(
                    "split",
                    "choice",
                    default="random",
                    choices=("random", "all"),
                    help="random: seeded fractions (the rest is train); all: every split holds every sample",
                ),
                Param(
                    "validation_fraction",
                    "float",
                    default=0.2,
                    minimum=0.0,
                    maximum=0.9,
                    help="share of the samples in the validation split (split = random)",
                ),
                Param(
                    "test_fraction",
                    "float",
                    default=0.2,
                    minimum=0.0,
                    maximum=0.9,
                    help="share of the samples in the test split (split = random)",
                ),
            ),
        ),
        *vision_records(),  # coco, voc, voc-segmentation (detection and segmentation)
    ]


# Models of sibling distributions that train on or evaluate these datasets.
@hookimpl
def edgeai_known_components() -> list[KnownComponent]:
    return KnownComponent.catalog(
        {
            "edgeai-torch": ["model:digits-cnn", "model:mobilenetv2"],
            "edgeai-tflite": [
                "model:digits-cnn-keras",
                "model:mobilenetv2-keras",
                "model:keras-file",
                "model:savedmodel-dir",
                "model:tflite-file",
            ],
            "edgeai-onnx": ["model:onnx-file"],
        }
    )
