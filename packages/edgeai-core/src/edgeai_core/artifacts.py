"""Artifacts: a model file (or folder), the files it needs, plus a sidecar JSON describing them.

The sidecar ``<file>.edgeai.json`` carries the format, the IO spec (per tensor: name, shape, dtype and,
for quantized tensors, scale and zero point), the producer, the framework versions and, for multi-file
artifacts, the companion files (ONNX external data, weights) with their sizes and SHA-256. Components pass
artifacts to one another, across processes and across the wire, only through these files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from edgeai_core.errors import ArtifactError, RuntimeFailure

SIDECAR_SUFFIX = ".edgeai.json"
SIDECAR_VERSION = 1
#: The most companion files an artifact may list (a bound for sidecars and uploads).
MAX_FILES = 64

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


def check_companion_name(name: str, primary: str, where: str = "artifact") -> str:
    """A companion file's name: a relative POSIX path inside the primary file's folder, not the primary."""
    relative = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\0" in name
        or relative.is_absolute()
        or ".." in relative.parts
        or relative.as_posix() != name
        or name.endswith(SIDECAR_SUFFIX)
    ):
        raise ArtifactError(
            f"{where}: companion file {name!r} must be a relative path inside the model's folder "
            "(no '..', no absolute path, no sidecar name)"
        )
    if name == primary:
        raise ArtifactError(f"{where}: companion file {name!r} is the model file itself")
    return name


def file_sha256(path: Path) -> str:
    """SHA-256 of one file, as ``sha256sum`` prints it."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Artifact:
    """A model file (or directory) in a known ``format`` with its IO spec.

    ``producer`` is the qualified component name that made it (``compiler:weight-int8``); ``versions``
    the framework versions involved; ``metadata`` free-form facts (opset, quantization mode, target).
    ``files`` names the companion files the model needs (ONNX external data, separate weights), as POSIX
    paths relative to the model file's folder; sizes, digests, copies and uploads cover all of them. A
    directory artifact (a SavedModel folder) holds its files itself and lists none.
    """

    path: Path
    format: str
    io: IOSpec
    producer: str = ""
    versions: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    #: SHA-256 per companion name as the sidecar recorded it (filled by :meth:`save` and :meth:`load`)
    recorded: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        files = tuple(str(PurePosixPath(f)) if isinstance(f, PurePosixPath) else str(f) for f in self.files)
        if len(files) > MAX_FILES:
            raise ArtifactError(f"artifact {self.path.name} lists {len(files)} files; at most {MAX_FILES}")
        if len(set(files)) != len(files):
            raise ArtifactError(f"artifact {self.path.name} lists a companion file twice")
        for name in files:
            check_companion_name(name, self.path.name, f"artifact {self.path.name}")
        object.__setattr__(self, "files", files)

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
    def companions(self) -> tuple[Path, ...]:
        """The companion files' paths (next to the model file)."""
        return tuple(self.path.parent / name for name in self.files)

    @property
    def all_files(self) -> tuple[Path, ...]:
        """The model file then its companions."""
        return (self.path, *self.companions)

    def _stat(self, path: Path) -> int:
        try:
            return path.stat().st_size
        except FileNotFoundError:
            raise ArtifactError(
                f"artifact {self.path.name} needs its file {path.name} ({path}), which is missing"
            ) from None

    @property
    def size_bytes(self) -> int:
        """Bytes of the model file and every companion (or of every file of a directory artifact)."""
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return sum(self._stat(p) for p in self.all_files)

    def sha256(self) -> str:
        """SHA-256 of the file (as ``sha256sum`` prints it) for single-file artifacts; of every file with its
        name and size for multi-file and directory artifacts."""
        digest = hashlib.sha256()
        if self.path.is_dir():
            named = [
                (p.relative_to(self.path).as_posix(), p) for p in sorted(self.path.rglob("*")) if p.is_file()
            ]
        elif self.files:
            named = [(self.path.name, self.path), *zip(self.files, self.companions, strict=True)]
        else:
            return file_sha256(self.path)
        for name, file in named:
            # name and size too: renaming a file or moving bytes between files changes the hash
            digest.update(f"{name}\0{self._stat(file)}\0".encode())
            with file.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()

    def file_entries(self) -> list[dict[str, Any]]:
        """The companion files as the sidecar and the wire list them: ``{name, size, sha256}``."""
        entries = []
        for name, path in zip(self.files, self.companions, strict=True):
            size = self._stat(path)
            entries.append(
                {"name": name, "size": size, "sha256": self.recorded.get(name) or file_sha256(path)}
            )
        return entries

    def verify(self) -> None:
        """Check every companion against the size and SHA-256 the sidecar recorded."""
        for name, path in zip(self.files, self.companions, strict=True):
            self._stat(path)
            expected = self.recorded.get(name)
            if expected is not None and file_sha256(path) != expected:
                raise ArtifactError(
                    f"artifact {self.path.name}: file {name} does not match the SHA-256 its sidecar recorded"
                )

    def to_json(self) -> dict[str, Any]:
        data = {
            "sidecar_version": SIDECAR_VERSION,
            "file": self.path.name,
            "format": self.format,
            "io": self.io.to_json(),
            "producer": self.producer,
            "versions": dict(self.versions),
            "metadata": dict(self.metadata),
        }
        if self.files:
            data["files"] = self.file_entries()
        return data

    def save(self) -> Artifact:
        """Write the sidecar next to the model file (atomically) and return self.

        Every companion file must exist; its size and SHA-256 are measured now and recorded.
        """
        if not self.path.exists():
            raise ArtifactError(
                f"artifact file {self.path} does not exist; write the model before its sidecar"
            )
        digests = {}
        for name, path in zip(self.files, self.companions, strict=True):
            self._stat(path)
            digests[name] = file_sha256(path)
        object.__setattr__(self, "recorded", digests)
        write_json_atomic(self.sidecar, self.to_json())
        return self

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Artifact:
        """Read an artifact from its model path (or from the sidecar's path).

        Sidecars without ``files`` (all before multi-file artifacts) describe single-file artifacts.
        A companion that is missing is an error naming it.
        """
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
        names, recorded = _read_files(data.get("files", []), side)
        artifact = cls(
            path=path,
            format=str(data["format"]),
            io=IOSpec.from_json(data["io"]),
            producer=str(data.get("producer", "")),
            versions=versions,
            metadata=metadata,
            files=names,
            recorded=recorded,
        )
        for companion in artifact.companions:
            artifact._stat(companion)
        return artifact

    def describe(self) -> dict[str, Any]:
        """The artifact as recorded in a measurement document."""
        return {"path": str(self.path), "format": self.format, "size_bytes": self.size_bytes}

    def copy_to(self, folder: str | os.PathLike[str]) -> Artifact:
        """Copy the model file, its companions (at the same relative paths) and its sidecar into ``folder``."""
        return self._transfer(Path(folder), move=False)

    def move_to(self, folder: str | os.PathLike[str]) -> Artifact:
        """Move the model file, its companions and its sidecar into ``folder``."""
        return self._transfer(Path(folder), move=True)

    def _transfer(self, folder: Path, *, move: bool) -> Artifact:
        folder.mkdir(parents=True, exist_ok=True)
        is_dir = self.path.is_dir()
        if is_dir:  # a SavedModel folder: the whole tree
            destination = folder / self.path.name
            if self.path.resolve() != destination.resolve():
                if move:
                    shutil.move(str(self.path), str(destination))
                else:
                    shutil.copytree(self.path, destination, dirs_exist_ok=True)
        pairs = [] if is_dir else [(self.path, folder / self.path.name)]
        pairs += [(src, folder / name) for name, src in zip(self.files, self.companions, strict=True)]
        for src, dst in pairs:
            self._stat(src)
            if src.resolve() != dst.resolve():
                dst.parent.mkdir(parents=True, exist_ok=True)
                if move:
                    shutil.move(str(src), str(dst))
                else:
                    shutil.copyfile(src, dst)
        moved = Artifact(
            folder / self.path.name, self.format, self.io, self.producer, self.versions, self.metadata,
            self.files, self.recorded,
        )  # fmt: skip
        if self.sidecar.exists() and self.sidecar.resolve() != moved.sidecar.resolve():
            write_json_atomic(moved.sidecar, moved.to_json())
            if move:
                self.sidecar.unlink()
        return moved


def _read_files(entries: Any, side: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ArtifactError(f"sidecar {side}: 'files' must be a list of {{name, size, sha256}} tables")
    names, recorded = [], {}
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str):
            raise ArtifactError(f"sidecar {side}: a 'files' entry has no name")
        names.append(name)
        if isinstance(entry.get("sha256"), str):
            recorded[name] = entry["sha256"]
    return tuple(names), recorded


def companion_names(paths: Iterable[str | os.PathLike[str]], folder: Path) -> tuple[str, ...]:
    """Files (absolute, or relative to ``folder``) as companion names relative to ``folder``."""
    names = []
    for p in paths:
        path = Path(p)
        names.append((path.relative_to(folder) if path.is_absolute() else path).as_posix())
    return tuple(names)


def existing_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`~pathlib.Path`; :class:`ArtifactError` when it does not exist or is not a file."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    return path


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def sidecar_format(path: str | os.PathLike[str], where: str) -> str:
    """The format the sidecar of the model file ``path`` declares, read without loading the model; errors
    (no file, no sidecar, an unreadable one) are usage errors naming ``where`` and the file."""
    from edgeai_core.errors import UsageError

    model = Path(path).expanduser()
    side = sidecar_path(model)
    if not model.exists():
        raise UsageError(f"{where}: {model} does not exist")
    if not side.is_file():
        raise UsageError(
            f"{where}: {model} has no sidecar {side.name}; keep the {SIDECAR_SUFFIX} file the tool that made "
            "it wrote next to it"
        )
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{where}: sidecar {side} is unreadable: {exc}") from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if not isinstance(fmt, str) or not fmt:
        raise UsageError(f"{where}: sidecar {side} declares no 'format'")
    return fmt


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
