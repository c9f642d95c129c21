"""Where a plan's runtime runs: this process (:class:`LocalTarget`) or a target reached through a protocol
(:class:`edgeai_core.remote.RemoteTarget`, for configs with a ``[target]`` table).

The runner (:class:`edgeai_core.runner.Runner`) is the same for both: it prepares the artifact, hands it to
the target's :meth:`Target.load`, benchmarks the callables :meth:`Target.bind` returns, evaluates through
:meth:`Target.infer`, asks for the target's own resource series and inference times, and closes it.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeai_core.document import ArtifactRecord, MemorySection, RuntimeLoadStep, Series
from edgeai_core.modelmemory import ModelMemory

if TYPE_CHECKING:
    import numpy as np

    from edgeai_core.artifacts import Artifact
    from edgeai_core.components import Context, Runtime
    from edgeai_core.measurement import RunRecorder
    from edgeai_core.planner import Plan, PlannedComponent
    from edgeai_core.profiling import ProfileSection
    from edgeai_core.progress import Progress
    from edgeai_core.scenarios import Issuer


def build(component: PlannedComponent, context: Context) -> Any:
    """Build a planned component with its validated parameters."""
    factory = component.record.load()
    return factory(record=component.record, params=component.params, context=context)


@dataclass(frozen=True)
class Workspace:
    """What a runner lends its target: the output folder, progress, working folders and the stage marker."""

    output_dir: Path
    progress: Progress
    #: ``context("runtime")``: a component context with its own working folder under the artifacts
    context: Callable[[str], Context]
    #: ``stage(name, message)``: the runner's current stage (recorded if the run fails) and a progress line
    stage: Callable[[str, str], None]

    def describe(self, artifact: Artifact) -> ArtifactRecord:
        """The artifact with its path relative to the output folder (results stay valid when moved)."""
        return ArtifactRecord.of(artifact, self.output_dir)


class Target(abc.ABC):
    """The place a plan's runtime runs, as the runner sees it.

    :meth:`load` builds the runtime there, loads the final artifact and records the steps this took
    (``runtime-load``, and ``upload`` for remote targets) and the target's description; it returns the
    framework versions involved. :meth:`infer` and :meth:`bind` are the runtime's. A target that times each
    inference itself sets :attr:`timed_on_target` and lists the times in :meth:`target_ns`, one per call of a
    bound callable, in order; a target with its own resource sampler returns its series from
    :meth:`stop_stats`.
    """

    #: True when :meth:`target_ns` holds the target's own time of every bound call
    timed_on_target: bool = False

    def __init__(self, plan: Plan, workspace: Workspace) -> None:
        self.plan = plan
        self.workspace = workspace

    @abc.abstractmethod
    def load(self, artifact: Artifact, recorder: RunRecorder) -> dict[str, str]:
        """Build the runtime, load ``artifact`` into it and record the steps; return framework versions."""

    @property
    @abc.abstractmethod
    def runtime(self) -> Runtime:
        """The loaded runtime (its record names the component in contract errors)."""

    def infer(self, inputs: Sequence[np.ndarray]) -> Any:
        """One batch through the runtime (what ``Runtime.infer`` returned, checked by the runner)."""
        return self.runtime.infer(inputs)

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        """A zero-argument callable running one inference on ``inputs``: what the benchmark times."""
        return self.runtime.bind(inputs)

    def infer_many(self, batches: Sequence[Sequence[np.ndarray]], window: int = 1) -> list[Any]:
        """:meth:`infer` of every batch, results in order; a remote target keeps ``window`` in flight."""
        return [self.infer(batch) for batch in batches]

    def issuer(self, inputs: Callable[[int], Sequence[np.ndarray]]) -> Issuer:
        """What runs the offline and server scenarios' requests (request ``i`` on ``inputs(i)``): worker
        threads here (taking turns on a runtime that is not thread-safe), pipelined requests remotely."""
        from edgeai_core.scenarios import ThreadIssuer

        return ThreadIssuer(lambda i: self.bind(inputs(i)), thread_safe=self.runtime.thread_safe)

    def start_stats(self, interval_s: float) -> None:
        """Start the target's own resource sampling (right before warm-up); nothing by default."""
        return None

    def stop_stats(self) -> Series | None:
        """Stop it and return its series (after the benchmark, also when it failed); None by default."""
        return None

    def target_ns(self) -> Sequence[int]:
        """The target's own inference times so far (when :attr:`timed_on_target`)."""
        return ()

    def pinned(self, cpus: Sequence[int] | None) -> AbstractContextManager[list[int] | None]:
        """Pin the runtime to ``cpus`` while the benchmark runs (``benchmark.cpu_affinity``); yields the
        CPUs applied. Here: this process's threads (:func:`edgeai_core.control.pinned`)."""
        from edgeai_core.control import pinned

        return pinned(cpus)

    def start_memory(self) -> None:
        """The benchmark starts: the window of the model-memory peak (:mod:`edgeai_core.modelmemory`)."""
        return None

    def memory(self, readings: Iterable[int | None] = ()) -> MemorySection | None:
        """The model's own memory once the benchmark ended (``readings``: the host sampler's RSS series)."""
        return None

    def profile(self, inputs: Sequence[np.ndarray], runs: int) -> ProfileSection:
        """The runtime's per-layer profile of ``runs`` inferences (:mod:`edgeai_core.profiling`)."""
        from edgeai_core.profiling import profile_runtime

        return profile_runtime(self.runtime, self.plan.runtime.record.name, inputs, runs, "local")

    @abc.abstractmethod
    def close(self) -> None:
        """Release the runtime (and the connection); safe to call when :meth:`load` failed or never ran."""


class LocalTarget(Target):
    """The runtime runs in this process."""

    def __init__(self, plan: Plan, workspace: Workspace) -> None:
        super().__init__(plan, workspace)
        self._runtime: Runtime | None = None
        self._memory = ModelMemory("host")

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("load() first")
        return self._runtime

    def load(self, artifact: Artifact, recorder: RunRecorder) -> dict[str, str]:
        planned = self.plan.runtime
        self.workspace.stage("runtime", f"loading into runtime {planned.record.name}")
        runtime: Runtime = build(planned, self.workspace.context("runtime"))
        self._memory.before_load()
        started = time.perf_counter()
        runtime.load(artifact)
        load_s = time.perf_counter() - started
        self._memory.after_load()
        self._runtime = runtime  # closed from now on, as a runtime that failed to load may not be
        versions = runtime.versions()
        recorder.add_step(RuntimeLoadStep(planned.record.name, load_s, self.workspace.describe(artifact)))
        return versions

    def start_memory(self) -> None:
        self._memory.start()

    def memory(self, readings: Iterable[int | None] = ()) -> MemorySection | None:
        if self._memory.before is None:
            return None
        self._memory.stop(readings)
        return self._memory.section()

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


def open_target(plan: Plan, workspace: Workspace) -> Target:
    """The target the plan names: remote when its config has a ``[target]`` table, else this process."""
    if plan.target is not None:
        from edgeai_core.remote import RemoteTarget

        return RemoteTarget(plan, workspace)
    return LocalTarget(plan, workspace)
