"""The ``ray`` executor: ``edgeai sweep --executor ray`` on a Ray cluster whose nodes hold the devices.

Each node that has a board declares it as a custom resource of capacity 1 when it joins the cluster
(``ray start --address HEAD --resources '{"device:rpi5-1": 1}'``); runs on this machine's CPU use the device
``host`` (``device:host``). A run job is a Ray task asking for ``device:<its device>`` and no CPU, so Ray places
it on the node with the board and never runs two on one board at once; a compile job asks for
``compile_cpus`` CPUs and runs anywhere. Every job runs as ``python -m edgeai_core.executors`` in a fresh
folder on the node that got it; its folder (results, logs) and, for compiles, the step-cache entries it made
come back to the driver through Ray's object store, not through a shared file system: the compile's cache
entries travel to the runs of its chain. ``max_retries`` restarts a job whose process died (a node lost, a
killed worker) in a new folder; a job that fails on its own is not retried.

Ray's usage statistics are always off (``RAY_USAGE_STATS_ENABLED=0``: with them on, Ray probes cloud metadata
addresses). Without an address (``address`` or ``RAY_ADDRESS``) the executor refuses, unless
``local_cluster = true`` asks for a private cluster on a loopback address.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from edgeai_core.api import EdgeaiError, Executor, Job, Outcome, SweepExecution

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import ray

HOST_DEVICE = "host"


def resource(device: str) -> str:
    return f"device:{device}"


def _pack(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if folder.is_dir():
            tar.add(str(folder), arcname=".")
    return buffer.getvalue()


def _unpack(data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


@ray.remote
def _run_remote(spec: dict[str, Any], cache_tar: bytes | None) -> dict[str, Any]:
    """On the node Ray chose: unpack the chain's cache entries, run the job in a fresh folder, send it back."""
    from edgeai_core.executors import run_job

    node = ray.get_runtime_context().get_node_id()
    with tempfile.TemporaryDirectory(prefix="edgeai-job-") as scratch:
        root = Path(scratch)
        cache = root / "cache"
        if cache_tar:
            _unpack(cache_tar, cache)
        job = Job(
            kind=spec["kind"], id=spec["id"], config=spec["config"], folder=root / "job", cache=cache,
            device=spec["device"], label=spec["label"], chain=spec["chain"],
        )  # fmt: skip
        outcome = run_job(job, new_session=False)  # the worker dies with this task's process group
        return {
            "status": outcome.status,
            "error": outcome.error,
            "started_at": outcome.started_at,
            "finished_at": outcome.finished_at,
            "node": node,
            "node_ip": ray.util.get_node_ip_address(),
            "folder": _pack(root / "job"),
            "cache": _pack(cache) if spec["kind"] == "compile" else None,
        }


class RayExecutor(Executor):
    """Jobs as Ray tasks: compiles on any node's CPUs, runs on the node that holds their device."""

    _started_cluster = False

    def _connect(self) -> None:
        if ray.is_initialized():
            return
        address = self.params.get("address") or os.environ.get("RAY_ADDRESS")
        node_ip = self.params.get("node_ip")
        if address:
            extra = {"_node_ip_address": node_ip} if node_ip else {}
            ray.init(address=address, log_to_driver=False, configure_logging=False, **extra)
            return
        if not self.params.get("local_cluster"):
            raise EdgeaiError(
                "the ray executor needs a cluster: --set-executor address=HOST:PORT (or RAY_ADDRESS); or "
                "--set-executor local_cluster=true for a private one on this machine"
            )
        ray.init(
            _node_ip_address=node_ip or "127.0.0.2",
            include_dashboard=False,
            resources={resource(HOST_DEVICE): 1},
            log_to_driver=False,
            configure_logging=False,
        )
        self._started_cluster = True

    def execute(self, execution: SweepExecution) -> None:
        self._connect()
        retries = int(self.params.get("retries", 1))
        devices = {job.device for job in execution.runs}
        known = ray.cluster_resources()
        missing = sorted(d for d in devices if resource(d) not in known)
        if missing:
            raise EdgeaiError(
                f"the Ray cluster has no node with {', '.join(resource(d) for d in missing)}; start the node "
                "that holds each device with ray start --resources '{\"device:NAME\": 1}'"
            )
        pending: dict[Any, Job] = {}
        for job in execution.compiles:
            if execution.stopping.is_set():
                break
            ref = _run_remote.options(
                num_cpus=float(self.params.get("compile_cpus", 1.0)), max_retries=retries
            ).remote(self._spec(job), None)
            pending[ref] = job
            execution.started(job)
        chain_cache: dict[str, Any] = {}
        self._drain(execution, pending, chain_cache)
        for job in execution.runs:
            if execution.stopping.is_set():
                break
            if job.chain in execution.failed_chains:
                error = f"its compile failed: {execution.failed_chains[job.chain]}"
                execution.finished(job, Outcome("failed", error, time.time(), time.time()))
                continue
            ref = _run_remote.options(
                num_cpus=0, resources={resource(job.device): 1}, max_retries=retries
            ).remote(self._spec(job), chain_cache.get(job.chain))
            pending[ref] = job
            execution.started(job)
        self._drain(execution, pending, chain_cache)

    @staticmethod
    def _spec(job: Job) -> dict[str, Any]:
        return {**job.to_json(), "folder": "", "cache": ""}

    def _drain(self, execution: SweepExecution, pending: dict[Any, Job], chain_cache: dict[str, Any]) -> None:
        while pending:
            if execution.stopping.is_set():
                for ref in list(pending):
                    ray.cancel(ref, force=False)
            done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in done:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except (ray.exceptions.TaskCancelledError, ray.exceptions.RayTaskError) as exc:
                    status = "interrupted" if isinstance(exc, ray.exceptions.TaskCancelledError) else "failed"
                    execution.finished(job, Outcome(status, str(exc).splitlines()[0][:300], 0.0, time.time()))
                    continue
                except ray.exceptions.RayError as exc:  # the worker died more often than retries allow
                    execution.finished(
                        job, Outcome("failed", str(exc).splitlines()[0][:300], 0.0, time.time())
                    )
                    continue
                if job.folder.exists():
                    shutil.rmtree(job.folder)
                _unpack(result["folder"], job.folder)
                if job.kind == "compile":
                    if result["status"] == "complete" and result["cache"]:
                        _unpack(result["cache"], job.cache)  # the driver's cache keeps every compile too
                        chain_cache[job.id] = ray.put(result["cache"])
                    else:
                        execution.failed_chains[job.id] = result["error"] or result["status"]
                outcome = Outcome(
                    result["status"], result["error"], result["started_at"], result["finished_at"],
                    where=f"{result['node_ip']} ({result['node'][:12]})",
                )  # fmt: skip
                execution.finished(job, outcome)

    def close(self) -> None:
        if ray.is_initialized():
            ray.shutdown()
