"""Compilers that damage the model on purpose, to test the fidelity stage (registered in-process)."""

from __future__ import annotations

import numpy as np

from edgeai_core import CompilerRecord, Param, hookimpl
from edgeai_core.artifacts import Artifact
from edgeai_core.builtins.mlp import FORMAT, read_npz
from edgeai_core.components import Compiler, Dataset


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
