"""What a model file is and what runs it, read from records only (``edgeai bench MODEL_FILE``).

A file with an edgeai sidecar (``<file>.edgeai.json``) is the artifact its sidecar describes and is loaded by
the model whose record takes its format from the sidecar (the core's ``artifact-file``). Any other file is
loaded by the model whose record lists its extension in ``loads`` (a plugin's model for ``.onnx``
files, say). The runtime is one that accepts the format (or one a converter chain reaches); when several
do, the choice is deterministic and said. No framework is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeai_core.artifacts import SIDECAR_SUFFIX, Artifact, sidecar_path
from edgeai_core.errors import EdgeaiError, UsageError
from edgeai_core.plugins import PluginHost
from edgeai_core.records import FORMAT_FROM_SIDECAR, CompilerRecord, ModelRecord, RuntimeRecord

#: What the first bytes of a file must look like, by extension: checked before any framework loads the file,
#: so a file that is not what its name says fails at once with a clear line.
_PROTOBUF_FIELDS = {0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42}  # ONNX ModelProto fields 1-8, in order


def _looks_like(suffix: str, head: bytes) -> str | None:
    """None when ``head`` fits files named ``*suffix`` (or nothing is known of them), else what they hold."""
    if suffix == ".onnx":
        return None if head[:1] and head[0] in _PROTOBUF_FIELDS else "an ONNX model (a protobuf ModelProto)"
    if suffix == ".tflite":
        return None if head[4:8] == b"TFL3" else "a TFLite flatbuffer (identifier TFL3)"
    if suffix == ".keras":
        return None if head[:4] == b"PK\x03\x04" else "a Keras v3 archive (a zip file)"
    if suffix == ".h5":
        return None if head[:8] == b"\x89HDF\r\n\x1a\n" else "an HDF5 file"
    if suffix == ".so":
        return None if head[:4] == b"\x7fELF" else "an ELF shared library"
    return None


@dataclass(frozen=True)
class ModelFile:
    """A model file as the planner will load it: the model component, its format and how both were found."""

    path: Path
    format: str
    model: ModelRecord
    #: ``sidecar`` or ``extension .onnx``
    found_by: str
    #: the artifact the sidecar describes (its IO spec is known before anything is loaded), if there is one
    artifact: Artifact | None = None

    def model_table(self) -> dict[str, object]:
        """The ``[model]`` table of the pipeline config that loads this file."""
        table: dict[str, object] = {"name": self.model.name, "path": str(self.path)}
        if self.model.format == FORMAT_FROM_SIDECAR:
            table["format"] = self.format
        return table


def identify(path: str | Path, host: PluginHost) -> ModelFile:
    """The model file at ``path``: by its sidecar when it has one, else by its extension. Usage errors name
    the file and say what is missing."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"MODEL_FILE: {path} does not exist")
    if path.is_dir():
        raise UsageError(f"MODEL_FILE: {path} is a folder; give the model file")
    if path.name.endswith(SIDECAR_SUFFIX):
        raise UsageError(f"MODEL_FILE: {path} is a sidecar; give the model file next to it")
    suffix = path.suffix.lower()
    with path.open("rb") as handle:
        head = handle.read(16)
    if not head:
        raise UsageError(f"MODEL_FILE: {path} is empty")
    expected = _looks_like(suffix, head)
    if expected is not None:
        raise UsageError(f"MODEL_FILE: {path} is not {expected}, as its extension {suffix} says")
    models = sorted((r for r in host.records("model") if isinstance(r, ModelRecord)), key=lambda r: r.name)
    if sidecar_path(path).is_file():
        try:
            artifact = Artifact.load(path)
        except EdgeaiError as exc:
            raise UsageError(f"MODEL_FILE: {exc}") from None
        loaders = [r for r in models if r.format == FORMAT_FROM_SIDECAR]
        if not loaders:
            raise UsageError(
                f"MODEL_FILE: {path} has a sidecar, but no installed model loads artifacts by their sidecar "
                "(the core's built-ins are disabled?)"
            )
        return ModelFile(path, artifact.format, loaders[0], "sidecar", artifact)
    loaders = [r for r in models if suffix and suffix in r.loads]
    if not loaders:
        known = sorted({f"{ext} ({r.name})" for r in models for ext in r.loads})
        listed = f"installed model loaders: {', '.join(known)}" if known else "no installed model loads files"
        raise UsageError(
            f"MODEL_FILE: {path}: no installed model loads '{suffix or path.name}' files and there is no sidecar "
            f"{sidecar_path(path).name} ({listed}); a compiled library needs the sidecar its compiler wrote "
            "next to it"
        )
    return ModelFile(path, loaders[0].format, loaders[0], f"extension {suffix}")


def choose_runtime(
    host: PluginHost, fmt: str, model: ModelRecord, requested: str | None
) -> tuple[RuntimeRecord, str | None]:
    """The runtime for artifacts in ``fmt``: ``requested`` when given (the planner checks it), else one that
    loads ``fmt`` (one from the model's own distribution first, then by name), else the one the fewest
    converters reach. Returns it with a note naming the others when there was a choice."""
    if requested:
        record = host.get("runtime", requested, where="--runtime")
        assert isinstance(record, RuntimeRecord)
        return record, None
    from edgeai_core.planner import converter_path

    runtimes = [r for r in host.records("runtime") if isinstance(r, RuntimeRecord)]
    direct = sorted(
        (r for r in runtimes if fmt in r.formats), key=lambda r: (r.provider != model.provider, r.name)
    )
    candidates = direct
    if not direct:
        reachable = []
        for record in runtimes:
            chain = converter_path(host, fmt, record.formats)
            if chain is not None:
                reachable.append((len(chain), record.provider != model.provider, record.name, record))
        candidates = [item[-1] for item in sorted(reachable, key=lambda item: item[:3])]
    if not candidates:
        known = ", ".join(
            f"{r.name} ({', '.join(r.formats)})" for r in sorted(runtimes, key=lambda r: r.name)
        )
        raise UsageError(
            f"no installed runtime loads {fmt} models, and no converter leads to one "
            f"(installed runtimes: {known or 'none'}); install a plugin with a {fmt} runtime"
        )
    chosen = candidates[0]
    note = None
    if len(candidates) > 1:
        others = ", ".join(r.name for r in candidates[1:])
        note = f"runtime {chosen.name} chosen for {fmt} models (also possible: {others}; --runtime picks one)"
    return chosen, note


def compile_first(host: PluginHost, path: Path, fmt: str, runtime: RuntimeRecord) -> None:
    """A usage error saying which compiler step to add when ``runtime`` loads only compiled models that no
    converter makes from ``fmt`` (``--runtime tvm`` for an ``.onnx`` file); nothing when it can run them."""
    from edgeai_core.planner import converter_path

    if fmt in runtime.formats or converter_path(host, fmt, runtime.formats) is not None:
        return
    compilers = sorted(
        (
            r
            for r in host.records("compiler")
            if isinstance(r, CompilerRecord) and fmt in r.input_formats and r.output_format in runtime.formats
        ),
        key=lambda r: r.name,
    )
    if compilers:
        name = compilers[0].name
        raise UsageError(
            f"--runtime {runtime.name}: it loads {', '.join(runtime.formats)} models, and {path.name} is {fmt}; "
            f'compile it in the same command with --set \'steps=[{{"name": "{name}"}}]\' '
            f"(compiler {name}: {fmt} -> {compilers[0].output_format})"
        )
