"""Pipeline configuration: TOML or JSON (YAML when PyYAML is installed), with ``--set key=value`` overrides.

A pipeline config names the components and their parameters::

    name = "blobs-mlp"            # optional; names the run in reports
    seed = 0

    [dataset]
    name = "gaussian-blobs"       # every component table has a name ...
    classes = 4                   # ... and that component's parameters

    [model]
    name = "numpy-mlp"
    epochs = 100

    [[steps]]                     # compilers/converters, in order (optional)
    name = "weight-int8"

    [runtime]
    name = "numpy"

    [benchmark]                   # see `edgeai describe benchmark`
    warmup = 10
    min_count = 200

    [fidelity]                    # each step against the reference model (edgeai_core.fidelity)
    samples = 32
    strict = false                # true: a step over tolerance fails the run

Here only the structure is checked; the planner checks names and parameters against installed plugins.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.errors import ConfigError, ParameterError, closest
from edgeai_core.params import Param, ParamSet

COMPONENT_SECTIONS = ("dataset", "model", "runtime", "target")
SETTINGS_SECTIONS = ("benchmark", "evaluation", "resources", "fidelity", "analysis")
TOP_LEVEL = ("name", "seed", "steps", *COMPONENT_SECTIONS, *SETTINGS_SECTIONS, "targets")

EVALUATION_PARAMS = ParamSet(
    (
        Param("enabled", "bool", default=True, help="evaluate quality on the dataset (when there is one)"),
        Param("split", "choice", default="test", choices=("test", "validation"), help="split to evaluate on"),
        Param("limit", "int", default=None, minimum=1, help="evaluate at most this many samples"),
        Param(
            "batch_size",
            "int",
            default=None,
            minimum=1,
            help="batch size for evaluation (default: the model's static batch, else 32)",
        ),
        Param(
            "examples",
            "int",
            default=4,
            minimum=0,
            help="detection and segmentation: images whose predictions the results keep for the report",
        ),
    )
)
RESOURCES_PARAMS = ParamSet(
    (
        Param("enabled", "bool", default=True, help="sample CPU and memory during the benchmark"),
        Param("interval_s", "float", default=0.05, minimum=0.005, help="seconds between samples"),
    )
)

ANALYSIS_PARAMS = ParamSet(
    (
        Param(
            "enabled",
            "bool",
            default=True,
            help="analyse the final artifact's complexity (parameters, MACs, peak activations; edgeai_core.analysis)",
        ),
    )
)

FIDELITY_PARAMS = ParamSet(
    (
        Param("enabled", "bool", default=True, help="compare every step's artifact with the reference model"),
        Param(
            "samples", "int", default=32, minimum=1, maximum=4096, help="inputs compared (seeded, test split)"
        ),
        Param("strict", "bool", default=False, help="a step over tolerance fails the run (else a warning)"),
        Param("rtol", "float", default=None, minimum=0, help="relative tolerance of float steps (1e-3)"),
        Param(
            "atol",
            "float",
            default=None,
            minimum=0,
            help="absolute tolerance of float steps (1e-4; 1e-3 for probability outputs)",
        ),
        Param(
            "min_cosine",
            "float",
            default=0.99,
            minimum=-1,
            maximum=1,
            help="int8/float16 steps: least cosine",
        ),
        Param(
            "min_top1",
            "float",
            default=0.9,
            minimum=0,
            maximum=1,
            help="int8/float16 steps, classification: least top-1 agreement",
        ),
        Param(
            "layers",
            "bool",
            default=False,
            help="per-layer numerics: compare every intermediate tensor of each step with the reference's",
        ),
        Param(
            "layer_samples", "int", default=8, minimum=1, maximum=256, help="inputs compared layer by layer"
        ),
        Param(
            "reuse_runtime",
            "bool",
            default=False,
            help="no step before a local final runtime that is the reference's own: take its outputs as the "
            "reference instead of loading the model twice (edgeai bench sets it)",
        ),
    )
)


@dataclass(frozen=True)
class ComponentRef:
    """A component named in a config, with its raw (not yet validated) parameters."""

    name: str
    params: dict[str, Any]
    where: str
    kind: str | None = None


@dataclass(frozen=True)
class PipelineConfig:
    """A structurally valid pipeline config. ``raw`` is the resolved mapping, kept for provenance."""

    raw: dict[str, Any]
    model: ComponentRef
    runtime: ComponentRef
    dataset: ComponentRef | None = None
    steps: tuple[ComponentRef, ...] = ()
    target: ComponentRef | None = None
    name: str | None = None
    seed: int = 0
    benchmark: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=lambda: FIDELITY_PARAMS.validate({}, "fidelity"))
    analysis: dict[str, Any] = field(default_factory=lambda: ANALYSIS_PARAMS.validate({}, "analysis"))
    #: ``[target] profile = "NAME"``: the target profile the run's numbers belong to (edgeai_core.targetprofiles)
    target_profile: str | None = None
    #: ``[targets.NAME]`` tables: the config's own target profiles, in the targets-file format
    targets: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        parts = [self.model.name, *(s.name for s in self.steps), self.runtime.name]
        return "-".join(parts)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a config file into a mapping. Errors name the file (and line where the parser says)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:
                import tomli as tomllib
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ModuleNotFoundError:
                raise ConfigError(
                    f"{path}: YAML configs need PyYAML: pip install 'edgeai-core[yaml]'"
                ) from None
            data = yaml.safe_load(text)
        else:
            raise ConfigError(f"{path}: unknown config format '{suffix}'; use .toml, .json or .yaml")
    except ConfigError:
        raise
    except Exception as exc:  # the parsers' own errors carry line and column
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of sections")
    return data


_KEY = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


def parse_value(text: str) -> Any:
    """Turn the value of ``--set k=v`` into a number, boolean, list or table where it reads as one."""
    stripped = text.strip()
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    try:
        return json.loads(stripped)
    except (json.JSONDecodeError, ValueError):
        return text


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``a.b.c=value`` applied (``steps.0.mode=dynamic`` indexes lists)."""
    data: dict[str, Any] = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. runtime.threads=2")
        assign(data, key, parse_value(value), f"--set {item!r}")
    return data


def assign(data: dict[str, Any], key: str, value: Any, what: str) -> None:
    """Set the dotted ``key`` of ``data`` in place (``steps.0.mode`` indexes lists; missing tables are made).
    Errors start with ``what`` (the option or file entry that asked)."""
    if not _KEY.match(key):
        raise ConfigError(f"{what}: {key!r} is not a dotted key like runtime.threads")
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            node = _list_item(node, part, where, what)
        else:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, (dict, list)):
                raise ConfigError(f"{what}: '{where}' is a value, not a table")
            node = child
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, key, what)] = copy.deepcopy(value)
    else:
        node[last] = copy.deepcopy(value)


def _index(items: list[Any], part: str, where: str, item: str) -> int:
    if not part.isdigit() or int(part) >= len(items):
        valid = f"an index from 0 to {len(items) - 1}" if items else "no index: the list is empty"
        raise ConfigError(f"{item}: '{where}' takes {valid}")
    return int(part)


def _list_item(items: list[Any], part: str, where: str, item: str) -> Any:
    child = items[_index(items, part, where, item)]
    if not isinstance(child, (dict, list)):
        raise ConfigError(f"{item}: '{where}' is a value, not a table")
    return child


def _component(data: Any, where: str, required: bool = True) -> ComponentRef | None:
    if data is None:
        if required:
            raise ConfigError(f"{where}: missing; add a [{where}] table with a 'name'")
        return None
    if isinstance(data, str):  # shorthand: runtime = "numpy"
        data = {"name": data}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a table with a 'name', got {data!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ParameterError(f"{where}.name", "missing; name the component (`edgeai list` shows them)")
    kind = data.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise ParameterError(f"{where}.kind", f"must be a string, got {kind!r}")
    params = {k: v for k, v in data.items() if k not in ("name", "kind")}
    return ComponentRef(name=name, params=params, where=where, kind=kind)


def _target_profile(data: Any) -> tuple[Any, str | None]:
    """``[target] profile = "NAME"`` split off the transport's table (a table holding only it runs locally)."""
    if not isinstance(data, Mapping) or "profile" not in data:
        return data, None
    profile = data["profile"]
    if not isinstance(profile, str) or not profile:
        raise ParameterError(
            "target.profile", f"must name a target profile (`edgeai list target`), got {profile!r}"
        )
    rest = {k: v for k, v in data.items() if k != "profile"}
    return (rest or None), profile


def _target(data: Any) -> ComponentRef | None:
    """``[target]`` names its transport as ``protocol`` (``protocol = "tcp"``) plus the transport's parameters."""
    if isinstance(data, Mapping) and "protocol" in data and "name" not in data:
        data = {"name": data["protocol"], **{k: v for k, v in data.items() if k != "protocol"}}
    return _component(data, "target", required=False)


def _settings(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a table, got {value!r}")
    return dict(value)


def parse_config(raw: Mapping[str, Any]) -> PipelineConfig:
    """Check a config mapping's structure and split it into component references."""
    for key in raw:
        if key not in TOP_LEVEL:
            hint = closest(key, TOP_LEVEL)
            suggestion = f"; did you mean '{hint}'?" if hint else f" (known: {', '.join(TOP_LEVEL)})"
            raise ConfigError(f"{key}: unknown section{suggestion}")
    steps_raw = raw.get("steps", [])
    if isinstance(steps_raw, Mapping):
        steps_raw = [steps_raw]
    if not isinstance(steps_raw, list):
        raise ConfigError(f"steps: must be a list of tables ([[steps]]), got {steps_raw!r}")
    steps = tuple(_component(s, f"steps[{i}]") for i, s in enumerate(steps_raw))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ParameterError("seed", f"must be a non-negative integer, got {seed!r}")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise ParameterError("name", f"must be a string, got {name!r}")
    model = _component(raw.get("model"), "model")
    runtime = _component(raw.get("runtime"), "runtime")
    assert model is not None and runtime is not None
    target, target_profile = _target_profile(raw.get("target"))
    return PipelineConfig(
        raw=dict(raw),
        name=name,
        seed=seed,
        dataset=_component(raw.get("dataset"), "dataset", required=False),
        model=model,
        steps=tuple(s for s in steps if s is not None),
        runtime=runtime,
        target=_target(target),
        target_profile=target_profile,
        targets=_settings(raw, "targets"),
        benchmark=_settings(raw, "benchmark"),
        evaluation=EVALUATION_PARAMS.validate(_settings(raw, "evaluation"), "evaluation"),
        resources=RESOURCES_PARAMS.validate(_settings(raw, "resources"), "resources"),
        fidelity=FIDELITY_PARAMS.validate(_settings(raw, "fidelity"), "fidelity"),
        analysis=ANALYSIS_PARAMS.validate(_settings(raw, "analysis"), "analysis"),
    )


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Read, override and structurally check a pipeline config."""
    return parse_config(apply_overrides(load_config_file(path), overrides))
