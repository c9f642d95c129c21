"""The ``artifact-file`` model: any model file with an edgeai sidecar, used as the artifact the sidecar describes.

A compiled library (TVM's ``model.so``), a quantized model or any artifact an earlier run wrote is loaded
as it is: format and IO spec come from ``<file>.edgeai.json``, nothing is converted and no framework is
imported. The file stays where it is (the results name its path).
"""

from __future__ import annotations

from pathlib import Path

from edgeai_core.artifacts import Artifact
from edgeai_core.components import Dataset, Model
from edgeai_core.errors import ArtifactError, EdgeaiError


class ArtifactFile(Model):
    """Loads (never trains) the artifact at ``path``."""

    def train(self, dataset: Dataset) -> Artifact:
        raise EdgeaiError("model artifact-file loads an existing artifact and cannot be trained")

    def prepare(self, dataset: Dataset | None) -> Artifact:
        path = Path(self.params["path"]).expanduser()
        if not path.exists():
            raise ArtifactError(f"model.path: {path} does not exist")
        artifact = Artifact.load(path)
        wanted = self.params.get("format")
        if wanted and artifact.format != wanted:
            raise ArtifactError(
                f"model.format: {path} is a {artifact.format} artifact (its sidecar says so), not {wanted}"
            )
        return artifact

    def versions(self) -> dict[str, str]:
        return {}
