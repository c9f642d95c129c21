"""edgeai-datasets: datasets for edgeai pipelines.

Importing this package (or its :mod:`edgeai_datasets.plugin` registration module) imports neither
scikit-learn nor Pillow: listing and planning stay light, and the implementation modules named by the
records' factories are imported only when a dataset is built.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
