"""TensorFlow and Keras, imported once and quietly.

Only the compile side imports this module (importing TensorFlow costs seconds and ~640 MB). Its C++ start-up
lines (``oneDNN custom operations are on ...``, written before absl logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` does not hide them) go to edgeai's debug log, as does everything :func:`quiet` captures
around conversions.
"""

from __future__ import annotations

import logging
import os

from edgeai_core.api import EdgeaiError
from edgeai_tflite._capture import quiet

os.environ.setdefault(
    "TF_CPP_MIN_LOG_LEVEL", "2"
)  # before the first import of TensorFlow; a user's value wins
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

with quiet("TensorFlow's import"):
    import keras
    import tensorflow as tf

log = logging.getLogger(__name__)

__all__ = ["keras", "quiet", "require_tensorflow_backend", "tf", "versions"]


def require_tensorflow_backend() -> None:
    """Keras must run on TensorFlow: SavedModel export and the TFLite converter need TensorFlow graphs."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise EdgeaiError(
            f"edgeai-tflite needs Keras' TensorFlow backend, but KERAS_BACKEND selects '{backend}'; "
            "unset KERAS_BACKEND or set it to tensorflow"
        )


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}
