"""A plugin whose components break their contracts, one way each (registered in-process by the tests).

Each component works like a core built-in except for what it returns: a model that returns the path of its
file instead of an Artifact, a runtime whose ``infer`` returns the array instead of a list, a dataset whose
targets do not align with its inputs, a compiler that makes another format than its record declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edgeai_core.api import (
    Artifact,
    CompilerRecord,
    Converter,
    ConverterRecord,
    DatasetRecord,
    ModelRecord,
    RuntimeRecord,
    Split,
    hookimpl,
)
from edgeai_core.builtins.blobs import GaussianBlobs
from edgeai_core.builtins.mlp import NumpyMlp, NumpyRuntime, WeightInt8


class PathModel(NumpyMlp):
    """Returns the model file's path, as a plugin author once did."""

    def train(self, dataset: Any) -> Any:  # prepare() trains, so it returns the path too
        return super().train(dataset).path


class NoIOModel(NumpyMlp):
    def prepare(self, dataset: Any) -> Any:
        artifact = super().prepare(dataset)
        return Artifact(artifact.path, artifact.format, None, metadata=dict(artifact.metadata))  # type: ignore[arg-type]


class ArrayRuntime(NumpyRuntime):
    """``infer`` returns the output array itself instead of a list of one array."""

    def infer(self, inputs: Sequence[np.ndarray]) -> Any:
        return super().infer(inputs)[0]


class ExtraOutputRuntime(NumpyRuntime):
    def infer(self, inputs: Sequence[np.ndarray]) -> Any:
        out = super().infer(inputs)[0]
        return [out, out]


class FewRowsRuntime(NumpyRuntime):
    def infer(self, inputs: Sequence[np.ndarray]) -> Any:
        return [super().infer(inputs)[0][:1]]


class ShortTargets(GaussianBlobs):
    """The test split loses its last target."""

    def split(self, name: str) -> Any:
        split = super().split(name)
        return Split(split.input, split.targets[:-1]) if name == "test" else split


class TupleSplit(GaussianBlobs):
    def split(self, name: str) -> Any:
        split = super().split(name)
        return (split.input, split.targets) if name == "test" else split


class WrongFormatCompiler(WeightInt8):
    """Declares npz-mlp but hands back an artifact labelled mlp-json."""

    def compile(self, artifact: Artifact, dataset: Any) -> Any:
        made = super().compile(artifact, dataset)
        return Artifact(made.path, "mlp-json", made.io, metadata=dict(made.metadata))


class NoneConverter(Converter):
    def convert(self, artifact: Artifact) -> Any:
        return None


_MODULE = "edgeai_misbehaving_plugin"


def _like(record: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(record, provider="", **changes)


def _core(kind: str, name: str) -> Any:
    import edgeai_core.plugin

    hook = {"dataset": "datasets", "model": "models", "compiler": "compilers", "runtime": "runtimes"}[kind]
    records = getattr(edgeai_core.plugin, f"edgeai_register_{hook}")()
    return next(r for r in records if r.name == name)


def _at(name: str) -> str:
    """The factory path of ``name`` in this module."""
    return f"{_MODULE}:{name}"


@hookimpl
def edgeai_register_models() -> list[ModelRecord]:
    mlp = _core("model", "numpy-mlp")
    return [
        _like(mlp, name="path-net", summary="returns a path", factory=_at("PathModel")),
        _like(mlp, name="no-io-net", summary="returns an artifact without IO spec", factory=_at("NoIOModel")),
    ]


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    numpy_rt = _core("runtime", "numpy")
    return [
        _like(numpy_rt, name="array-rt", summary="infer returns an array", factory=_at("ArrayRuntime")),
        _like(numpy_rt, name="two-out-rt", summary="infer returns two", factory=_at("ExtraOutputRuntime")),
        _like(numpy_rt, name="one-row-rt", summary="infer returns one row", factory=_at("FewRowsRuntime")),
        _like(numpy_rt, name="copy-rt", summary="loads npz-mlp-copy", formats=("npz-mlp-copy",)),
    ]


@hookimpl
def edgeai_register_datasets() -> list[DatasetRecord]:
    blobs = _core("dataset", "gaussian-blobs")
    return [
        _like(blobs, name="short-targets", summary="targets shorter", factory=_at("ShortTargets")),
        _like(blobs, name="tuple-split", summary="split is a tuple", factory=_at("TupleSplit")),
    ]


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    int8 = _core("compiler", "weight-int8")
    return [
        _like(int8, name="wrong-format", summary="lies about its format", factory=_at("WrongFormatCompiler"))
    ]


@hookimpl
def edgeai_register_converters() -> list[ConverterRecord]:
    return [
        ConverterRecord(
            name="none-converter",
            summary="returns None",
            factory=_at("NoneConverter"),
            input_format="npz-mlp",
            output_format="npz-mlp-copy",
        )
    ]
