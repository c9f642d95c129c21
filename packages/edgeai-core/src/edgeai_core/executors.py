"""Executors: how a sweep's jobs reach the machines that run them.

A sweep has two kinds of job (:class:`Job`): a *compile* per chain (the dataset, model and steps every run of the
chain shares, made once into the step cache) and a *run* per point (the chain's artifact, taken from the cache,
loaded into the runtime on the run's device and measured). Every job is carried out by the same worker,
``python -m edgeai_core.executors JOB.json``, a fresh process that writes the job's folder exactly as
``edgeai run -o`` does; :func:`run_job` starts it and waits.

An executor (kind ``executor``, hook ``edgeai_register_executors``) decides where and when jobs run. Its rules:
every compile before the runs of its chain; one run at a time per device (the device is held exclusively while
it benchmarks; ``host`` is this machine); a failed job never stops the others; :attr:`SweepExecution.stopping`
set (Ctrl-C) means start nothing new. The core's ``local`` executor runs compiles in parallel up to ``jobs``
processes and one thread per device for the runs.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.components import Component

#: exit status of a worker whose run was interrupted (SIGINT), as shells report it
INTERRUPTED = 130


@dataclass(frozen=True)
class Job:
    """One unit of work: ``kind`` is ``compile`` (stop once the final artifact exists) or ``run``."""

    kind: str
    id: str
    config: Mapping[str, Any]
    folder: Path
    cache: Path
    device: str = "host"
    label: str = ""
    #: the chain whose compile this run needs (runs only)
    chain: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "config": dict(self.config),
            "folder": str(self.folder),
            "cache": str(self.cache),
            "device": self.device,
            "label": self.label,
            "chain": self.chain,
        }


@dataclass
class Outcome:
    """How a job ended: ``status`` complete/failed/interrupted, the error line, the wall times."""

    status: str
    error: str | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    where: str = ""


@dataclass
class SweepExecution:
    """What an executor gets: the jobs, the callbacks that record their outcomes, the stop flag."""

    compiles: list[Job]
    runs: list[Job]
    #: called when a job starts and ends; record in sweep.json, print progress
    started: Callable[[Job], None]
    finished: Callable[[Job, Outcome], None]
    jobs: int = 1
    stopping: threading.Event = field(default_factory=threading.Event)
    #: chains whose compile failed: their runs are recorded failed with this error, not run
    failed_chains: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Executor(Component, abc.ABC):
    """Carries out a sweep's jobs (see the module docstring for the rules every executor keeps)."""

    @abc.abstractmethod
    def execute(self, execution: SweepExecution) -> None:
        """Run every job of ``execution``, calling ``started``/``finished`` for each; return when all ended
        or, once ``stopping`` is set, when the running ones ended."""


def run_job(job: Job, execution: SweepExecution | None = None, *, new_session: bool = True) -> Outcome:
    """Run ``job`` in a fresh worker process on this machine; its output goes to ``job.folder/worker.log``.

    ``new_session``: the worker leads its own process group, so a terminal's Ctrl-C reaches only the sweep,
    which then asks each worker to stop (:func:`stop_workers`). An executor whose own process may be killed
    (a cluster worker) passes False, so the worker dies with the group of the process that started it. A
    KeyboardInterrupt while waiting asks the worker to stop and reports the job interrupted."""
    job.folder.mkdir(parents=True, exist_ok=True)
    spec = job.folder / "job.json"
    spec.write_text(json.dumps(job.to_json(), indent=2), encoding="utf-8")
    started = time.time()
    with (job.folder / "worker.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgeai_core.executors", str(spec)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
        if execution is not None:
            with execution.lock:
                execution.processes[job.id] = proc
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                proc.send_signal(signal.SIGINT)
            code = proc.wait()
            code = INTERRUPTED if code == 0 else code
        finally:
            if execution is not None:
                with execution.lock:
                    execution.processes.pop(job.id, None)
    finished = time.time()
    if code == 0:
        return Outcome("complete", None, started, finished)
    status = "interrupted" if code in (INTERRUPTED, -signal.SIGINT) else "failed"
    return Outcome(status, _last_error(job.folder / "worker.log", code), started, finished)


def _last_error(log: Path, code: int) -> str:
    try:
        lines = [
            line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()
        ]
    except OSError:
        lines = []
    errors = [line for line in lines if line.startswith("error:")]
    text = (errors or lines or [f"the worker exited with status {code}"])[-1]
    return text.removeprefix("error:").strip()[:500]


def stop_workers(execution: SweepExecution) -> None:
    """Ask every running worker to stop (SIGINT): it writes its results as interrupted and exits."""
    with execution.lock:
        procs = list(execution.processes.values())
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.send_signal(signal.SIGINT)


class LocalExecutor(Executor):
    """This machine: compiles in parallel (``jobs`` processes), then one thread per device for the runs."""

    def execute(self, execution: SweepExecution) -> None:
        def compile_one(job: Job) -> None:
            if execution.stopping.is_set():
                return
            execution.started(job)
            outcome = run_job(job, execution)
            outcome.where = "local"
            if outcome.status != "complete":
                execution.failed_chains[job.id] = outcome.error or outcome.status
            execution.finished(job, outcome)

        with ThreadPoolExecutor(max_workers=max(1, execution.jobs), thread_name_prefix="compile") as pool:
            list(pool.map(compile_one, execution.compiles))

        queues: dict[str, list[Job]] = {}
        for job in execution.runs:
            queues.setdefault(job.device, []).append(job)

        def device_worker(jobs: list[Job]) -> None:
            for job in jobs:
                if execution.stopping.is_set():
                    return
                if job.chain in execution.failed_chains:
                    error = f"its compile failed: {execution.failed_chains[job.chain]}"
                    execution.finished(job, Outcome("failed", error, time.time(), time.time()))
                    continue
                execution.started(job)
                outcome = run_job(job, execution)
                outcome.where = "local"
                execution.finished(job, outcome)

        threads = [
            threading.Thread(target=device_worker, args=(jobs,), name=f"device-{device}", daemon=True)
            for device, jobs in queues.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)


# -- the worker ------------------------------------------------------------------------------------------------


def work(spec_path: Path) -> int:
    """Carry out the job in ``spec_path`` (the worker process's main)."""
    from edgeai_core.config import parse_config
    from edgeai_core.errors import EdgeaiError
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.plugins import PluginHost
    from edgeai_core.progress import StreamProgress
    from edgeai_core.runner import RunFailed, Runner
    from edgeai_core.stepcache import StepCache

    job = json.loads(spec_path.read_text(encoding="utf-8"))
    config = dict(job["config"])
    host = PluginHost()
    try:
        plan = plan_pipeline(parse_config(config), host)
        runner = Runner(
            plan,
            Path(job["folder"]),
            host=host,
            progress=StreamProgress(),
            command=["edgeai", "sweep", f"{job['kind']} {job['id']}"],
            step_cache=StepCache(job["cache"]),
            compile_only=job["kind"] == "compile",
        )
        runner.run()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (EdgeaiError, RunFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(work(Path(sys.argv[1])))
