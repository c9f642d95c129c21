"""The runtime a session loaded, and the requests that use it: INFER (with its fast path for a benchmark's
back-to-back requests), the seed's DATA/PROCESS/OUTPUT, and STATS."""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.artifacts import Artifact
from edgeai_core.components import Context, Runtime
from edgeai_core.modelmemory import ModelMemory
from edgeai_core.wire import messages as msg
from edgeai_core.wire.codec import TensorLayout, decode_tensors, encode_tensors
from edgeai_core.wire.connection import Frame
from edgeai_core.wire.framing import VERSION, ErrorCode, MessageType, WireError

if TYPE_CHECKING:
    from edgeai_core.wire.session import Session

log = logging.getLogger(__name__)

_OK = int(MessageType.OK)
_OUTPUT = int(MessageType.OUTPUT)
_INFER = int(MessageType.INFER)
_U64_PACK = msg._U64.pack


class Inference:
    """The loaded runtime and artifact, and the inference requests."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.runtime: Runtime | None = None
        self.artifact: Artifact | None = None
        self._checks: list[tuple[str, tuple[np.dtype, ...], int, tuple[tuple[int, int], ...]]] = []
        self.inputs: list[np.ndarray] | None = None
        self.outputs: list[np.ndarray] | None = None
        self.last_ns = 0
        self.count = 0
        self.total_ns = 0
        self._layout: TensorLayout | None = None
        #: the model's own memory in this process (STATS reports it as ``model_memory``)
        self.memory: ModelMemory | None = None

    # -- loading ---------------------------------------------------------------------------------------

    def load(self, artifact: Artifact, params: dict[str, Any], size: int, request_id: int) -> None:
        self.close()
        self.artifact = None
        self.inputs = self.outputs = None
        server = self.session.server
        record = server.runtime_record
        started = time.perf_counter_ns()
        try:
            context = Context(workdir=server.workdir / "runtime", seed=0, host_files=server.workdir)
            context.workdir.mkdir(parents=True, exist_ok=True)
            runtime = record.load()(record=record, params=params, context=context)
            memory = ModelMemory("target")
            memory.before_load()
            runtime.load(artifact)
            memory.after_load()
        except Exception as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"runtime {record.name} could not load {artifact.path.name}: {exc}"
            ) from None
        load_ns = time.perf_counter_ns() - started
        self.runtime = runtime
        self.artifact = artifact
        self.memory = memory
        self._layout = None
        # A quantized input (scale in the IO spec) also takes float32: the runtime quantizes it, as it does
        # locally, so a host sends the same data to a local or a remote runtime.
        self._checks = [
            (
                spec.name,
                (np.dtype(spec.dtype),) + ((np.dtype("float32"),) if spec.scale is not None else ()),
                len(spec.shape),
                tuple((i, d) for i, d in enumerate(spec.shape) if isinstance(d, int) and d >= 0),
            )
            for spec in artifact.io.inputs
        ]
        log.info(
            "%s: loaded %s (%d bytes, %s) in %.1f ms",
            self.session.peer,
            artifact.path.name,
            size,
            artifact.format,
            load_ns / 1e6,
        )
        self.session.send(_OK, [msg.encode_two_u64(size, load_ns)], request_id)

    def close(self) -> None:
        if self.runtime is not None:
            try:
                self.runtime.close()
            except Exception:
                log.exception("closing runtime %s failed", self.session.server.runtime_record.name)
            self.runtime = None

    # -- inference -----------------------------------------------------------------------------------

    def _check_inputs(self, arrays: list[np.ndarray]) -> None:
        checks = self._checks
        if len(arrays) != len(checks):
            names = ", ".join(c[0] for c in checks)
            raise WireError(
                ErrorCode.BAD_PAYLOAD, f"the model takes {len(checks)} input(s) ({names}), got {len(arrays)}"
            )
        for array, (name, dtypes, ndim, dims) in zip(arrays, checks, strict=True):
            shape = array.shape
            if array.dtype not in dtypes or len(shape) != ndim or any(shape[i] != d for i, d in dims):
                raise WireError(
                    ErrorCode.BAD_PAYLOAD,
                    f"input '{name}' must be {' or '.join(d.name for d in dtypes)} with {ndim} dimensions "
                    f"{dict(dims) or ''}, got {array.dtype.name} {tuple(shape)}",
                )

    def _require_model(self) -> Runtime:
        if self.runtime is None:
            raise WireError(ErrorCode.NO_MODEL, "no model is loaded; upload one (IOSPEC, then MODEL)")
        return self.runtime

    def _run(self, runtime: Runtime, inputs: list[np.ndarray]) -> list[np.ndarray]:
        clock = time.perf_counter_ns
        try:
            started = clock()
            outputs = runtime.infer(inputs)
            self.last_ns = clock() - started
        except Exception as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"inference failed: {type(exc).__name__}: {exc}"
            ) from None
        self.count += 1
        self.total_ns += self.last_ns
        return outputs

    def _send_outputs(self, outputs: list[np.ndarray], request_id: int) -> None:
        try:
            parts = encode_tensors(outputs)
        except (ValueError, TypeError) as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"the runtime's outputs cannot be sent: {exc}"
            ) from None
        self.session.conn.send(_OUTPUT, [msg.encode_u64(self.last_ns), *parts], request_id=request_id)

    def on_infer(self, frame: Frame) -> None:
        runtime = self.runtime
        if runtime is None:
            runtime = self._require_model()
        payload: Any = frame.payload
        layout = self._layout
        single = layout.single if layout is not None else None
        if (  # the same single-tensor layout as the last request: one comparison, one view
            single is not None
            and len(payload) == layout.length  # type: ignore[union-attr]
            and payload[: layout.head_end] == layout.head  # type: ignore[union-attr]
        ):
            inputs = [np.frombuffer(payload, single[0], single[1], single[2]).reshape(single[3])]
        elif layout is not None and layout.matches(payload):
            inputs = layout.arrays(payload)
        else:  # a new layout: parse and check it in full, then remember it
            inputs = decode_tensors(payload or b"")
            self._check_inputs(inputs)
            self._layout = TensorLayout(payload or b"", inputs)
        clock = time.perf_counter_ns
        try:
            started = clock()
            outputs = runtime.infer(inputs)
            elapsed = clock() - started
        except Exception as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"inference failed: {type(exc).__name__}: {exc}"
            ) from None
        try:
            parts = encode_tensors(outputs)
        except (ValueError, TypeError) as exc:
            raise WireError(
                ErrorCode.RUNTIME_FAILURE, f"the runtime's outputs cannot be sent: {exc}"
            ) from None
        parts[0] = _U64_PACK(elapsed) + parts[0]  # the first part is always the (small) list header
        conn = self.session.conn
        conn.send(_OUTPUT, parts, request_id=frame.request_id)
        self.last_ns = elapsed  # bookkeeping after the reply: the host is waiting for it
        self.count += 1
        self.total_ns += elapsed
        layout = self._layout
        if layout is not None and layout.single is not None and conn.reliable:
            self._burst(runtime, layout)

    def _burst(self, runtime: Runtime, layout: TensorLayout) -> None:
        """Serve the INFERs that follow with the same input layout through :meth:`Connection.burst`.

        A runtime that keeps returning one array of the same dtype and shape gets its reply's tensor headers
        from a cache: each reply is then one small prefix plus the array's own memory.
        """
        assert layout.single is not None
        dtype, count, offset, shape = layout.single
        conn = self.session.conn
        frombuffer, clock, post, ndarray = np.frombuffer, time.perf_counter_ns, conn.post, np.ndarray
        cached: list[Any] = [None, b"", [], 0]  # (dtype, shape) of the last output, prefix, tail, length
        reply_error = self.session.reply_error

        def handle(request_id: int, payload: memoryview) -> None:
            try:
                inputs = [frombuffer(payload, dtype, count, offset).reshape(shape)]
                started = clock()  # the target's time is the runtime's infer() alone, as everywhere
                outputs = runtime.infer(inputs)
                elapsed = clock() - started
                out = outputs[0] if len(outputs) == 1 else None
                if (
                    type(out) is ndarray
                    and out.ndim
                    and out.flags.c_contiguous
                    and (out.dtype, out.shape) == cached[0]
                ):
                    parts = [_U64_PACK(elapsed) + cached[1], out.data.cast("B"), *cached[2]]
                    length = cached[3]
                else:
                    parts = encode_tensors(outputs)
                    length = 8 + sum(len(p) for p in parts)
                    if type(out) is ndarray and out.ndim and out.flags.c_contiguous and len(parts) >= 2:
                        cached[:] = [(out.dtype, out.shape), parts[0], parts[2:], length]
                    parts[0] = _U64_PACK(elapsed) + parts[0]
            except Exception as exc:
                conn.flush()  # the replies held back go first: replies stay in request order
                reply_error(
                    request_id, ErrorCode.RUNTIME_FAILURE, f"inference failed: {type(exc).__name__}: {exc}"
                )
                return
            post(_OUTPUT, parts, request_id, length)
            self.last_ns = elapsed
            self.count += 1
            self.total_ns += elapsed

        conn.burst(_INFER, layout.length, layout.head, handle, self.session.server.limits.max_inflight)

    def on_data(self, frame: Frame) -> None:
        self._require_model()
        inputs = decode_tensors(frame.payload or b"", copy=True)
        self._check_inputs(inputs)
        self.inputs = inputs
        self.session.send(_OK, [], frame.request_id)

    def on_process(self, frame: Frame) -> None:
        runtime = self._require_model()
        if self.inputs is None:
            raise WireError(ErrorCode.UNEXPECTED, "PROCESS before DATA: send the inputs first")
        rid = frame.request_id
        self.session.send(_OK, [], rid)  # inference starts now
        self.outputs = self._run(runtime, self.inputs)
        self.session.send(_OK, [msg.encode_u64(self.last_ns)], rid)  # and has ended

    def on_output(self, frame: Frame) -> None:
        if len(frame.payload or b""):
            raise WireError(ErrorCode.BAD_PAYLOAD, "OUTPUT requests carry no payload")
        if self.outputs is None:
            raise WireError(ErrorCode.UNEXPECTED, "OUTPUT before PROCESS: nothing was computed yet")
        self._send_outputs(self.outputs, frame.request_id)


class StatsReporter:
    """STATS: the target's facts, its inference counters and, between START and STOP, its resource series."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sampler: Any = None
        #: the open window's CPU pinning (``control.pinned``), closed with the window
        self.pinning: Any = None
        self.cpu_affinity: list[int] | None = None

    def on_stats(self, frame: Frame) -> None:
        action, interval_us = msg.decode_stats_request(frame.payload or b"")
        session = self.session
        server = session.server
        resources = None
        memory = session.inference.memory
        profile = self._profile(interval_us) if action == msg.STATS_PROFILE else None
        if action == msg.STATS_START:
            cpus = msg.decode_stats_affinity(frame.payload or b"")
            if cpus is not None:
                self._check_cpus(cpus, server.allowed_cpus)
            if memory is not None:
                memory.start()
            if self.sampler is not None:
                resources = self._stop_sampler()
            self._unpin()
            from edgeai_core.resources import ResourceSampler, start_probes

            interval = interval_us / 1e6 if interval_us else server.sample_interval_s
            probes, absent = start_probes(server.probe_records)
            self.sampler = ResourceSampler(interval_s=max(interval, msg.MIN_SAMPLE_INTERVAL_S), probes=probes)
            self.sampler.probes_absent.update(absent)
            self.sampler.start()
            if cpus is not None:  # after the sampler started: its thread stays unpinned
                from edgeai_core.control import pinned

                self.pinning = pinned(cpus)
                self.cpu_affinity = self.pinning.__enter__()
        elif action == msg.STATS_STOP:
            self._unpin()
            if self.sampler is not None:
                resources = self._stop_sampler()
                self.sampler = None
        elif self.sampler is not None:
            resources = self.sampler.to_json()
        record = server.runtime_record
        inference = session.inference
        artifact = inference.artifact
        if memory is not None and action != msg.STATS_START:  # the peak so far in this window
            memory.stop((resources or {}).get("rss_bytes") or ())
        doc = {
            "protocol_version": VERSION,
            "software": server.software,
            "runtime": record.name,
            "formats": list(record.formats),
            "versions": inference.runtime.versions() if inference.runtime is not None else {},
            "model": None
            if artifact is None
            else {
                "file": artifact.path.name,
                "format": artifact.format,
                "size_bytes": artifact.size_bytes,
            },
            "inferences": inference.count,
            "inference_ns_total": inference.total_ns,
            "machine": server.machine(),
            "pid": os.getpid(),
            "resources": resources,
            "cpu_affinity": self.cpu_affinity,
            "model_memory": None if memory is None else memory.section().to_json(),
        }
        if profile is not None:
            doc["profile"] = profile
        session.send(MessageType.STATS, [msg.encode_json(doc)], frame.request_id)

    @staticmethod
    def _check_cpus(cpus: list[int], allowed: list[int] | None) -> None:
        from edgeai_core.control import check_affinity
        from edgeai_core.errors import ParameterError

        try:
            check_affinity(cpus, allowed, "cpu_affinity")
        except ParameterError as exc:
            raise WireError(ErrorCode.NOT_ALLOWED, f"STATS: {exc}") from None

    def _unpin(self) -> None:
        pinning, self.pinning, self.cpu_affinity = self.pinning, None, None
        if pinning is not None:
            pinning.__exit__(None, None, None)

    def _stop_sampler(self) -> Any:
        resources = self.sampler.stop()
        self.sampler.close_probes()
        return resources

    def _profile(self, runs: int) -> dict[str, Any]:
        """PROFILE: the runtime's per-layer profile on the last DATA's inputs. The host chooses only the run
        count (at most :data:`~edgeai_core.profiling.MAX_REMOTE_RUNS`); any file a profiler writes stays in
        the runtime's work folder and is removed by the runtime."""
        from edgeai_core.profiling import DEFAULT_RUNS, MAX_REMOTE_RUNS, profile_runtime

        inference = self.session.inference
        runtime = inference._require_model()
        if inference.inputs is None:
            raise WireError(
                ErrorCode.UNEXPECTED, "STATS profile before DATA: send the inputs to profile first"
            )
        count = min(runs or DEFAULT_RUNS, MAX_REMOTE_RUNS)
        name = self.session.server.runtime_record.name
        section = profile_runtime(runtime, name, inference.inputs, count, "target")
        return section.to_json()

    def close(self) -> None:
        self._unpin()
        if self.sampler is not None:
            self._stop_sampler()
            self.sampler = None


__all__ = ["Inference", "StatsReporter"]
