"""The runner: executes a :class:`~edgeai_core.planner.Plan` and writes the measurement document.

Stages: prepare dataset -> prepare (train or load) model -> each step (timed, artifact size recorded) ->
load in the runtime on the plan's target (:mod:`edgeai_core.targets`: this process or a remote one) ->
warm-up and timed benchmark with resource sampling -> quality evaluation. What each component returns is
checked at the boundary (:mod:`edgeai_core.contracts`). Whatever happens, ``results.json`` is written; a
failure records the stage and error and re-raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core import analysis, tensors
from edgeai_core.artifacts import Artifact, IOSpec
from edgeai_core.benchmark import BenchmarkResult, BenchmarkSettings
from edgeai_core.components import PLACEHOLDER_INPUT, Context, Dataset, Model, Split, order_inputs
from edgeai_core.contracts import ContractError, check_artifact, check_outputs, check_split
from edgeai_core.control import run_repeated, split_target_times
from edgeai_core.document import (
    ArtifactStep,
    DatasetStep,
    FidelityStep,
    Latency,
    NotApplicable,
    Quality,
    RunError,
    TargetLatency,
)
from edgeai_core.errors import ArtifactError, EdgeaiError
from edgeai_core.fidelity import FidelityCheck, fidelity_line
from edgeai_core.fitstage import PipelineFit
from edgeai_core.inputsources import InputSource
from edgeai_core.lineage import file_under_step, without_steps
from edgeai_core.measurement import OutputWriteError, RunRecorder, provenance
from edgeai_core.planner import Plan, PlannedComponent
from edgeai_core.plugins import PluginHost
from edgeai_core.progress import NullProgress, Progress
from edgeai_core.records import RuntimeRecord
from edgeai_core.resources import ResourceSampler, start_probes
from edgeai_core.stepcache import StepCache, content_of_paths
from edgeai_core.targets import Target, Workspace, build, open_target
from edgeai_core.validity import assess_run

log = logging.getLogger(__name__)


class RunFailed(EdgeaiError):
    """The run failed; ``results.json`` holds what was measured before the failure."""

    def __init__(self, message: str, results: Path | None, cause: BaseException) -> None:
        super().__init__(message if results is None else f"{message} (partial results in {results})")
        self.results = results
        self.exit_code = getattr(cause, "exit_code", 1)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped the run; ``results`` is its results.json (status ``interrupted``), which holds
    what was measured so far. Still a KeyboardInterrupt, so whoever stops on Ctrl-C still does."""

    def __init__(self, results: Path) -> None:
        super().__init__(f"interrupted; partial results in {results}")
        self.results = results


def _kept(recorder: RunRecorder, lost: OutputWriteError) -> str:
    """Where the measurements are when results.json itself could not be written."""
    if recorder.partial_error is None:
        return f"{lost}; the measurements so far are in {recorder.partial_path}"
    return (
        f"{lost}; the measurements up to the failure are in {recorder.partial_path}"
        " (edgeai_core.measurement.recover_partial reads it)"
    )


def synthetic_inputs(io: IOSpec, batch: int, seed: int) -> list[np.ndarray]:
    """Seeded inputs matching an IO spec, for runs without a dataset."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in io.inputs:
        shape = spec.concrete_shape(batch)
        if spec.dtype.startswith(("int", "uint")):
            info = np.iinfo(spec.dtype)
            arrays.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=spec.dtype))
        elif spec.dtype == "bool":
            arrays.append(rng.integers(0, 2, size=shape).astype(bool))
        else:
            arrays.append(rng.standard_normal(shape).astype(spec.dtype))
    return arrays


class NormalizedDataset(Dataset):
    """A dataset whose inputs are normalized the way the model expects (``input_normalization`` metadata).

    A user's pre-trained model often expects ``(x - mean) / std`` per channel; applying it here, once per
    split, keeps it out of the timed loop and makes calibration, benchmark and evaluation all see it.
    """

    def __init__(self, inner: Dataset, mean: Sequence[float], std: Sequence[float], axis: int) -> None:
        super().__init__(record=inner.record, params=inner.params, context=inner.context)
        self.inner = inner
        self.mean, self.std, self.axis = np.asarray(mean, np.float32), np.asarray(std, np.float32), axis
        self._cache: dict[str, Split] = {}

    def _normalize(self, x: np.ndarray) -> np.ndarray:
        shape = [1] * x.ndim
        shape[self.axis] = -1
        return ((x - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(np.float32)

    def prepare(self) -> None:
        self.inner.prepare()

    def split(self, name: str) -> Split:
        if name not in self._cache:
            raw = check_split(self.inner.record, name, self.inner.split(name))
            self._cache[name] = Split(self._normalize_all(raw.inputs), raw.targets)
        return self._cache[name]

    def _normalize_all(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The normalization is the first input's (an image); other inputs pass unchanged."""
        return {k: self._normalize(v) if i == 0 else v for i, (k, v) in enumerate(inputs.items())}

    def use_io_spec(self, io: IOSpec) -> None:
        self.inner.use_io_spec(io)
        self._cache.clear()

    def calibration_inputs(self, count: int) -> np.ndarray:
        return self._normalize(self.inner.calibration_inputs(count))

    def calibration_samples(self, count: int) -> dict[str, np.ndarray]:
        return self._normalize_all(self.inner.calibration_samples(count))

    @property
    def task(self) -> str:
        return self.inner.task

    @property
    def class_names(self) -> list[str]:
        return self.inner.class_names

    @property
    def has_labels(self) -> bool:
        return self.inner.has_labels

    def evaluate(self, outputs: Any, targets: np.ndarray) -> dict[str, Any]:
        return self.inner.evaluate(outputs, targets)

    def preview(self, split: str, index: int) -> np.ndarray | None:
        return self.inner.preview(split, index)

    def versions(self) -> dict[str, str]:
        return self.inner.versions()


def normalized_for(dataset: Dataset, artifact: Artifact) -> Dataset:
    """Wrap ``dataset`` when the artifact declares ``input_normalization`` ({mean, std, axis})."""
    spec = artifact.metadata.get("input_normalization")
    if not spec:
        return dataset
    try:
        mean, std, axis = spec["mean"], spec["std"], int(spec.get("axis", 1))
    except (KeyError, TypeError, ValueError):
        raise ArtifactError(
            f"{artifact.path}: input_normalization must hold mean, std and axis, got {spec!r}"
        ) from None
    if len(mean) != len(std) or not all(s != 0 for s in std):
        raise ArtifactError(f"{artifact.path}: input_normalization needs as many non-zero std as mean values")
    return NormalizedDataset(dataset, mean, std, axis)


def check_input_shape(inputs: np.ndarray | Mapping[str, np.ndarray], io: IOSpec, dataset: str) -> None:
    """Fail early, with both shapes named, when the dataset's samples do not fit the model's inputs
    (and, for several inputs, when the names do not match)."""
    if not io.inputs:
        return
    named = inputs if isinstance(inputs, Mapping) else {PLACEHOLDER_INPUT: inputs}
    note = f"; set the dataset's size/channels/layout parameters (`edgeai describe {dataset}`) to match"
    for spec, array in zip(io.inputs, order_inputs(named, io, f"dataset {dataset}"), strict=True):
        tensors.check_input_shape(array.shape[1:], spec, dataset, note=note)


def _static_batch(io: IOSpec) -> int | None:
    first = io.inputs[0].shape[0] if io.inputs and io.inputs[0].shape else None
    return first if isinstance(first, int) and first > 0 else None


class Runner:
    """Runs a plan: the components before the runtime on this machine, the runtime on the plan's target.

    The target (:mod:`edgeai_core.targets`) is this process, or a remote one when the config has a
    ``[target]`` table (``target`` builds it; pass another factory to run the plan elsewhere); the document
    has the same layout either way, plus the target's own timings and resources on remote runs.
    """

    def __init__(
        self,
        plan: Plan,
        output_dir: Path,
        *,
        host: PluginHost,
        progress: Progress | None = None,
        command: Sequence[str] | None = None,
        target: Callable[[Plan, Workspace], Target] = open_target,
        inputs: InputSource | None = None,
        force: bool = False,
        step_cache: StepCache | None = None,
        compile_only: bool = False,
    ) -> None:
        self.plan = plan
        #: run a model that does not fit the config's target profile anyway (edgeai_core.fitstage)
        self.force = force
        #: where trained models and compiled artifacts are shared between runs (:mod:`edgeai_core.stepcache`)
        self.step_cache = step_cache
        #: stop once the final artifact exists (a sweep compiles shared steps first, then benchmarks)
        self.compile_only = compile_only
        self._cache_facts: dict[str, dict[str, Any]] = {}
        #: the benchmark's inputs when the plan has no dataset (``edgeai bench``); else synthetic ones
        self.inputs = inputs
        self.open_target = target
        self.output_dir = Path(output_dir)
        self.host = host
        self.progress = progress or NullProgress()
        self.command = command
        self.artifacts_dir = self.output_dir / "artifacts"
        self.stage = "setup"
        #: "converter keras-to-onnx on model.keras" while a step runs: named in its failure
        self._step_label = ""
        self.fidelity: FidelityCheck | None = None
        self.workspace = Workspace(self.output_dir, self.progress, self._context, self._stage)

    def _context(self, sub: str) -> Context:
        workdir = self.artifacts_dir / sub
        workdir.mkdir(parents=True, exist_ok=True)
        return Context(workdir=workdir, seed=self.plan.config.seed, progress=self.progress)

    def run(self) -> dict[str, Any]:
        """Execute the plan; return the document (also written to ``output_dir/results.json``)."""
        config = self.plan.config
        try:
            recorder = RunRecorder(self.output_dir, config.display_name)
        except OutputWriteError as exc:
            raise RunFailed(
                f"writing {exc.path} during {self.stage}: {exc.reason}; nothing was measured yet", None, exc
            ) from exc
        try:
            self._run(recorder)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            try:
                path = recorder.finish(status, RunError.from_exception(self.stage, exc))
            except OutputWriteError as lost:
                if not isinstance(exc, Exception):
                    raise
                raise RunFailed(f"{self._failure(exc)}; {_kept(recorder, lost)}", None, exc) from exc
            if isinstance(exc, Exception):
                raise RunFailed(self._failure(exc), path, exc) from exc
            if isinstance(exc, KeyboardInterrupt):
                raise RunInterrupted(path) from exc
            raise
        try:
            recorder.finish("complete")
        except OutputWriteError as exc:
            raise RunFailed(f"the run completed, but {_kept(recorder, exc)}", None, exc) from exc
        return recorder.document

    def _failure(self, exc: Exception) -> str:
        """One line for a failed run: what failed, in which stage."""
        if isinstance(exc, ContractError):  # it already names the component
            return str(exc)
        if isinstance(exc, OutputWriteError):
            return f"writing {exc.path} during {self.stage}: {exc.reason}"
        if isinstance(exc, OSError) and exc.filename is not None:
            reason = (exc.strerror or str(exc)).rstrip(".")
            return f"{self.stage} failed: {exc.filename}: {reason[:1].lower() + reason[1:]}"
        if self._step_label and self.stage.startswith("steps["):  # name the step, its input and the cause
            if isinstance(exc, EdgeaiError):
                cause = str(exc)
            else:  # a framework's raw exception: its type and first line (results.json keeps it whole)
                lines = [line for line in str(exc).splitlines() if line.strip()]
                cause = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
            name = self._step_label.split(" ")[1]
            cause = cause.removeprefix(f"{name}: ")  # the step is named once
            return f"{self.stage} failed: {self._step_label}: {cause}"
        return f"{self.stage} failed: {exc}"

    def _stage(self, name: str, message: str) -> None:
        self.stage = name
        self.progress.stage(message)

    def _run(self, recorder: RunRecorder) -> None:
        plan, config = self.plan, self.plan.config
        recorder.set_plan(plan.to_json())
        recorder.set_provenance(
            provenance(
                config=config.raw,
                seed=config.seed,
                plugins=self.host.provider_versions(plan.records()),
                command=self.command,
            )
        )
        frameworks: dict[str, str] = {}
        fit = PipelineFit(plan, self.host, self.progress, force=self.force)
        if plan.target_profile is not None:
            self.stage = "fit"
        fit.before(recorder)  # the profile the numbers belong to; a model file's fit, before anything heavy

        dataset: Dataset | None = None
        if plan.dataset is not None:
            self._stage("dataset", f"preparing dataset {plan.dataset.record.name}")
            started = time.perf_counter()
            dataset = build(plan.dataset, self._context("dataset"))
            assert dataset is not None
            dataset.prepare()
            frameworks.update(dataset.versions())
            recorder.add_step(DatasetStep(plan.dataset.record.name, time.perf_counter() - started))
            self.progress.done()

        self._stage("model", f"preparing model {plan.model.record.name}")
        started = time.perf_counter()

        def prepare_model() -> tuple[Artifact, dict[str, str]]:
            model: Model = build(plan.model, self._context("model"))
            made = check_artifact(plan.model.record, "Model.prepare", model.prepare(dataset))
            return made, model.versions()

        if getattr(plan.model.record, "trainable", False):  # training is worth sharing; loading a file is not
            artifact, versions = self._cached(plan.model, None, "model", prepare_model)
        else:
            artifact, versions = prepare_model()
        artifact = self._file_metadata(artifact, None, plan.model.record.name)
        if dataset is not None:
            dataset.use_io_spec(artifact.io)
            dataset = normalized_for(dataset, artifact)
            if len(artifact.io.inputs) > 1 and not hasattr(dataset, "input_shapes"):
                # names and shapes of every input, before any compile step spends minutes
                split = self._split(dataset, self.plan.config.evaluation["split"], artifact.io)
                check_input_shape(split.inputs, artifact.io, dataset.name)
        frameworks.update(versions)
        self._record_step(recorder, plan.model, None, artifact, time.perf_counter() - started)
        self.progress.done(f"{artifact.format}, {artifact.size_bytes} bytes")
        self._start_fidelity(recorder, artifact, dataset)
        #: how the model's outputs become predictions (detection, segmentation): the latest step's declaration
        self._postprocess: Any = artifact.metadata.get("postprocess")
        made = [(plan.model.record.name, artifact)]  # the artifacts so far: the complexity analysis picks one

        for index, step in enumerate(plan.steps):
            self._stage(
                f"steps[{index}]",
                f"{step.record.kind} {step.record.name}: {step.input_format} -> {step.output_format}",
            )
            self._step_label = f"{step.record.kind} {step.record.name} on {Path(artifact.path).name}"
            started = time.perf_counter()
            source = artifact
            sub = f"{index:02d}-{step.record.name}"

            def run_step(step: PlannedComponent = step, source: Artifact = source, sub: str = sub) -> Any:
                component = build(step, self._context(sub))
                if step.record.kind == "compiler":
                    method = "Compiler.compile"
                    needs = getattr(step.record, "needs_dataset", False)
                    produced = component.compile(source, dataset if needs else None)
                else:
                    method = "Converter.convert"
                    produced = component.convert(source)
                made = check_artifact(step.record, method, produced, getattr(step, "output_format", None))
                return made, component.versions()

            artifact, versions = self._cached(step, source, sub, run_step)
            artifact = self._file_metadata(artifact, source, step.record.name)
            frameworks.update(versions)
            self._record_step(recorder, step, source, artifact, time.perf_counter() - started)
            self.progress.done(f"{artifact.size_bytes} bytes")
            made.append((step.record.name, artifact))
            self._postprocess = artifact.metadata.get("postprocess", self._postprocess)
            if self.fidelity is not None:
                name, kind = step.record.name, step.record.kind
                self._check_fidelity(
                    recorder, f"{kind} {name}", self.fidelity.check_step, name, kind, source, artifact
                )

        if self.compile_only:
            recorder.set_frameworks(frameworks)
            return
        if plan.target_profile is not None and not fit.checked:
            self.stage = "fit"
        fit.after(recorder, artifact)  # the final artifact against the config's target profile
        if config.analysis["enabled"]:
            self._stage("complexity", f"analysing the complexity of {Path(artifact.path).name}")
            batch = BenchmarkSettings.from_mapping(plan.benchmark).batch_size
            complexity = analysis.analyze(self.host, made, self._context("analysis"), batch_size=batch,
                                          output_dir=self.output_dir)  # fmt: skip
            recorder.set_complexity(complexity)
            self.progress.done(analysis.complexity_line(complexity))

        target = self.open_target(plan, self.workspace)
        try:
            frameworks.update(target.load(artifact, recorder))
            recorder.set_frameworks(frameworks)
            if self.fidelity is not None:
                name = plan.runtime.record.name
                self._check_fidelity(
                    recorder, f"runtime {name}", self.fidelity.check_runtime, name, artifact, target.infer
                )
            self._measure(recorder, target, dataset, artifact)
        finally:
            target.close()

    def _start_fidelity(self, recorder: RunRecorder, artifact: Artifact, dataset: Dataset | None) -> None:
        """Choose the fidelity inputs and run the reference (:mod:`edgeai_core.fidelity`)."""
        settings = self.plan.config.fidelity
        plan = self.plan
        runtime = plan.runtime.record
        check = FidelityCheck(
            self.host,
            settings,
            self._context,
            seed=plan.config.seed,
            preferred=runtime if isinstance(runtime, RuntimeRecord) and plan.target is None else None,
            preferred_params=plan.runtime.params,
        )
        if not check.enabled:
            recorder.set_fidelity(check.section())
            return
        self._stage("fidelity", f"fidelity: running the reference {plan.model.record.name}")
        tasks: tuple[str, ...] = getattr(plan.model.record, "tasks", ())
        try:
            check.start(plan.model.record.name, artifact, dataset, tasks[0] if len(tasks) == 1 else None)
        finally:
            recorder.set_fidelity(check.section())
        reference = check.section().reference
        if reference:
            self.progress.done(f"{reference.step} in {reference.runtime}")
        elif check.deferred:
            self.progress.done(f"the reference runs in {runtime.name}, with the first step or the runtime")
        else:
            self.progress.done("no reference yet (no runtime for it)")
        self.fidelity = check

    def _check_fidelity(
        self, recorder: RunRecorder, what: str, check: Callable[..., FidelityStep], *args: Any
    ) -> None:
        assert self.fidelity is not None
        self._stage("fidelity", f"fidelity: {what} against the reference")
        try:
            entry = check(*args)
        finally:
            recorder.set_fidelity(self.fidelity.section())
        self.progress.done(fidelity_line(entry))

    def _file_metadata(self, artifact: Artifact, source: Artifact | None, step: str) -> Artifact:
        """File the step's metadata keys under its name (:mod:`edgeai_core.lineage`); the sidecar of an
        artifact made inside this run's folder is rewritten to match."""
        filed = file_under_step(artifact, source, step)
        if filed.path.is_relative_to(self.output_dir) and filed.sidecar.is_file():
            filed.save()
        return filed

    def _cached(
        self,
        component: PlannedComponent,
        source: Artifact | None,
        sub: str,
        make: Callable[[], tuple[Artifact, dict[str, str]]],
    ) -> tuple[Artifact, dict[str, str]]:
        """``make()``, or the artifact an earlier run made from the same inputs (:mod:`edgeai_core.stepcache`)."""
        cache = self.step_cache
        if cache is None:
            return make()
        record, plan = component.record, self.plan
        path_params = {p.name for p in record.params if p.type == "path"}
        dataset = None
        if plan.dataset is not None and (source is None or getattr(record, "needs_dataset", False)):
            dataset = {"name": plan.dataset.record.name, "params": plan.dataset.params}
        key = cache.key(
            kind=record.kind,
            name=record.name,
            params=content_of_paths(component.params, path_params),
            version=self.host.provider_versions([record]).get(record.provider) if record.provider else None,
            source=source.sha256() if source is not None else None,
            dataset=dataset,
            seed=plan.config.seed,
        )
        with cache.locked(key):
            hit = cache.get(key)
            if hit is not None:
                stored, entry = hit
                cache.log(key, "reused", step=record.name, kind=record.kind, run=str(self.output_dir))
                self._cache_facts[record.name] = {"key": key, "hit": True}
                copied = stored.copy_to(self._context(sub).workdir)
                return copied, {str(k): str(v) for k, v in dict(entry.get("versions") or {}).items()}
            started = time.perf_counter()
            artifact, versions = make()
            cache.put(key, artifact, {"step": record.name, "kind": record.kind, "versions": versions})
            cache.log(
                key,
                "computed",
                step=record.name,
                kind=record.kind,
                run=str(self.output_dir),
                seconds=round(time.perf_counter() - started, 3),
            )
            self._cache_facts[record.name] = {"key": key, "hit": False}
            return artifact, versions

    def _record_step(
        self,
        recorder: RunRecorder,
        step: PlannedComponent,
        source: Artifact | None,
        artifact: Artifact,
        duration_s: float,
    ) -> None:
        recorder.add_step(
            ArtifactStep(
                name=step.record.name,
                kind=step.record.kind,
                inserted=getattr(step, "inserted", False),
                duration_s=duration_s,
                input_format=source.format if source else None,
                output_format=artifact.format,
                artifact=self.workspace.describe(artifact),
                io=artifact.io.to_json(),
                metadata=without_steps(artifact.metadata),
                cache=self._cache_facts.get(step.record.name),
            )
        )

    def _measure(
        self, recorder: RunRecorder, target: Target, dataset: Dataset | None, artifact: Artifact
    ) -> None:
        settings = BenchmarkSettings.from_mapping(self.plan.benchmark)
        io = artifact.io
        batch = settings.batch_size
        pool: list[list[np.ndarray]]
        self.stage = "benchmark"  # inputs that do not fit the model fail this stage
        if self.inputs is not None and dataset is None:
            pool = self.inputs.batches(io, batch, self.plan.config.seed)
        elif dataset is not None:
            split = self._split(dataset, self.plan.config.evaluation["split"], io)
            check_input_shape(split.inputs, io, dataset.name)
            arrays = split.arrays(io, f"dataset {dataset.name}")
            count = max(1, len(split) // batch)
            pool = [[a[i * batch : (i + 1) * batch] for a in arrays] for i in range(min(count, 256))]
        else:
            pool = [synthetic_inputs(io, batch, self.plan.config.seed + i) for i in range(16)]

        def bind(i: int) -> Any:
            return target.bind(pool[i % len(pool)])

        resources_cfg = self.plan.config.resources
        sampler = None
        result: BenchmarkResult | None = None
        if resources_cfg["enabled"]:
            probes, absent = self._probes()
            sampler = ResourceSampler(interval_s=resources_cfg["interval_s"], probes=probes)
            sampler.probes_absent.update(absent)
            sampler.start()
        try:
            self._stage(
                "benchmark",
                f"benchmarking: {settings.warmup} warm-up runs, then at least "
                f"{settings.min_count} runs and {settings.min_duration_s:g} s",
            )
            if resources_cfg["enabled"]:
                target.start_stats(resources_cfg["interval_s"])
            target.start_memory()
            result = run_repeated(
                bind,
                settings,
                progress=self.progress,
                on_samples=_sample_sink(recorder, target),
                pin=target.pinned,
            )
            recorder.set_memory(target.memory(sampler.to_json()["rss_bytes"] if sampler else ()))
            recorder.set_latency(_latency(result, target))
            stats = result.stats()
            self.progress.done(f"median {stats['median'] / 1e3:.1f} us over {stats['count']} runs")
            if settings.scenario != "single-stream":
                from edgeai_core.scenarios import run_for_target

                self._stage("benchmark", f"{settings.scenario} scenario")
                run_for_target(recorder, target, settings, pool, self.plan.config.seed, self.progress)
            if self.inputs is not None and dataset is None:
                recorder.set_quality(self._evaluate_inputs(target, self.inputs, io))
            elif dataset is not None and not dataset.has_labels:
                recorder.set_quality(NotApplicable(dataset.task, f"dataset {dataset.name} has no labels"))
            elif dataset is not None and self.plan.config.evaluation["enabled"]:
                self._stage(
                    "evaluation", f"evaluating quality on the {self.plan.config.evaluation['split']} split"
                )
                recorder.set_quality(self._evaluate(target, dataset, io))
                self.progress.done(_quality_line(recorder.document["quality"]))
            else:
                reason = "no dataset" if dataset is None else "evaluation disabled"
                recorder.set_quality(NotApplicable(dataset.task if dataset else None, reason))
        finally:
            if sampler is not None:
                recorder.set_resources("host", sampler.stop())
                sampler.close_probes()
            if resources_cfg["enabled"]:
                series = target.stop_stats()
                if series is not None:
                    recorder.set_resources("target", series)
            if result is not None:
                recorder.set_validity(assess_run(result, recorder.document, target.timed_on_target))
        if settings.profile:  # a separate pass after the timed one: the profiler never touches the latency
            from edgeai_core.profiling import profile_pass

            profile_pass(self.workspace, recorder, target, pool[0], settings.profile_runs)

    def _split(self, dataset: Dataset, name: str, io: IOSpec) -> Split:
        """The split, contract-checked, a bare array named after the model's first input."""
        record = self.plan.dataset.record if self.plan.dataset is not None else dataset.record
        return check_split(record, name, dataset.split(name)).named(io)

    def _probes(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The probes that could start here, and why each other one was left out."""
        return start_probes(self.host.records("probe"), self._context("probes"))

    def _evaluate(self, target: Target, dataset: Dataset, io: IOSpec) -> Quality:
        if dataset.task in ("detection", "segmentation"):
            from edgeai_core.taskeval import evaluate_task

            return evaluate_task(self, target, dataset, io, getattr(self, "_postprocess", None))
        cfg = self.plan.config.evaluation
        split = self._split(dataset, cfg["split"], io)
        limit = cfg["limit"] or len(split)
        batch = cfg["batch_size"] or _static_batch(io) or 32
        record = self.plan.runtime.record
        outputs = []
        total = min(limit, len(split))
        arrays = split.arrays(io, f"dataset {dataset.name}")
        static = _static_batch(io)
        batches, counts = eval_batches(arrays, total, batch, static)
        done = 0
        for x, n, result in zip(batches, counts, _infer_all(target, batches), strict=True):
            out = check_outputs(record, result, io, len(x[0]))[0][:n]
            outputs.append(np.asarray(out))
            done += n
            self.progress.update(done, total, "samples")
        return Quality(dataset.evaluate(np.concatenate(outputs), split.targets[:total]), cfg["split"])

    def _evaluate_inputs(self, target: Target, source: InputSource, io: IOSpec) -> Quality | NotApplicable:
        """Classification quality over every sample of ``source`` when it has labels."""
        if source.labels is None:
            return NotApplicable(None, f"inputs {source.describe()} have no labels")
        if not self.plan.config.evaluation["enabled"]:
            return NotApplicable("classification", "evaluation disabled")
        from edgeai_core.metrics import classification_metrics

        self._stage("evaluation", "evaluating quality on the labelled inputs")
        arrays, labels = source.samples(io), source.labels
        static = _static_batch(io)
        batch = static or self.plan.config.evaluation["batch_size"] or 32
        record, total, outputs = self.plan.runtime.record, len(labels), []
        batches, counts = eval_batches(arrays, total, batch, static)
        done = 0
        for x, n, result in zip(batches, counts, _infer_all(target, batches), strict=True):
            out = check_outputs(record, result, io, len(x[0]))[0]
            outputs.append(np.asarray(out)[:n])
            done += n
            self.progress.update(done, total, "samples")
        quality = Quality(classification_metrics(np.concatenate(outputs), labels), "inputs")
        self.progress.done(_quality_line(quality.to_json()))
        return quality


#: the name this class had when remote runs were a subclass; both run local and remote plans
LocalRunner = Runner


#: Requests in flight while a remote target evaluates quality (pipelining; capped by its --max-inflight).
EVALUATION_WINDOW = 8


def eval_batches(
    arrays: Sequence[np.ndarray], total: int, batch: int, static: int | None
) -> tuple[list[list[np.ndarray]], list[int]]:
    """The first ``total`` samples in batches of ``batch``, and the real sample count of each; the last batch
    of a static-batch model is padded by repeating its last sample."""
    batches, counts = [], []
    for start in range(0, total, batch):
        x = [a[start : min(start + batch, total)] for a in arrays]
        counts.append(len(x[0]))
        if counts[-1] < batch and static:
            x = [np.concatenate([a, np.repeat(a[-1:], batch - counts[-1], axis=0)]) for a in x]
        batches.append(x)
    return batches, counts


def _infer_all(target: Target, batches: list[list[np.ndarray]]) -> list[Any]:
    """Every batch through the target, results in order (pipelined on a remote target)."""
    return target.infer_many(batches, EVALUATION_WINDOW)


def _sample_sink(recorder: RunRecorder, target: Target) -> Callable[[str, list[int]], None]:
    """Where the benchmark hands its latency samples: the progress file, with the target's own times."""
    if not target.timed_on_target:
        return recorder.add_samples
    emitted = 0

    def sink(phase: str, samples: list[int]) -> None:
        nonlocal emitted
        recorder.add_samples(phase, samples)
        timed = target.target_ns()[emitted : emitted + len(samples)]
        emitted += len(samples)
        recorder.add_target_samples(phase, timed)

    return sink


def _latency(result: BenchmarkResult, target: Target) -> Latency:
    if not target.timed_on_target:
        return Latency(result)
    return Latency(result, TargetLatency(*split_target_times(result, target.target_ns())))


def _quality_line(quality: dict[str, Any] | None) -> str:
    if not quality or not quality.get("applicable", True):
        return "quality not applicable"
    if "accuracy" in quality:
        return f"accuracy {quality['accuracy']:.4f}"
    from edgeai_core.tasks import PRIMARY_LABEL, primary_metric

    primary = primary_metric(quality)
    if primary is not None:
        return f"{PRIMARY_LABEL.get(primary[0], primary[0])} {primary[1]:.4f}"
    return "quality measured"
