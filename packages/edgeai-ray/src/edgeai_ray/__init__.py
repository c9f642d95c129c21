"""edgeai-ray: the ``ray`` executor for ``edgeai sweep`` (see :mod:`edgeai_ray.executor`)."""

__version__ = "0.1.0"
