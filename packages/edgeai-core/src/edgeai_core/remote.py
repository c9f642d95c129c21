"""Remote targets: the plan's runtime runs on a target reached through a protocol (``[target]`` in a config).

The host compiles as usual, then the runner's :class:`RemoteTarget` connects, uploads the final artifact
(file and IO spec), benchmarks with the same settings as a local run (each INFER round trip timed on the
host with ``perf_counter_ns``) and evaluates quality through INFER. The document records the host-measured round
trips in ``latency`` and the target's own inference times, sample by sample, in ``latency.target``; the
target's CPU and memory series (from STATS) in ``resources.target``; and an ``upload`` step.

If the target dies or hangs, the run fails within ``target.timeout_s`` with one clear error, and everything
measured so far is in ``results.json`` (status ``failed``) and ``results.partial.jsonl``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from edgeai_core.artifacts import Artifact, IOSpec
from edgeai_core.components import Context, Protocol, Runtime
from edgeai_core.document import MemorySection, RuntimeLoadStep, Series, TargetDescription, UploadStep
from edgeai_core.errors import ArtifactError, PlanError, RuntimeFailure, UsageError
from edgeai_core.jsonvalues import jsonable
from edgeai_core.measurement import RunRecorder
from edgeai_core.planner import Plan
from edgeai_core.profiling import ProfileSection
from edgeai_core.records import Registration
from edgeai_core.runner import Runner
from edgeai_core.targets import Target, Workspace, build
from edgeai_core.wire import messages as msg
from edgeai_core.wire.client import Client, Prepared, TargetError, TargetInfo, TargetLost
from edgeai_core.wire.framing import WireError

log = logging.getLogger(__name__)


class RemoteRuntime(Runtime):
    """A runtime on a target, driven through the wire protocol; to the runner it is an ordinary runtime.

    ``requested`` are the runtime parameters the config gave explicitly; the target applies them over its
    own (path parameters stay the target's). Every call's target-side inference time is appended to
    :attr:`target_ns` by the callables :meth:`bind` returns.
    """

    def __init__(
        self,
        *,
        record: Registration,
        params: Mapping[str, Any],
        context: Context | None = None,
        protocol: Protocol,
        requested: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(record=record, params=params, context=context)
        self.protocol = protocol
        self.requested = dict(requested or {})
        self.client: Client | None = None
        self.info: TargetInfo | None = None
        self.target_ns: list[int] = []
        self.broken: TargetLost | None = None
        self._io: IOSpec | None = None
        self._prepared: dict[int, tuple[Sequence[np.ndarray], Prepared]] = {}

    @property
    def where(self) -> str:
        return self.protocol.describe()

    def _client(self) -> Client:
        if self.broken is not None:
            raise TargetLost(str(self.broken))
        if self.client is None:
            raise RuntimeError("connect() first")
        return self.client

    def _guard(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except TargetLost as exc:
            self.broken = exc
            raise

    def connect(self) -> TargetInfo:
        """Open the stream, say HELLO (authenticating where needed) and check the target's runtime."""
        timeout = float(self.protocol.params.get("timeout_s", 10.0))
        token = self.protocol.token()
        stream = self.protocol.connect(timeout)
        client = Client(stream, token=token, timeout_s=timeout)
        try:
            info = self._guard(client.hello)
        except BaseException:
            client.close()
            raise
        self.client, self.info = client, info
        if info.runtime != self.record.name:
            self.close()
            raise UsageError(
                f"target {self.where} serves runtime {info.runtime}, but the config's runtime is "
                f"{self.record.name}; start `edgeai serve --runtime {self.record.name}` there or change runtime.name"
            )
        return info

    def load(self, artifact: Artifact) -> None:
        self.upload(artifact)

    def upload(
        self, artifact: Artifact, progress: Callable[[int, int], None] | None = None
    ) -> tuple[int, int]:
        """IOSPEC, then one MODEL sequence per companion file, then the model file's; return (bytes stored,
        target load ns)."""
        client = self._client()
        info = self.info
        assert info is not None
        if artifact.path.is_dir():
            raise ArtifactError(f"{artifact.path} is a directory; remote targets take single-file artifacts")
        if artifact.format not in info.formats:
            raise PlanError(
                f"target {self.where}: runtime {info.runtime} loads {', '.join(info.formats)}, "
                f"but the artifact is {artifact.format}"
            )
        if artifact.files:
            self._check_files(artifact)
        total = artifact.size_bytes
        if artifact.files and total > info.max_model_bytes:
            raise RuntimeFailure(
                f"model {artifact.path.name} has {total} bytes with its {len(artifact.files)} files, but target "
                f"{self.where} accepts at most {info.max_model_bytes} bytes (edgeai serve --max-model-mb)"
            )
        spec = artifact.to_json()
        spec["runtime"] = {"name": self.record.name, "params": jsonable(self.requested)}
        self._guard(lambda: client.send_iospec(spec))
        sent = 0

        def report(done: int, _size: int) -> None:
            if progress is not None:
                progress(sent + done, total)

        for name, path in zip(artifact.files, artifact.companions, strict=True):
            stored, _ = self._guard(partial(client.upload, path, name=name, progress=report))
            sent += stored
        result: tuple[int, int] = self._guard(lambda: client.upload(artifact.path, progress=report))
        self._io = artifact.io
        return result  # the model file's OK counts the bytes of every file

    def _check_files(self, artifact: Artifact) -> None:
        """Companion files travel only to targets that take them, under plain names."""
        assert self.info is not None
        if not self.info.model_files:
            raise RuntimeFailure(
                f"model {artifact.path.name} needs {len(artifact.files)} more file(s) "
                f"({', '.join(artifact.files)}), and target {self.where} ({self.info.software}) does not accept "
                "models with companion files; update edgeai there, or save the model as a single file"
            )
        for name in artifact.files:
            try:
                msg.check_name(name)
            except WireError as exc:
                raise ArtifactError(
                    f"model {artifact.path.name}: its file {name!r} cannot be uploaded: {exc}; keep "
                    "companion files next to the model file"
                ) from None

    @property
    def io(self) -> IOSpec:
        if self._io is None:
            raise RuntimeError("no model loaded")
        return self._io

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        client = self._client()
        outputs, _ = self._guard(lambda: client.infer(inputs))
        return outputs

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        client = self._client()
        cached = self._prepared.get(id(inputs))
        if cached is None or cached[0] is not inputs:
            if len(self._prepared) > 512:
                self._prepared.clear()
            cached = (inputs, client.prepare(inputs))
            self._prepared[id(inputs)] = cached
        prepared = cached[1]
        run = client.infer_prepared
        append = self.target_ns.append

        def call() -> None:
            try:
                append(run(prepared))
            except TargetLost as exc:
                self.broken = exc
                raise

        return call

    def infer_many(self, batches: Sequence[Sequence[np.ndarray]], window: int) -> list[list[np.ndarray]]:
        """The outputs of every batch, in order, with up to ``window`` requests in flight."""
        client = self._client()
        results = self._guard(lambda: client.infer_many(batches, window))
        return [outputs for outputs, _ in results]

    def stats(
        self,
        action: int = msg.STATS_REPORT,
        interval_s: float | None = None,
        cpus: Sequence[int] | None = None,
    ) -> dict[str, Any]:
        client = self._client()
        result: dict[str, Any] = self._guard(lambda: client.stats(action, interval_s, cpus))
        return result

    def remote_profile(self, inputs: Sequence[np.ndarray], runs: int) -> dict[str, Any]:
        """The target's per-layer profile of ``runs`` inferences on ``inputs`` (DATA, then STATS profile)."""
        client = self._client()
        self._guard(lambda: client.data(inputs))
        # the target loads a profiling session and runs ``runs`` inferences before it answers: wait longer
        times = sorted(self.target_ns)
        typical_s = times[len(times) // 2] / 1e9 if times else 0.1
        client.conn.set_timeout(client.timeout_s + 60.0 + runs * typical_s * 20)
        try:
            reply: dict[str, Any] = self._guard(lambda: client.stats(msg.STATS_PROFILE, runs=runs))
        finally:
            if self.broken is None:
                client.conn.set_timeout(client.timeout_s)
        return reply

    def versions(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        if self.client is None:
            return
        if self.broken is None:
            self.client.bye()
        self.client.close()
        self.client = None


class RemoteTarget(Target):
    """The plan's runtime on a target reached through the plan's protocol (a :class:`RemoteRuntime`).

    :meth:`load` connects, uploads the artifact (recording ``upload`` and ``runtime-load`` steps and the
    target's description); the benchmark's calls are timed on the host and on the target
    (:attr:`timed_on_target`); the target samples its own CPU and memory between :meth:`start_stats` and
    :meth:`stop_stats`.
    """

    timed_on_target = True

    def __init__(self, plan: Plan, workspace: Workspace) -> None:
        super().__init__(plan, workspace)
        self._runtime: RemoteRuntime | None = None
        self._sampling = False
        self._affinity: list[int] | None = None

    @property
    def runtime(self) -> RemoteRuntime:
        if self._runtime is None:
            raise RuntimeError("load() first")
        return self._runtime

    def load(self, artifact: Artifact, recorder: RunRecorder) -> dict[str, str]:
        plan, ws = self.plan, self.workspace
        assert plan.target is not None
        ws.stage("upload", f"connecting to the target ({plan.target.record.name})")
        protocol: Protocol = build(plan.target, ws.context("target"))
        runtime = RemoteRuntime(
            record=plan.runtime.record,
            params=plan.runtime.params,
            context=ws.context("runtime"),
            protocol=protocol,
            requested=plan.config.runtime.params,
        )
        info = runtime.connect()
        self._runtime = runtime
        size = artifact.size_bytes
        ws.progress.done(f"{runtime.where}: runtime {info.runtime}, {info.software}")
        ws.stage("upload", f"uploading {artifact.path.name} ({size} bytes) to {runtime.where}")
        started = time.perf_counter()
        stored, load_ns = runtime.upload(
            artifact, lambda done, total: ws.progress.update(done, total, "bytes")
        )
        duration = time.perf_counter() - started
        described = ws.describe(artifact)
        recorder.add_step(
            UploadStep(
                name=plan.target.record.name,
                duration_s=duration,
                artifact=described,
                bytes=stored,
                metadata={"target": runtime.where, "runtime": info.runtime, "load_s": load_ns / 1e9},
            )
        )
        recorder.add_step(
            RuntimeLoadStep(
                name=plan.runtime.record.name,
                duration_s=load_ns / 1e9,
                artifact=described,
                metadata={"where": "target", "target": runtime.where},
            )
        )
        ws.progress.done(
            f"{stored} bytes in {duration:.2f} s, loaded on the target in {load_ns / 1e6:.1f} ms"
        )
        report = runtime.stats(msg.STATS_REPORT)
        versions = dict(report.get("versions") or {})
        machine = report.get("machine") or {}
        recorder.set_target(
            TargetDescription(
                protocol=plan.target.record.name,
                address=runtime.where,
                runtime=info.runtime,
                software=info.software,
                protocol_version=info.version,
                versions=versions,
                machine=report.get("machine"),
                isa=machine.get("isa"),
                emulated=machine.get("emulated"),
            )
        )
        return versions

    def start_stats(self, interval_s: float) -> None:
        cpus = self.plan.benchmark.get("cpu_affinity")
        report = self.runtime.stats(msg.STATS_START, interval_s, cpus)
        self._sampling = True
        self._affinity = report.get("cpu_affinity")

    @contextlib.contextmanager
    def pinned(self, cpus: Sequence[int] | None) -> Iterator[list[int] | None]:
        """The target pins its runtime for a resource window (STATS START with CPU ids): the one
        :meth:`start_stats` opened, or one opened here when resource sampling is off."""
        if cpus is None:
            yield None
            return
        if self._sampling:
            yield self._affinity
            return
        report = self.runtime.stats(msg.STATS_START, None, cpus)
        try:
            yield report.get("cpu_affinity")
        finally:
            runtime = self._runtime
            if runtime is not None and runtime.broken is None:
                with contextlib.suppress(Exception):
                    runtime.stats(msg.STATS_STOP)

    def stop_stats(self) -> Series | None:
        runtime = self._runtime
        if not self._sampling or runtime is None or runtime.broken is not None:
            return None
        self._sampling = False
        try:
            report = runtime.stats(msg.STATS_STOP)
        except Exception as exc:  # never hide the failure that ended the benchmark
            log.warning("could not collect the target's resource series: %s", exc)
            return None
        series: Series | None = report.get("resources")
        return series

    def target_ns(self) -> Sequence[int]:
        return self.runtime.target_ns

    def infer_many(self, batches: Sequence[Sequence[np.ndarray]], window: int = 1) -> list[Any]:
        return self.runtime.infer_many(batches, window)

    def issuer(self, inputs: Callable[[int], Sequence[np.ndarray]]) -> PipelineIssuer:
        return PipelineIssuer(self.runtime, inputs)

    def memory(self, readings: Iterable[int | None] = ()) -> MemorySection | None:
        """The target's own figures (STATS ``model_memory``; None from a target that predates them)."""
        runtime = self._runtime
        if runtime is None or runtime.broken is not None:
            return None
        try:
            figures = runtime.stats(msg.STATS_REPORT).get("model_memory")
        except Exception as exc:  # never hide the benchmark's own outcome
            log.warning("could not collect the target's model memory: %s", exc)
            return None
        return MemorySection.from_json(figures, where="target") if isinstance(figures, dict) else None

    def profile(self, inputs: Sequence[np.ndarray], runs: int) -> ProfileSection:
        """The target profiles (STATS profile) and returns the records; a target that cannot is recorded."""
        name, runtime = self.plan.runtime.record.name, self.runtime
        try:
            reply = runtime.remote_profile(inputs, runs)
        except TargetError as exc:  # an older target, or a refusal: the run stays complete
            return ProfileSection("unavailable", name, "target", reason=f"target {runtime.where}: {exc}")
        data = reply.get("profile")
        if not isinstance(data, dict):
            reason = (
                f"target {runtime.where} ({reply.get('software', 'unknown software')}) returned no profile"
            )
            return ProfileSection("unavailable", name, "target", reason=reason)
        try:
            return ProfileSection.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            return ProfileSection(
                "failed", name, "target", reason=f"malformed profile from the target: {exc}"
            )

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


class PipelineIssuer:
    """The offline and server scenarios on a target: requests pipelined over the wire protocol, with the
    scenario's concurrency as the window (capped by the target's ``--max-inflight``)."""

    mode = "pipelined"

    def __init__(self, runtime: RemoteRuntime, inputs: Callable[[int], Sequence[np.ndarray]]) -> None:
        self.runtime = runtime
        self.inputs = inputs
        self._prepared: dict[int, tuple[Sequence[np.ndarray], Prepared]] = {}

    def _request(self, client: Client, i: int) -> Prepared:
        inputs = self.inputs(i)
        cached = self._prepared.get(id(inputs))
        if cached is None or cached[0] is not inputs:
            cached = (inputs, client.prepare(inputs))
            self._prepared[id(inputs)] = cached
        return cached[1]

    def run(self, count: int, concurrency: int, arrivals_ns: np.ndarray | None) -> Any:
        from edgeai_core.scenarios import Timing

        client = self.runtime._client()
        start, issued, done = self.runtime._guard(
            lambda: client.pipeline(
                count, partial(self._request, client), concurrency, arrivals_ns=arrivals_ns
            )
        )
        return Timing(start, issued, done)


#: the name the remote runner had; :class:`~edgeai_core.runner.Runner` picks the target from the plan
RemoteRunner = Runner
