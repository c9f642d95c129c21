"""Image preprocessing shared by the image datasets: channels, resizing, scaling, normalization, layout.

The pipeline is the same for every dataset, so a model sees comparable inputs whichever dataset fed it:

1. convert to grayscale (``L``) or RGB with Pillow (luma ITU-R 601-2 for RGB -> gray; gray -> RGB repeats the
   channel),
2. resize to ``size x size`` with Pillow's bilinear filter (skipped when the image already has that size),
3. scale the uint8 pixels to [0, 1] (divide by 255),
4. subtract ``mean`` and divide by ``std`` per channel when given,
5. order the axes as ``NCHW`` or ``NHWC``; the result is contiguous float32.

Steps 1-2 give uint8 ``(N, size, size, C)`` arrays (4x smaller than float32); steps 3-5 run per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from edgeai_core.api import DatasetError

#: Pillow's bilinear filter (``Image.Resampling`` exists since Pillow 9.1; the package needs >= 10).
BILINEAR = Image.Resampling.BILINEAR


def pil_to_array(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """One Pillow image as uint8 ``(size, size, channels)``."""
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # Pillow warns when palette transparency is converted directly
        image = image.convert(mode)
    if image.size != (size, size):
        image = image.resize((size, size), BILINEAR)
    return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def arrays_to_uint8(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """A uint8 batch ``(N, H, W)`` or ``(N, H, W, C)`` as ``(N, size, size, channels)``.

    Vectorized when only gray -> RGB is needed; otherwise each image goes through Pillow, so the result is
    exactly what :func:`pil_to_array` gives for the same picture.
    """
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    n, height, width, have = images.shape
    if (height, width) == (size, size) and have == channels:
        return images
    if (height, width) == (size, size) and have == 1 and channels == 3:
        return np.repeat(images, 3, axis=3)
    out = np.empty((n, size, size, channels), np.uint8)
    for i in range(n):
        picture = Image.fromarray(images[i, :, :, 0] if have == 1 else images[i])
        out[i] = pil_to_array(picture, size, channels)
    return out


def decode_file(path: Path, size: int, channels: int) -> np.ndarray:
    """Decode one image file as uint8 ``(size, size, channels)``; an unreadable file is a DatasetError."""
    try:
        with Image.open(path) as image:
            return pil_to_array(image, size, channels)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{path}: cannot read this image ({exc}); replace or delete the file") from None


def finish(
    batch: np.ndarray,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    layout: str,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` -> float32 in [0, 1], normalized, in ``layout``; written into ``out`` if given."""
    x = batch.astype(np.float32)
    x /= np.float32(255.0)  # a division keeps 255 at exactly 1.0
    if mean is not None:
        x -= np.asarray(mean, np.float32)
    if std is not None:
        x /= np.asarray(std, np.float32)
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    if out is None:
        return np.ascontiguousarray(x)
    out[...] = x
    return out
