"""``template-fp16``: an npz-mlp model with float16 weights and biases (the file halves; runtimes widen them)."""

from __future__ import annotations

import numpy as np

from edgeai_core.api import Artifact, ArtifactError, Compiler, Dataset


class HalfWeights(Compiler):
    """Casts every float array of the archive to float16; int8 weights (from ``weight-int8``) stay as they are."""

    def versions(self) -> dict[str, str]:
        return {"numpy": np.__version__}

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        try:
            with np.load(artifact.path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{artifact.path} is not a readable .npz archive: {exc}") from None
        worst = 0.0
        for key, value in arrays.items():
            if value.dtype.kind == "f":
                half = value.astype(np.float16)
                worst = max(worst, float(np.max(np.abs(half.astype(np.float32) - value), initial=0.0)))
                arrays[key] = half
        path = self.context.workdir / "model-fp16.npz"  # always a new file inside the work folder
        np.savez(path, **arrays)
        return Artifact(
            path,
            artifact.format,
            artifact.io,  # float16 storage only: the model's inputs and outputs stay float32
            producer=self.record.qualified_name,
            versions=self.versions(),
            # carry the input's facts forward and add this step's own (the runner files them by step)
            metadata={**artifact.metadata, "weights": "float16", "max_abs_weight_error": worst},
        ).save()
