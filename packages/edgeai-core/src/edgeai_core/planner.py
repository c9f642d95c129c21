"""The planner: resolves a config against installed plugins and validates the format chain.

Planning reads registration records only, so it never imports a framework: a pipeline whose names,
parameters or formats are wrong fails here, in milliseconds, before anything is trained or compiled.
Where a step (or the runtime) does not accept the current format, the planner inserts the shortest chain
of converters that bridges the gap, or says precisely what is missing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeai_core.config import ComponentRef, PipelineConfig
from edgeai_core.errors import ParameterError, PlanError, UsageError
from edgeai_core.jsonvalues import jsonable
from edgeai_core.plugins import PluginHost

if TYPE_CHECKING:
    from edgeai_core.targetprofiles import TargetProfile
from edgeai_core.records import (
    FORMAT_FROM_SIDECAR,
    CompilerRecord,
    ConverterRecord,
    DatasetRecord,
    ModelRecord,
    ProtocolRecord,
    Registration,
    RuntimeRecord,
)


@dataclass(frozen=True)
class PlannedComponent:
    """A resolved component: its record and validated parameters. ``where`` is its config path."""

    record: Registration
    params: dict[str, Any]
    where: str

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.record.kind,
            "name": self.record.name,
            "provider": self.record.provider,
            "params": jsonable(self.params),
            "where": self.where,
        }


@dataclass(frozen=True)
class PlannedStep(PlannedComponent):
    """A compiler or converter in the chain, with the formats it takes and gives here."""

    input_format: str = ""
    output_format: str = ""
    inserted: bool = False

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.update(input_format=self.input_format, output_format=self.output_format, inserted=self.inserted)
        return data


@dataclass(frozen=True)
class Plan:
    config: PipelineConfig
    model: PlannedComponent
    runtime: PlannedComponent
    dataset: PlannedComponent | None = None
    steps: tuple[PlannedStep, ...] = ()
    target: PlannedComponent | None = None
    benchmark: dict[str, Any] = field(default_factory=dict)
    #: the format of the model's artifact (the record's, or the sidecar's for ``artifact-file`` models)
    model_format: str = ""
    #: the target profile the config names (``[target] profile``): the fit check's and the numbers' target
    target_profile: TargetProfile | None = None

    @property
    def final_format(self) -> str:
        if self.steps:
            return self.steps[-1].output_format
        assert isinstance(self.model.record, ModelRecord)
        return self.model_format or self.model.record.format

    def records(self) -> list[Registration]:
        parts = [self.dataset, self.model, *self.steps, self.runtime, self.target]
        return [p.record for p in parts if p is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset.to_json() if self.dataset else None,
            "model": self.model.to_json(),
            "steps": [s.to_json() for s in self.steps],
            "runtime": self.runtime.to_json(),
            "target": self.target.to_json() if self.target else None,
            "benchmark": self.benchmark,
            "final_format": self.final_format,
            **({"target_profile": self.target_profile.name} if self.target_profile else {}),
        }

    def describe(self) -> list[str]:
        """Human-readable lines, one per stage."""
        lines = []
        if self.dataset:
            lines.append(f"dataset   {self.dataset.record.name}")
        model = self.model.record
        assert isinstance(model, ModelRecord)
        lines.append(f"model     {model.name} -> {self.model_format or model.format}")
        for step in self.steps:
            mark = " (inserted)" if step.inserted else ""
            lines.append(
                f"{step.record.kind:<9} {step.record.name}: {step.input_format} -> {step.output_format}{mark}"
            )
        lines.append(f"runtime   {self.runtime.record.name} ({self.final_format})")
        if self.target:
            lines.append(f"target    {self.target.record.name}")
        if self.target_profile:
            lines.append(f"profile   {self.target_profile.name} ({self.target_profile.summary})")
        return lines


def _resolve(host: PluginHost, kind: str, ref: ComponentRef) -> PlannedComponent:
    record = host.get(kind, ref.name, where=f"{ref.where}.name")
    return PlannedComponent(record, record.params.validate(ref.params, ref.where), ref.where)


def converter_path(host: PluginHost, source: str, targets: Iterable[str]) -> list[ConverterRecord] | None:
    """The shortest chain of converters from format ``source`` to any of ``targets`` (ties: by name)."""
    goals = set(targets)
    if source in goals:
        return []
    converters = sorted(
        (r for r in host.records("converter") if isinstance(r, ConverterRecord)), key=lambda r: r.name
    )
    queue: deque[tuple[str, list[ConverterRecord]]] = deque([(source, [])])
    seen = {source}
    while queue:
        fmt, path = queue.popleft()
        for conv in converters:
            if conv.input_format != fmt or conv.output_format in seen:
                continue
            chain = [*path, conv]
            if conv.output_format in goals:
                return chain
            seen.add(conv.output_format)
            queue.append((conv.output_format, chain))
    return None


def _bridge(
    host: PluginHost, current: str, accepted: tuple[str, ...], consumer: str, where: str
) -> list[PlannedStep]:
    chain = converter_path(host, current, accepted)
    if chain is None:
        wanted = " or ".join(accepted)
        known = sorted({f"{c.input_format}->{c.output_format}" for c in host.records("converter")})  # type: ignore[attr-defined]
        have = f"installed converters: {', '.join(known)}" if known else "no converter is installed"
        raise PlanError(
            f"{where}: {consumer} accepts {wanted}, but the chain produces {current} and no converter path "
            f"leads from {current} to {wanted} ({have}); install a plugin that converts {current} to {wanted}"
        )
    steps = []
    fmt = current
    for conv in chain:
        steps.append(
            PlannedStep(
                conv,
                conv.params.validate({}, f"{where}.converter[{conv.name}]"),
                f"{where} (inserted)",
                input_format=fmt,
                output_format=conv.output_format,
                inserted=True,
            )
        )
        fmt = conv.output_format
    return steps


def _step_record(host: PluginHost, ref: ComponentRef) -> Registration:
    if ref.kind is not None:
        if ref.kind not in ("compiler", "converter"):
            raise ParameterError(f"{ref.where}.kind", f"must be compiler or converter, got '{ref.kind}'")
        return host.get(ref.kind, ref.name, where=f"{ref.where}.name")
    found = [r for r in host.find(ref.name) if r.kind in ("compiler", "converter")]
    if not found:
        names = host.names()
        raise host.unknown_component(
            "compiler or converter",
            ref.name,
            names["compiler"] + names["converter"],
            f"{ref.where}.name",
            kinds=("compiler", "converter"),
        )
    if len(found) > 1:
        raise UsageError(
            f"{ref.where}.name: '{ref.name}' is both a compiler and a converter; add kind = \"compiler\" "
            'or kind = "converter" to the step'
        )
    return found[0]


def plan_pipeline(
    config: PipelineConfig, host: PluginHost, *, target_files: Iterable[str | Path] = ()
) -> Plan:
    """Resolve every component, validate every parameter and the whole format chain. ``target_files``: the
    user's target profile files (``--targets FILE``), where ``[target] profile`` may name a profile."""
    from edgeai_core.benchmark import BenchmarkSettings
    from edgeai_core.targetprofiles import named_profile

    dataset = _resolve(host, "dataset", config.dataset) if config.dataset else None
    model = _resolve(host, "model", config.model)
    model_record = model.record
    assert isinstance(model_record, ModelRecord)
    if dataset is not None:
        task = dataset.record.task  # type: ignore[attr-defined]
        assert isinstance(dataset.record, DatasetRecord)
        if "any" not in model_record.tasks and task not in model_record.tasks and task != "any":
            raise PlanError(
                f"model.name: model '{model_record.name}' serves {', '.join(model_record.tasks)}, "
                f"but dataset '{dataset.record.name}' is a {task} dataset"
            )
        _check_declared_task(model, dataset.record.name, task)

    fmt = model_format(model)
    steps: list[PlannedStep] = []
    for ref in config.steps:
        record = _step_record(host, ref)
        params = record.params.validate(ref.params, ref.where)
        if isinstance(record, CompilerRecord):
            accepted = record.input_formats
            if record.needs_dataset and dataset is None:
                raise PlanError(
                    f"{ref.where}: compiler '{record.name}' calibrates on a dataset; add a [dataset] table"
                )
        else:
            assert isinstance(record, ConverterRecord)
            accepted = (record.input_format,)
        consumer = f"{record.kind} '{record.name}'"
        bridge = _bridge(host, fmt, accepted, consumer, ref.where)
        steps.extend(bridge)
        if bridge:
            fmt = bridge[-1].output_format
        assert isinstance(record, (CompilerRecord, ConverterRecord))
        out = record.output_format
        steps.append(PlannedStep(record, params, ref.where, input_format=fmt, output_format=out))
        fmt = out

    runtime = _resolve(host, "runtime", config.runtime)
    runtime_record = runtime.record
    assert isinstance(runtime_record, RuntimeRecord)
    steps.extend(_bridge(host, fmt, runtime_record.formats, f"runtime '{runtime_record.name}'", "runtime"))

    target = None
    if config.target is not None:
        target = _resolve(host, "protocol", config.target)
        assert isinstance(target.record, ProtocolRecord)

    benchmark = BenchmarkSettings.from_mapping(config.benchmark, "benchmark").to_json()
    profile = named_profile(host, config.target_profile, config.targets, target_files)
    if benchmark["cpu_affinity"] is not None and target is None:  # a target checks its own CPUs
        from edgeai_core.control import allowed_cpus, check_affinity

        check_affinity(benchmark["cpu_affinity"], allowed_cpus())
    return Plan(
        config=config,
        dataset=dataset,
        model=model,
        steps=tuple(steps),
        runtime=runtime,
        target=target,
        benchmark=benchmark,
        model_format=model_format(model),
        target_profile=profile,
    )


def _check_declared_task(model: PlannedComponent, dataset: str, task: str) -> None:
    """A model file's ``task`` parameter (or its ``postprocess`` kind) against the dataset's task."""
    from edgeai_core.tasks import DECODER_TASK

    declared, field = model.params.get("task"), "task"
    spec = model.params.get("postprocess")
    if declared is None and isinstance(spec, dict):
        declared, field = DECODER_TASK.get(str(spec.get("kind"))), "postprocess.kind"
    if declared and task != "any" and declared != task:
        raise PlanError(
            f"model.{field}: model '{model.record.name}' is declared a {declared} model, but dataset "
            f"'{dataset}' is a {task} dataset"
        )


def model_format(model: PlannedComponent) -> str:
    """The format of the planned model's artifact: its record's, or for a model whose record says
    :data:`~edgeai_core.records.FORMAT_FROM_SIDECAR`, its ``format`` parameter or else the format the sidecar
    of its ``path`` declares (a small JSON file, read here so the chain can be planned)."""
    record = model.record
    assert isinstance(record, ModelRecord)
    if record.format != FORMAT_FROM_SIDECAR:
        return record.format
    given = model.params.get("format")
    if given:
        return str(given)
    from edgeai_core.artifacts import sidecar_format

    return sidecar_format(model.params["path"], f"{model.where}.path")
