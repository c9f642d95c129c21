"""The core's built-in components: numpy-only, so a bare ``pip install edgeai-core`` can run a pipeline.

They are registered through the core's own entry point (:mod:`edgeai_core.plugin`), the same road every
third-party plugin takes.
"""
