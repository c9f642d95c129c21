"""What a plugin implements for the compatibility commands: grid suites and ONNX backends.

The commands themselves (``edgeai grid``, ``edgeai onnx-backend-tests``, ``edgeai matrix``) come from a
plugin of their own; these interfaces, like the records and hooks that register them
(:class:`~edgeai_core.records.GridSuiteRecord`, :class:`~edgeai_core.records.OnnxBackendRecord`), stay in the
core, so a plugin that contributes a suite or a backend never depends on the commands' plugin being installed.
Plugins import them from :mod:`edgeai_core.api`.

Both kinds are built like components, ``Factory(record=..., params=..., context=...)``, and only in the
worker process that runs them: the module defining a subclass may import its framework at module level.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeai_core.components import Component
from edgeai_core.errors import EdgeaiError

if TYPE_CHECKING:
    import numpy as np

# -- grid suites (hook edgeai_register_grid_suites) -------------------------------------------------------


@dataclass(frozen=True)
class GridModel:
    """One row of a suite: ``name`` (unique in the suite), a one-line ``summary`` and a ``category``:
    ``model`` (the plugin's own trainable models), ``block`` (a few layers together) or ``layer``."""

    name: str
    summary: str
    category: str = "layer"


@dataclass
class Prepared:
    """A built model: the framework's object and the seeded inputs it is run on (numpy, one per input)."""

    native: Any
    inputs: list[np.ndarray]
    metadata: dict[str, Any] = field(default_factory=dict)


class ImportUnsupported(EdgeaiError):
    """The framework cannot import ONNX models here; the message says why (shown in the grid's import column)."""


class GridSuite(Component, ABC):
    """A framework's side of the ONNX support grid, built as ``Factory(record=..., params=..., context=...)``.

    Implement :meth:`models`, :meth:`build`, :meth:`run` and :meth:`export`; override :meth:`import_onnx` where
    the framework reads ONNX, and :meth:`versions` for the grid's provenance. Heavy frameworks are imported by
    the module that defines the subclass, which the grid imports in its worker process only.
    """

    @abstractmethod
    def models(self) -> list[GridModel]:
        """The suite's models, in table order."""

    @abstractmethod
    def build(self, name: str, seed: int) -> Prepared:
        """Build model ``name`` with weights and inputs drawn from ``seed`` (the same seed, the same numbers)."""

    @abstractmethod
    def run(self, prepared: Prepared, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the native model (inference mode) and return its outputs as numpy arrays."""

    @abstractmethod
    def export(self, prepared: Prepared, path: Path) -> dict[str, Any]:
        """Write the model to ``path`` as one ONNX file, the way the framework's converter does.

        Return facts for the grid (``{"exporter": "torchscript", "opset_requested": 17}``); raise on failure
        (the first line of the message becomes the cell's export error).
        """

    def onnx_inputs(self, prepared: Prepared) -> list[np.ndarray]:
        """The inputs as the ONNX model takes them (override where the export changes the layout)."""
        return list(prepared.inputs)

    def import_onnx(self, path: Path, prepared: Prepared) -> Any:
        """Read an ONNX file back into the framework; raise :class:`ImportUnsupported` where it cannot."""
        raise ImportUnsupported(f"{self.record.name} has no ONNX importer")

    def run_imported(
        self, imported: Any, prepared: Prepared, inputs: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Run what :meth:`import_onnx` returned (default: like the native model)."""
        return self.run(Prepared(imported, list(inputs), prepared.metadata), inputs)


# -- ONNX backends (hook edgeai_register_onnx_backends) ---------------------------------------------------


class BackendSession(ABC):
    """A model prepared by a backend for fixed inputs."""

    @abstractmethod
    def run(self, inputs: Sequence[Any]) -> list[Any]:
        """Run the model on ``inputs`` (graph inputs in order) and return every graph output in order."""

    def bind(self, inputs: Sequence[Any]) -> Callable[[], Any]:
        """A zero-argument callable running one inference on ``inputs``, for timing (input conversion outside)."""
        fixed = list(inputs)
        return lambda: self.run(fixed)

    def close(self) -> None:  # noqa: B027  (optional: most sessions need no explicit release)
        """Release the model."""


class OnnxBackend(Component, ABC):
    """An ONNX-consuming backend, built as ``Factory(record=..., params=..., context=...)``.

    Implement :meth:`prepare`; override :meth:`versions` for the report.
    """

    @abstractmethod
    def prepare(self, path: Path, inputs: Sequence[Any]) -> BackendSession:
        """Load or compile the ONNX file at ``path`` for inputs like ``inputs`` (shapes and dtypes are fixed).

        Raise when the backend cannot take the model: the case is then a ``compile-error`` with the first line
        of the message. Work files go under ``self.context.workdir``.
        """
