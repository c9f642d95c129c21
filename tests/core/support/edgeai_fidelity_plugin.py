"""Components for the fidelity tests (registered in-process): a compiler that damages the model on purpose, and a
model in a format no runtime loads with its converter."""

from __future__ import annotations

import shutil

import numpy as np

from edgeai_core import CompilerRecord, ConverterRecord, ModelRecord, Param, hookimpl
from edgeai_core.artifacts import Artifact
from edgeai_core.builtins.mlp import FORMAT, _layers, io_spec, read_npz
from edgeai_core.components import Compiler, Converter, Dataset, Model

#: a format no installed runtime loads (like keras without a keras runtime)
OPAQUE = "opaque-npz"


class NoisyWeights(Compiler):
    """Adds seeded noise to every float weight; ``precision`` says what the step claims to be."""

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        rng = np.random.default_rng(self.context.seed)
        weights = read_npz(artifact.path)
        noisy = {
            k: (v + rng.normal(0, self.params["noise"], v.shape)).astype(v.dtype)
            if v.dtype.kind == "f"
            else v
            for k, v in weights.items()
        }
        path = self.context.workdir / "noisy.npz"
        np.savez(path, **noisy)
        metadata = {**artifact.metadata, "noise": self.params["noise"]}
        if self.params["precision"]:
            metadata["precision"] = self.params["precision"]
        return self.save_artifact(path, FORMAT, artifact.io, metadata)


class OpaqueMlp(Model):
    """An npz-mlp checkpoint in a format no runtime loads."""

    def prepare(self, dataset: Dataset | None) -> Artifact:
        path = self.context.workdir / "model.opaque"
        shutil.copyfile(self.params["checkpoint"], path)
        layers = _layers(read_npz(path))
        return self.save_artifact(path, OPAQUE, io_spec([layers[0][0].shape[0]], layers[-1][0].shape[1]))


class OpaqueToNpz(Converter):
    def convert(self, artifact: Artifact) -> Artifact:
        path = self.context.workdir / "model.npz"
        shutil.copyfile(artifact.path, path)
        metadata = {"precision": self.params["precision"]} if self.params["precision"] else {}
        return self.save_artifact(path, FORMAT, artifact.io, metadata)


@hookimpl
def edgeai_register_models() -> list[ModelRecord]:
    return [
        ModelRecord(
            name="opaque-mlp",
            summary="An MLP checkpoint in a format no runtime loads (for tests).",
            factory="edgeai_fidelity_plugin:OpaqueMlp",
            format=OPAQUE,
            trainable=False,
            params=(Param("checkpoint", "path", help="the npz-mlp checkpoint"),),
        )
    ]


@hookimpl
def edgeai_register_converters() -> list[ConverterRecord]:
    return [
        ConverterRecord(
            name="opaque-to-npz",
            summary="Opaque to npz-mlp (for tests).",
            factory="edgeai_fidelity_plugin:OpaqueToNpz",
            input_format=OPAQUE,
            output_format=FORMAT,
            params=(Param("precision", "str", default=None, help="the precision the step claims"),),
        )
    ]


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    return [
        CompilerRecord(
            name="noisy-weights",
            summary="Adds noise to the weights (a broken compiler, for tests).",
            factory="edgeai_fidelity_plugin:NoisyWeights",
            input_formats=(FORMAT,),
            output_format=FORMAT,
            params=(
                Param("noise", "float", default=0.5, minimum=0, help="standard deviation of the noise"),
                Param("precision", "str", default=None, help="the precision the step claims"),
            ),
        )
    ]
