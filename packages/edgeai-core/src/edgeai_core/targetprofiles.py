"""Target profiles: what a device is (CPU, memory, storage, runtimes, data types, operators), as data.

A :class:`TargetProfile` describes a device class (a Raspberry Pi 4 class board, a Cortex-M4 class
microcontroller) with its published figures. Plugins register profiles through the hook
``edgeai_register_targets`` (edgeai-targets ships a handful as TOML data files); the core registers ``host``,
measured on this machine (:mod:`edgeai_core.hostprofile`); users add their own in a TOML file (``--targets
FILE``) or in a pipeline config's ``[targets]`` table, with the same fields. The fit check
(:mod:`edgeai_core.fit`) compares a model's complexity with a profile.

The file format: one ``[targets.NAME]`` table per profile, its keys the fields of :class:`TargetProfile`::

    [targets.my-board]
    summary = "My Cortex-A53 board, 512 MiB"
    arch = "aarch64"
    triple = "aarch64-unknown-linux-gnu"
    cores = 4
    clock_mhz = 1200
    ram_bytes = "512 MiB"          # an integer, or a string with KiB, MiB or GiB
    storage_bytes = "4 GiB"
    runtimes = ["tflite"]
    dtypes = ["float32", "int8", "uint8"]
    source = "vendor datasheet, rev 3"

Every field is checked by the parameter system (:mod:`edgeai_core.params`); an error is one line naming the
file, the target and the field (``boards.toml: targets.my-board.cores: must be an integer >= 1, got 'four'``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeai_core.errors import ParameterError, UnknownComponentError, UsageError
from edgeai_core.params import REQUIRED, Param, ParamSet

if TYPE_CHECKING:
    from edgeai_core.plugins import PluginHost

#: The hook that collects profiles from plugins.
HOOK = "edgeai_register_targets"
#: Element types a profile may say its device computes in.
DTYPES = ("float64", "float32", "float16", "bfloat16", "int32", "int16", "int8", "uint8")
#: Where a model's weights live while it runs: in RAM (Linux boards load them), or in flash (a microcontroller
#: runs them in place; only the activations take RAM).
WEIGHTS_IN = ("ram", "flash")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB|TiB)?\s*$")
_UNITS = {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


class TargetFileError(UsageError):
    """A target profile file (or ``[targets]`` table) has a missing, unknown or mistyped field: exit 2."""


@dataclass(frozen=True, kw_only=True)
class TargetProfile:
    """A device class and its figures: a registration record holding data only (no factory).

    ``operators`` maps a runtime name to its operator allow-lists, one per operator vocabulary (an artifact
    format): ``{"tflite-micro": {"tflite": ("CONV_2D", ...), "onnx": ("Conv", ...)}}``. A runtime without an
    entry is not restricted. ``runtime_ram_bytes``/``runtime_storage_bytes`` give a runtime's own memory and
    code size where a figure is known. ``weights_in`` says where weights live while the model runs.
    ``source`` says where the figures come from. ``provider`` is filled in by the plugin host (or names the
    user's file).
    """

    name: str
    summary: str
    arch: str
    cores: int
    ram_bytes: int
    triple: str = ""
    cpu: str = ""
    clock_mhz: float | None = None
    storage_bytes: int | None = None
    runtimes: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ("float32",)
    operators: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)
    tvm_target: str = ""
    tflite_delegate: str = ""
    protocol: str = ""
    address: str = ""
    runtime_ram_bytes: Mapping[str, int] = field(default_factory=dict)
    runtime_storage_bytes: Mapping[str, int] = field(default_factory=dict)
    weights_in: str = "ram"
    accelerator: str = ""
    cpu_flags: tuple[str, ...] = ()
    source: str = ""
    provider: str = ""

    kind = "target"

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"target name {self.name!r} must be lowercase letters, digits, '.', '-' or '_'")
        if not self.summary or "\n" in self.summary:
            raise ValueError(f"target {self.name!r}: summary must be one non-empty line")
        if self.cores < 1 or self.ram_bytes < 1:
            raise ValueError(f"target {self.name!r}: cores and ram_bytes must be positive")
        bad = [d for d in self.dtypes if d not in DTYPES]
        if bad:
            raise ValueError(f"target {self.name!r}: dtype {bad[0]!r} is not one of {', '.join(DTYPES)}")
        if self.weights_in not in WEIGHTS_IN:
            raise ValueError(f"target {self.name!r}: weights_in must be one of {', '.join(WEIGHTS_IN)}")
        for name in ("runtimes", "formats", "dtypes", "cpu_flags"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(
            self,
            "operators",
            {rt: {fmt: tuple(ops) for fmt, ops in lists.items()} for rt, lists in self.operators.items()},
        )

    @property
    def qualified_name(self) -> str:
        return f"target:{self.name}"

    @property
    def int_only(self) -> bool:
        """The device computes in integers only (an Edge TPU, an int8 NPU)."""
        return not any(d.startswith(("float", "bfloat")) for d in self.dtypes)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "arch": self.arch,
            "triple": self.triple,
            "cpu": self.cpu,
            "cores": self.cores,
            "clock_mhz": self.clock_mhz,
            "ram_bytes": self.ram_bytes,
            "storage_bytes": self.storage_bytes,
            "runtimes": list(self.runtimes),
            "formats": list(self.formats),
            "dtypes": list(self.dtypes),
            "operators": {
                rt: {f: list(ops) for f, ops in lists.items()} for rt, lists in self.operators.items()
            },
            "tvm_target": self.tvm_target,
            "tflite_delegate": self.tflite_delegate,
            "protocol": self.protocol,
            "address": self.address,
            "runtime_ram_bytes": dict(self.runtime_ram_bytes),
            "runtime_storage_bytes": dict(self.runtime_storage_bytes),
            "weights_in": self.weights_in,
            "accelerator": self.accelerator,
            "cpu_flags": list(self.cpu_flags),
            "source": self.source,
            "provider": self.provider,
        }


#: The fields of a profile table, declared once: validation, ``edgeai describe`` and the docs read them.
PROFILE_PARAMS = ParamSet(
    (
        Param("summary", "str", default=REQUIRED, help="one line: what device class this is"),
        Param("arch", "str", default=REQUIRED, help="CPU architecture (aarch64, armv7e-m, x86_64)"),
        Param("cores", "int", default=REQUIRED, minimum=1, help="CPU cores"),
        Param(
            "ram_bytes", "int", default=REQUIRED, minimum=1, help="RAM (an integer, or '256 KiB', '4 GiB')"
        ),
        Param("triple", "str", default="", help="LLVM target triple (aarch64-unknown-linux-gnu)"),
        Param("cpu", "str", default="", help="CPU model (Cortex-A72)"),
        Param("clock_mhz", "float", default=None, minimum=1, help="CPU clock in MHz"),
        Param(
            "storage_bytes", "int", default=None, minimum=1, help="storage or flash for the model and runtime"
        ),
        Param(
            "runtimes", "list[str]", default=(), help="runtimes the device runs (tflite, onnxruntime, ...)"
        ),
        Param("formats", "list[str]", default=(), help="artifact formats its runtimes load (empty: any)"),
        Param(
            "dtypes",
            "list[str]",
            default=("float32",),
            help=f"element types it computes in: {', '.join(DTYPES)}",
        ),
        Param("operators", "dict", default=None, help="per runtime, per format: the operators it supports"),
        Param("tvm_target", "str", default="", help="TVM target string for code generated for it"),
        Param("tflite_delegate", "str", default="", help="TFLite delegate library for its accelerator"),
        Param("protocol", "str", default="", help="how edgeai reaches it (tcp, serial)"),
        Param("address", "str", default="", help="where edgeai reaches it (HOST:PORT, /dev/ttyACM0)"),
        Param(
            "runtime_ram_bytes", "dict", default=None, help="per runtime: RAM it takes itself, where known"
        ),
        Param("runtime_storage_bytes", "dict", default=None, help="per runtime: its code size, where known"),
        Param(
            "weights_in",
            "choice",
            default="ram",
            choices=WEIGHTS_IN,
            help="where weights live while the model runs (flash: executed in place, as on microcontrollers)",
        ),
        Param("accelerator", "str", default="", help="its NPU/TPU/GPU, in words"),
        Param("cpu_flags", "list[str]", default=(), help="CPU feature flags (neon, avx2, ...)"),
        Param("source", "str", default="", help="where the figures come from"),
    )
)
_SIZE_FIELDS = ("ram_bytes", "storage_bytes")


def parse_size(value: Any, field_path: str) -> int:
    """Bytes from an integer or a string like ``"256 KiB"``, ``"1.5 GiB"``; a ParameterError naming the field."""
    if isinstance(value, bool):
        raise ParameterError(field_path, f"must be a byte count (an integer or '256 KiB'), got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            return int(float(match.group(1)) * _UNITS[match.group(2)])
    raise ParameterError(
        field_path, f"must be a byte count (an integer, or a number with B, KiB, MiB or GiB), got {value!r}"
    )


def format_bytes(value: float) -> str:
    """``3.4 MiB``, ``256 KiB``, ``-1.5 GiB``: binary units, one decimal where it matters."""
    sign, size = ("-" if value < 0 else ""), abs(float(value))
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            text = f"{size:.0f}" if unit == "B" or size == int(size) or size >= 100 else f"{size:.1f}"
            return f"{sign}{text} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _string_lists(value: Any, field_path: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise ParameterError(field_path, f"must be a list of operator names, got {value!r}")
    return tuple(value)


def _operators(value: Any, where: str) -> dict[str, dict[str, tuple[str, ...]]]:
    if value is None:
        return {}
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for runtime, lists in value.items():
        if not isinstance(lists, Mapping):
            raise ParameterError(
                f"{where}.{runtime}", f"must be a table of format = [operators], got {lists!r}"
            )
        out[str(runtime)] = {str(f): _string_lists(ops, f"{where}.{runtime}.{f}") for f, ops in lists.items()}
    return out


def _sizes(value: Any, where: str) -> dict[str, int]:
    if value is None:
        return {}
    out = {}
    for runtime, size in value.items():
        out[str(runtime)] = parse_size(size, f"{where}.{runtime}")
        if out[str(runtime)] < 0:
            raise ParameterError(f"{where}.{runtime}", f"must be >= 0, got {size!r}")
    return out


def profile_from_table(name: str, table: Any, where: str, provider: str = "") -> TargetProfile:
    """One profile from its table; ``where`` is the table's dotted path (``targets.my-board``)."""
    if not _NAME.match(name):
        raise ParameterError(where, "target names are lowercase letters, digits, '.', '-' or '_'")
    if not isinstance(table, Mapping):
        raise ParameterError(where, f"must be a table of profile fields, got {table!r}")
    values = dict(table)
    for key in _SIZE_FIELDS:
        if values.get(key) is not None:
            values[key] = parse_size(values[key], f"{where}.{key}")
    params = PROFILE_PARAMS.validate(values, where)
    for i, dtype in enumerate(params["dtypes"]):
        if dtype not in DTYPES:
            raise ParameterError(f"{where}.dtypes[{i}]", f"must be one of {', '.join(DTYPES)}, got {dtype!r}")
    params["operators"] = _operators(params["operators"], f"{where}.operators")
    for key in ("runtime_ram_bytes", "runtime_storage_bytes"):
        params[key] = _sizes(params[key], f"{where}.{key}")
    for key in ("runtimes", "formats", "dtypes", "cpu_flags"):
        params[key] = tuple(params[key])
    return TargetProfile(name=name, provider=provider, **params)


def profiles_from_mapping(data: Mapping[str, Any], source: str) -> list[TargetProfile]:
    """The profiles of a parsed targets file (``{"targets": {NAME: table}}``). Errors are one line naming
    ``source`` (the file), the target and the field."""
    try:
        unknown = [k for k in data if k != "targets"]
        if unknown:
            raise ParameterError(unknown[0], "unknown section; a targets file holds [targets.NAME] tables")
        tables = data.get("targets", {})
        if not isinstance(tables, Mapping):
            raise ParameterError("targets", f"must hold [targets.NAME] tables, got {tables!r}")
        return [profile_from_table(str(n), t, f"targets.{n}", source) for n, t in tables.items()]
    except ParameterError as exc:
        raise TargetFileError(f"{source}: {exc}") from None


def load_target_file(path: str | Path) -> list[TargetProfile]:
    """The profiles of a TOML (or JSON, YAML) targets file."""
    from edgeai_core.config import load_config_file

    try:
        data = load_config_file(path)
    except UsageError as exc:  # says "config file"; here it is a targets file
        raise TargetFileError(str(exc).replace("config file", "targets file")) from None
    return profiles_from_mapping(data, str(path))


def read_target_text(text: str, source: str) -> list[TargetProfile]:
    """The profiles of a TOML document (a plugin's data file, read with :mod:`importlib.resources`)."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except Exception as exc:
        raise TargetFileError(f"{source}: not valid TOML: {exc}") from None
    return profiles_from_mapping(data, source)


def target_profiles(
    host: PluginHost,
    files: Iterable[str | Path] = (),
    tables: Mapping[str, Any] | None = None,
    tables_source: str = "config [targets]",
) -> dict[str, TargetProfile]:
    """Every profile by name: the plugins' (``host`` measured by the core), then the user's ``files`` and
    config ``tables``, which replace a plugin profile of the same name."""
    profiles = {p.name: p for p in host.extra_records(HOOK, TargetProfile, kind="target")}
    for path in files:
        profiles.update((p.name, p) for p in load_target_file(path))
    if tables:
        profiles.update((p.name, p) for p in profiles_from_mapping({"targets": tables}, tables_source))
    return dict(sorted(profiles.items()))


def get_profile(profiles: Mapping[str, TargetProfile], name: str, where: str = "--target") -> TargetProfile:
    """The profile named ``name``; an error naming the closest one otherwise (exit 2)."""
    profile = profiles.get(name)
    if profile is None:
        raise UnknownComponentError("target profile", name, profiles, where)
    return profile


def named_profile(
    host: PluginHost,
    name: str | None,
    tables: Mapping[str, Any] | None = None,
    files: Iterable[str | Path] = (),
    where: str = "target.profile",
) -> TargetProfile | None:
    """The profile a pipeline config names (None when it names none), from the plugins, the user's
    ``files`` and the config's ``[targets]`` tables (checked even when no profile is named)."""
    files = list(files)
    if name is None and not tables and not files:
        return None
    profiles = target_profiles(host, files, tables)
    return None if name is None else get_profile(profiles, name, where)


__all__ = [
    "DTYPES",
    "HOOK",
    "PROFILE_PARAMS",
    "WEIGHTS_IN",
    "TargetFileError",
    "TargetProfile",
    "format_bytes",
    "get_profile",
    "load_target_file",
    "named_profile",
    "parse_size",
    "profile_from_table",
    "profiles_from_mapping",
    "read_target_text",
    "target_profiles",
]
