"""Registration records: what a plugin hands to edgeai for each component it provides.

Records are frozen dataclasses holding only static facts (name, one-line summary, parameters, formats,
task) and a lazy ``factory`` string ``"module:attr"``. Listing, describing and planning read records
only; the factory's module, which may import a heavy framework, is imported when the component is built.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from edgeai_core.errors import EdgeaiError, MissingDependencyError
from edgeai_core.params import Param, ParamSet, as_paramset

if TYPE_CHECKING:
    ParamSetLike = Any
else:
    ParamSetLike = ParamSet

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

#: Task names the core knows how to evaluate; plugins may use others.
TASKS = ("classification", "detection", "segmentation", "regression", "any")


@dataclass(frozen=True, kw_only=True)
class Registration:
    """Fields shared by every record.

    ``name``: unique (per kind) lowercase name used in configs and on the command line.
    ``summary``: one line for ``edgeai list``.
    ``factory``: ``"package.module:ClassName"``, imported only when the component is built.
    ``params``: the component's parameters (see :mod:`edgeai_core.params`).
    ``install``: the pip requirement that brings the framework the factory needs (``"mypkg[compile]"``);
    named in the error when importing the factory fails for a missing module.
    ``needs``: top-level modules the factory imports when it runs that ``install`` does not bring (a framework
    installed separately, ``("onnx2tf",)``); ``--dry-run`` and the matrix plan look for them without importing.
    ``modules``: top-level modules the factory imports that ``install`` brings (``("onnx",)`` for a component
    of ``"edgeai-onnx[compile]"``); where one cannot be found (:func:`importlib.util.find_spec`, nothing is
    imported) ``edgeai list`` shows the component unavailable with ``pip install '<install>'`` and the planner
    refuses it.
    ``provider``: the distribution that registered it, filled in by the plugin host.
    """

    kind: ClassVar[str] = "component"

    name: str
    summary: str
    factory: str
    # Typed loosely so plugin authors may pass a plain tuple of Param; __post_init__ makes it a ParamSet.
    params: ParamSetLike = field(default_factory=ParamSet)
    install: str = ""
    needs: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    provider: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"{self.kind} name {self.name!r} must be lowercase letters, digits, '.', '-' or '_'"
            )
        if not _FACTORY.match(self.factory):
            raise ValueError(
                f"{self.kind} {self.name!r}: factory {self.factory!r} must look like 'module:attr'"
            )
        if not self.summary or "\n" in self.summary:
            raise ValueError(f"{self.kind} {self.name!r}: summary must be one non-empty line")
        if not isinstance(self.params, ParamSet):
            object.__setattr__(self, "params", as_paramset(self.params))

    @property
    def qualified_name(self) -> str:
        return f"{self.kind}:{self.name}"

    def with_provider(self, provider: str) -> Registration:
        return dataclasses.replace(self, provider=provider)

    def facts(self) -> dict[str, Any]:
        """Static facts specific to this kind (formats, task), for listings and JSON."""
        return {}

    def load(self) -> Any:
        """Import and return the factory (usually a component class)."""
        module_name, _, attr = self.factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or str(exc)).split(".")[0]
            if module_name == exc.name or module_name.startswith(f"{exc.name}."):
                raise EdgeaiError(
                    f"{self.qualified_name}: its factory module '{module_name}' is not importable; "
                    f"reinstall {self.provider or 'its plugin'}"
                ) from exc
            raise MissingDependencyError(
                self.qualified_name, missing, self.install or self.provider or missing
            ) from exc
        for part in attr.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise EdgeaiError(
                    f"{self.qualified_name}: factory '{self.factory}' names no such attribute; "
                    f"reinstall {self.provider or 'its plugin'}"
                ) from None
        return obj

    def create(self, params: Mapping[str, Any] | None = None, *, where: str = "", **context: Any) -> Any:
        """Validate ``params``, import the factory and build the component.

        The factory is called as ``factory(record=self, params=validated, **context)``.
        """
        validated = self.params.validate(params or {}, where or self.kind)
        factory = self.load()
        return factory(record=self, params=validated, **context)


@dataclass(frozen=True, kw_only=True)
class DatasetRecord(Registration):
    """A dataset. ``task`` says how its predictions are evaluated (``classification``, ...)."""

    kind: ClassVar[str] = "dataset"
    task: str

    def facts(self) -> dict[str, Any]:
        return {"task": self.task}


#: The ``format`` of a model record whose artifacts take the format their sidecar declares (``artifact-file``).
FORMAT_FROM_SIDECAR = "sidecar"


@dataclass(frozen=True, kw_only=True)
class ModelRecord(Registration):
    """A model. ``format`` is the artifact format its ``prepare``/``train`` produce (``torch``, ``keras``,
    ``onnx``, ...; :data:`FORMAT_FROM_SIDECAR` for a model whose artifact is the format its sidecar says).
    ``tasks`` are the dataset tasks it can serve; ``trainable`` says whether ``edgeai train`` works for it.
    ``loads``: the file extensions (``".onnx"``) of the model files it loads from its ``path`` parameter;
    ``edgeai bench MODEL_FILE`` picks the model component by them."""

    kind: ClassVar[str] = "model"
    format: str
    tasks: tuple[str, ...] = ("classification",)
    trainable: bool = True
    loads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "loads", tuple(self.loads))
        bad = [e for e in self.loads if not (e.startswith(".") and len(e) > 1 and e == e.lower())]
        if bad:
            raise ValueError(
                f"model {self.name!r}: loads must hold lowercase file extensions with their dot "
                f"('.onnx'), got {bad[0]!r}"
            )

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "format": self.format,
            "tasks": list(self.tasks),
            "trainable": self.trainable,
        }
        if self.loads:
            facts["loads"] = list(self.loads)
        return facts


@dataclass(frozen=True, kw_only=True)
class CompilerRecord(Registration):
    """An optimizer/compiler: an artifact in one of ``input_formats`` becomes one in ``output_format``.
    ``needs_dataset``: the compiler uses the dataset (for calibration) when given one.
    ``static_dims``: it builds for fixed input shapes: every dimension but the batch must be known (a model
    with a dynamic sequence length fails it); ``--dry-run`` and the matrix plan check where they can."""

    kind: ClassVar[str] = "compiler"
    input_formats: tuple[str, ...]
    output_format: str
    needs_dataset: bool = False
    static_dims: bool = False

    def facts(self) -> dict[str, Any]:
        return {
            "input_formats": list(self.input_formats),
            "output_format": self.output_format,
            "needs_dataset": self.needs_dataset,
        }


@dataclass(frozen=True, kw_only=True)
class ConverterRecord(Registration):
    """A format converter (``torch`` -> ``onnx``). The planner inserts converters automatically where a
    pipeline's formats do not chain, choosing the shortest path."""

    kind: ClassVar[str] = "converter"
    input_format: str
    output_format: str

    def facts(self) -> dict[str, Any]:
        return {"input_format": self.input_format, "output_format": self.output_format}


@dataclass(frozen=True, kw_only=True)
class RuntimeRecord(Registration):
    """An inference runtime that loads artifacts in one of ``formats``.

    ``native_code``: loading an artifact executes code from it (a compiled shared library: TVM). A target
    server runs such a runtime only when its operator passes ``edgeai serve --allow-native-code``.
    Parameters a host may set over the wire are those declared with ``Param(..., host=True)``.
    """

    kind: ClassVar[str] = "runtime"
    formats: tuple[str, ...]
    native_code: bool = False

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"formats": list(self.formats)}
        if self.native_code:
            facts["native_code"] = True
        return facts

    @property
    def host_settable(self) -> tuple[str, ...]:
        """Names of the parameters a host may set per model (IOSPEC ``runtime.params``)."""
        return tuple(p.name for p in self.params if p.host)


@dataclass(frozen=True, kw_only=True)
class ProtocolRecord(Registration):
    """A host<->target transport (``tcp``, ``serial``) carrying the edgeai wire protocol."""

    kind: ClassVar[str] = "protocol"


@dataclass(frozen=True, kw_only=True)
class ProbeRecord(Registration):
    """A resource probe sampled alongside CPU and RSS (GPU utilisation and memory, power, ...)."""

    kind: ClassVar[str] = "probe"


@dataclass(frozen=True, kw_only=True)
class AnalyzerRecord(Registration):
    """A model analyzer: reads artifacts in ``formats`` and computes their complexity (parameters, MACs,
    FLOPs, per-layer shapes, peak activation memory) as an :class:`~edgeai_core.complexity.ModelComplexity`."""

    kind: ClassVar[str] = "analyzer"
    formats: tuple[str, ...]

    def facts(self) -> dict[str, Any]:
        return {"formats": list(self.formats)}


@dataclass(frozen=True, kw_only=True)
class ExecutorRecord(Registration):
    """A sweep executor: where and when the jobs of ``edgeai sweep`` run (``local``: this machine; a plugin may
    add a cluster). ``factory`` names a subclass of :class:`~edgeai_core.executors.Executor`."""

    kind: ClassVar[str] = "executor"


@dataclass(frozen=True, kw_only=True)
class DemoVariant:
    """One row of ``edgeai demo``: a pipeline config over the demo's data and model.

    ``config`` is a pipeline config (see :mod:`edgeai_core.config`) naming at least ``dataset``, ``model`` and
    ``runtime``. The demo trains each distinct dataset+model pair once and passes the checkpoint to every variant
    through the model parameter ``checkpoint``, so a demo model must accept that parameter. ``order`` sorts the
    summary table (float before quantized before compiled); ``provider`` is filled in by the plugin host.

    ``serve``: run the variant on a remote target. The demo starts a local ``edgeai serve --protocol tcp
    --runtime <the config's runtime> --port 0`` subprocess with a fresh token, points the variant's ``[target]``
    at it, benchmarks through the wire protocol and stops the server afterwards.

    ``unavailable``: why the variant cannot run on this machine now (e.g. the target it needs is not running);
    the demo skips it with this reason.
    """

    name: str
    summary: str
    config: Mapping[str, Any]
    order: int = 100
    provider: str = ""
    serve: bool = False
    unavailable: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"demo variant name {self.name!r} must be lowercase letters, digits, '.', '-' or '_'"
            )
        missing = [k for k in ("dataset", "model", "runtime") if k not in self.config]
        if missing:
            raise ValueError(f"demo variant {self.name!r}: config lacks {', '.join(missing)}")
        if self.serve and "target" in self.config:
            raise ValueError(
                f"demo variant {self.name!r}: serve=True makes the target; drop config['target']"
            )

    @classmethod
    def table(
        cls,
        dataset: Mapping[str, Any],
        model: Mapping[str, Any],
        rows: Iterable[tuple[str, int, str, Sequence[Mapping[str, Any]] | None, Mapping[str, Any]]],
        *,
        serve: Iterable[str] = (),
    ) -> list[DemoVariant]:
        """Variants over one ``dataset`` and ``model`` table, from ``(name, order, summary, steps, runtime)``
        rows (``steps`` None: no steps); the variants named in ``serve`` run behind a local server.

        Every variant gets its own copy of each table, so the demo trains the dataset+model pair once."""
        serving = set(serve)
        variants = []
        for name, order, summary, steps, runtime in rows:
            config: dict[str, Any] = {"dataset": dict(dataset), "model": dict(model)}
            if steps is not None:
                config["steps"] = [dict(step) for step in steps]
            config["runtime"] = dict(runtime)
            variants.append(
                cls(name=name, summary=summary, order=order, config=config, serve=name in serving)
            )
        return variants


@dataclass(frozen=True, kw_only=True)
class GridSuiteRecord(Registration):
    """A framework's models for the ONNX support grid (``edgeai grid``, hook ``edgeai_register_grid_suites``).

    ``factory`` names a subclass of :class:`edgeai_core.api.GridSuite`; ``framework`` is the framework whose
    models it exports (``jax``) and ``converter`` the converter whose export path it uses
    (``jax-to-onnx``), so ``edgeai grid --converters`` can select suites by either name. Not a pipeline
    component: ``edgeai list`` does not show it, ``edgeai grid --list`` does.
    """

    kind: ClassVar[str] = "grid-suite"
    framework: str
    converter: str = ""

    def facts(self) -> dict[str, Any]:
        return {"framework": self.framework, "converter": self.converter}


@dataclass(frozen=True, kw_only=True)
class OnnxBackendRecord(Registration):
    """An ONNX-consuming backend for ``edgeai onnx-backend-tests`` (hook ``edgeai_register_onnx_backends``).

    ``factory`` names a subclass of :class:`edgeai_core.api.OnnxBackend`, which prepares (loads or
    compiles) an ONNX file for given inputs and runs it. ``uses`` names the pipeline components it goes
    through (``("compiler:my-npu", "runtime:my-npu")``), for the report.
    """

    kind: ClassVar[str] = "onnx-backend"
    uses: tuple[str, ...] = ()

    def facts(self) -> dict[str, Any]:
        return {"uses": list(self.uses)}


@dataclass(frozen=True, kw_only=True)
class KnownComponent:
    """A component that another distribution provides, named so that an unknown name can say what to install.

    A plugin returns these from ``edgeai_known_components`` for components it knows exist but cannot offer in
    this environment: those of sibling distributions its pipelines reach, or its own that need an extra.
    ``install`` is the pip requirement (default: ``distribution``); ``provider`` is filled in by the plugin
    host with the distribution that named it.
    """

    kind: str
    name: str
    distribution: str
    install: str = ""
    needs: tuple[str, ...] = ()
    provider: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(
                f"known component {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}"
            )
        if not _NAME.match(self.name):
            raise ValueError(
                f"known component name {self.name!r} must be lowercase letters, digits, '.', '-' or '_'"
            )
        if not self.distribution:
            raise ValueError(f"known component {self.kind}:{self.name}: distribution must not be empty")

    @property
    def requirement(self) -> str:
        """What to ``pip install`` to get it."""
        return self.install or self.distribution

    @classmethod
    def catalog(cls, by_distribution: Mapping[str, Iterable[str]]) -> list[KnownComponent]:
        """Records from ``{distribution: ["runtime:name", ...]}``, the compact form a plugin module writes."""
        out = []
        for distribution, qualified_names in by_distribution.items():
            for qualified in qualified_names:
                kind, sep, name = qualified.partition(":")
                if not sep:
                    raise ValueError(f"known component {qualified!r} must look like 'kind:name'")
                out.append(cls(kind=kind, name=name, distribution=distribution))
        return out


@dataclass(frozen=True)
class ComponentKind:
    """One kind of pipeline component: its record type, the hook that collects its records and the base class
    its factories subclass. ``base`` is a ``"module:attr"`` string, imported only by :meth:`base_class`, so that
    listing records never imports the component machinery."""

    name: str
    record_type: type[Registration]
    hook: str
    base: str

    def base_class(self) -> type:
        module_name, _, attr = self.base.partition(":")
        cls: type = getattr(importlib.import_module(module_name), attr)
        return cls


def _kinds(*kinds: ComponentKind) -> Mapping[str, ComponentKind]:
    for kind in kinds:
        if kind.record_type.kind != kind.name:
            raise AssertionError(f"{kind.record_type.__name__}.kind is not {kind.name!r}")
    return MappingProxyType({kind.name: kind for kind in kinds})


#: The component kinds, in listing order: the one table of record type, collector hook and base class.
KINDS: Mapping[str, ComponentKind] = _kinds(
    ComponentKind("dataset", DatasetRecord, "edgeai_register_datasets", "edgeai_core.components:Dataset"),
    ComponentKind("model", ModelRecord, "edgeai_register_models", "edgeai_core.components:Model"),
    ComponentKind("compiler", CompilerRecord, "edgeai_register_compilers", "edgeai_core.components:Compiler"),
    ComponentKind(
        "converter", ConverterRecord, "edgeai_register_converters", "edgeai_core.components:Converter"
    ),
    ComponentKind("runtime", RuntimeRecord, "edgeai_register_runtimes", "edgeai_core.components:Runtime"),
    ComponentKind("protocol", ProtocolRecord, "edgeai_register_protocols", "edgeai_core.components:Protocol"),
    ComponentKind("probe", ProbeRecord, "edgeai_register_probes", "edgeai_core.components:ResourceProbe"),
    ComponentKind(
        "analyzer", AnalyzerRecord, "edgeai_register_analyzers", "edgeai_core.components:ModelAnalyzer"
    ),
    ComponentKind("executor", ExecutorRecord, "edgeai_register_executors", "edgeai_core.executors:Executor"),
)

#: ``{kind: record type}``, derived from :data:`KINDS`.
RECORD_TYPES: Mapping[str, type[Registration]] = MappingProxyType(
    {name: kind.record_type for name, kind in KINDS.items()}
)

__all__ = [
    "FORMAT_FROM_SIDECAR",
    "KINDS",
    "RECORD_TYPES",
    "TASKS",
    "AnalyzerRecord",
    "CompilerRecord",
    "ComponentKind",
    "ConverterRecord",
    "DatasetRecord",
    "DemoVariant",
    "ExecutorRecord",
    "GridSuiteRecord",
    "KnownComponent",
    "ModelRecord",
    "OnnxBackendRecord",
    "Param",
    "ProbeRecord",
    "ProtocolRecord",
    "Registration",
    "RuntimeRecord",
]
