"""edgeai-datasets: datasets for edgeai pipelines.

Importing this package (or its :mod:`edgeai_datasets.plugin` registration module) imports neither
scikit-learn nor Pillow: listing and planning stay light, and the implementation modules named by the
records' factories are imported only when a dataset is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeai_datasets.vision_metrics import detection_metrics, segmentation_metrics

__version__ = "0.1.0"

__all__ = ["__version__", "detection_metrics", "segmentation_metrics"]

#: public names loaded on first use (edgeai_datasets.vision_metrics needs numpy; pycocotools only when called)
_LAZY = {"detection_metrics": "vision_metrics", "segmentation_metrics": "vision_metrics"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"edgeai_datasets.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'edgeai_datasets' has no attribute {name!r}")
