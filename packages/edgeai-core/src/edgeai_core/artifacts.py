"""Artifacts: a model file (or folder) plus a sidecar JSON describing it.

The sidecar ``<file>.edgeai.json`` carries the format, the IO spec (per tensor: name, shape, dtype and,
for quantized tensors, scale and zero point), the producer and the framework versions. Components pass
artifacts to one another, across processes and across the wire, only through these files.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.errors import ArtifactError, RuntimeFailure

SIDECAR_SUFFIX = ".edgeai.json"
SIDECAR_VERSION = 1

#: dtype names used in IO specs (numpy's names).
DTYPES = (
    "float64", "float32", "float16", "bfloat16",
    "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16", "uint8", "bool",
)  # fmt: skip

Dim = int | str | None


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor.

    ``shape`` uses ``None`` or a name (``"batch"``) for dynamic dimensions. ``scale``/``zero_point`` are
    set for quantized tensors (``real = scale * (q - zero_point)``), per tensor (scalars) or per channel
    (lists). ``layout`` is informative (``NCHW``, ``NHWC``).
    """

    name: str
    shape: tuple[Dim, ...]
    dtype: str
    scale: float | tuple[float, ...] | None = None
    zero_point: int | tuple[int, ...] | None = None
    layout: str | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ArtifactError(
                f"tensor '{self.name}': unknown dtype '{self.dtype}' (known: {', '.join(DTYPES)})"
            )
        object.__setattr__(self, "shape", tuple(self.shape))
        for attr in ("scale", "zero_point"):
            value = getattr(self, attr)
            if isinstance(value, list):
                object.__setattr__(self, attr, tuple(value))

    @property
    def quantized(self) -> bool:
        return self.scale is not None

    @property
    def static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def concrete_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The shape with dynamic dimensions filled: the first with ``batch``, any other is an error."""
        dims: list[int] = []
        for i, d in enumerate(self.shape):
            if isinstance(d, int) and d >= 0:
                dims.append(d)
            elif i == 0:
                dims.append(batch)
            else:
                raise ArtifactError(
                    f"tensor '{self.name}' has a dynamic dimension {i} ({d!r}); give the shape explicitly"
                )
        return tuple(dims)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}
        for attr in ("scale", "zero_point", "layout"):
            value = getattr(self, attr)
            if value is not None:
                data[attr] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TensorSpec:
        try:
            return cls(
                name=str(data["name"]),
                shape=tuple(data["shape"]),
                dtype=str(data["dtype"]),
                scale=data.get("scale"),
                zero_point=data.get("zero_point"),
                layout=data.get("layout"),
            )
        except (KeyError, TypeError) as exc:
            # repr(data), not dict(data): the entry may not be a mapping at all (a corrupt sidecar)
            raise ArtifactError(f"malformed tensor spec {data!r}: missing or bad {exc}") from None


@dataclass(frozen=True)
class IOSpec:
    """The inputs and outputs of a model, in order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))

    def to_json(self) -> dict[str, Any]:
        return {"inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IOSpec:
        try:
            return cls(
                inputs=tuple(TensorSpec.from_json(t) for t in data["inputs"]),
                outputs=tuple(TensorSpec.from_json(t) for t in data["outputs"]),
            )
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"malformed IO spec: missing or bad {exc}") from None


@dataclass(frozen=True)
class Artifact:
    """A model file (or directory) in a known ``format`` with its IO spec.

    ``producer`` is the qualified component name that made it (``compiler:weight-int8``); ``versions``
    the framework versions involved; ``metadata`` free-form facts (opset, quantization mode, target).
    """

    path: Path
    format: str
    io: IOSpec
    producer: str = ""
    versions: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)

    def file_for(self, runtime: str, fmt: str, what: str = "models") -> Path:
        """The artifact's file, for runtime ``runtime``, which loads ``fmt`` ``what``: :class:`RuntimeFailure`
        for another format, :class:`ArtifactError` when the file is missing."""
        if self.format != fmt:
            raise RuntimeFailure(f"runtime {runtime} loads {fmt} {what}, not {self.format} ({self.path})")
        return existing_file(self.path)

    @property
    def size_bytes(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return self.path.stat().st_size

    def sha256(self) -> str:
        """SHA-256 of the file (as ``sha256sum`` prints it), or of a directory's files with their names."""
        digest = hashlib.sha256()
        is_dir = self.path.is_dir()
        files = sorted(p for p in self.path.rglob("*") if p.is_file()) if is_dir else [self.path]
        for file in files:
            if is_dir:  # name and size too: renaming a file or moving bytes between files changes the hash
                name = file.relative_to(self.path).as_posix()
                digest.update(f"{name}\0{file.stat().st_size}\0".encode())
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "sidecar_version": SIDECAR_VERSION,
            "file": self.path.name,
            "format": self.format,
            "io": self.io.to_json(),
            "producer": self.producer,
            "versions": dict(self.versions),
            "metadata": dict(self.metadata),
        }

    def save(self) -> Artifact:
        """Write the sidecar next to the model file (atomically) and return self."""
        if not self.path.exists():
            raise ArtifactError(
                f"artifact file {self.path} does not exist; write the model before its sidecar"
            )
        write_json_atomic(self.sidecar, self.to_json())
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Artifact:
        """Read an artifact from its model path (or from the sidecar's path)."""
        path = Path(path)
        if path.name.endswith(SIDECAR_SUFFIX):
            path = path.with_name(path.name[: -len(SIDECAR_SUFFIX)])
        side = sidecar_path(path)
        if not path.exists():
            raise ArtifactError(f"artifact {path} does not exist")
        if not side.exists():
            raise ArtifactError(f"artifact {path} has no sidecar {side.name}; it was not written by edgeai")
        try:
            data = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactError(f"sidecar {side} is unreadable: {exc}") from None
        if not isinstance(data, dict) or "format" not in data or "io" not in data:
            raise ArtifactError(f"sidecar {side} lacks 'format' or 'io'")
        try:
            versions, metadata = dict(data.get("versions", {})), dict(data.get("metadata", {}))
        except (TypeError, ValueError):
            raise ArtifactError(f"sidecar {side}: 'versions' and 'metadata' must be tables") from None
        return cls(
            path=path,
            format=str(data["format"]),
            io=IOSpec.from_json(data["io"]),
            producer=str(data.get("producer", "")),
            versions=versions,
            metadata=metadata,
        )

    def describe(self) -> dict[str, Any]:
        """The artifact as recorded in a measurement document."""
        return {"path": str(self.path), "format": self.format, "size_bytes": self.size_bytes}


def existing_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path`; :class:`ArtifactError` when it does not exist or is not a file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    return path


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 2) -> None:
    """Write JSON to ``path`` so that readers see either the old or the complete new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=indent, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    # Linux reports the umask without changing it; os.umask would briefly open it for every thread.
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def tensor_specs(
    names: Sequence[str], shapes: Sequence[Sequence[Dim]], dtypes: Sequence[str]
) -> tuple[TensorSpec, ...]:
    """Build tensor specs from parallel lists."""
    return tuple(TensorSpec(n, tuple(s), d) for n, s, d in zip(names, shapes, dtypes, strict=True))
