"""Run many small jobs in a worker process that may crash or hang, without losing the other jobs.

The compatibility commands (``edgeai grid``, ``edgeai onnx-backend-tests``) feed hundreds of models to
frameworks whose converters and compilers are C++: a segmentation fault or an endless loop in one of them
would otherwise take the whole command down. :class:`IsolatedWorker` keeps one worker process (a fresh
``python -m edgeai_compat.isolation``) per job list and hands it one job at a time over a pipe. A worker that
dies is reported for the job it was on (``crashed (signal 11: SIGSEGV)``) and a fresh one takes the next job;
a job that runs past its time limit is killed the same way (``timed out after 300 s``). Starting a worker once
per list, not once per job, keeps the cost of importing a framework (TensorFlow: 5-7 s) to once per list, plus
once per crash. A fresh interpreter rather than ``multiprocessing``'s spawn: spawn re-imports the caller's
``__main__`` script, which breaks scripts without an ``if __name__ == "__main__"`` guard.

The job code is a class named ``"module:Class"``: built once per worker as ``Class(setup)`` and called as
``instance.run(job) -> dict`` for each job (plain dicts and lists travel through the pipe). The worker's stdout
and stderr (framework chatter, C++ warnings, the last words of a crash) go to a log file, so the parent's
terminal and its ``--json`` output stay clean.
"""

from __future__ import annotations

import contextlib
import faulthandler
import importlib
import logging
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a new worker may take to import its job class and answer "ready".
START_TIMEOUT_S = 300.0


def first_line(exc: BaseException | str, limit: int = 240) -> str:
    """The first non-empty line of an error, prefixed by its type when the message is empty or bare."""
    text = str(exc).strip()
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if isinstance(exc, BaseException) and not line:
        line = type(exc).__name__
    if len(line) > limit:
        line = line[: limit - 3].rstrip() + "..."
    return line


def describe_exit(exitcode: int | None) -> str:
    """``crashed (signal 11: SIGSEGV)`` for a killed process, ``exited with status N`` otherwise."""
    if exitcode is None:
        return "vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            return f"crashed (signal {-exitcode})"
        return f"crashed (signal {-exitcode}: {name})"
    return f"exited with status {exitcode}"


def load_class(reference: str) -> Any:
    module_name, _, attr = reference.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class JobOutcome:
    """What became of one job: ``result`` when the job code returned, else ``error`` (one line)."""

    result: dict[str, Any] | None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


def _child_main(reference: str) -> None:
    """The worker's main loop: ``python -m edgeai_compat.isolation REFERENCE``, jobs on stdin, results on stdout.

    The protocol uses the original stdout; fds 1 and 2 then point at the log file (or stderr), so whatever a
    framework prints can never corrupt a message.
    """
    reader = Connection(os.dup(0), readable=True, writable=False)
    writer = Connection(os.dup(1), readable=False, writable=True)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    setup = reader.recv()
    log_path = setup.pop("__log_path__", None)
    sys.path[:] = setup.pop("__sys_path__", sys.path)
    sys.stdout.flush()
    if log_path:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    else:
        os.dup2(2, 1)
    faulthandler.enable()  # a crashing job leaves its Python stack in the log
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        worker = load_class(reference)(setup)
    except BaseException as exc:
        traceback.print_exc()
        writer.send(("failed", f"{type(exc).__name__}: {first_line(exc)}"))
        return
    writer.send(("ready", None))
    while True:
        try:
            job = reader.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            writer.send(("ok", worker.run(job)))
        except BaseException as exc:  # the job code should catch its own errors; this is the safety net
            traceback.print_exc()
            writer.send(("error", f"{type(exc).__name__}: {first_line(exc)}"))
        sys.stdout.flush()
        sys.stderr.flush()


class WorkerStartError(Exception):
    """The worker could not even import or build its job class."""


class IsolatedWorker:
    """A restartable worker process running ``reference``'s jobs one at a time.

    ``isolate=False`` runs the jobs in this process instead (debugging, and the fastest path where a crash
    does not matter); exceptions are still caught per job.
    """

    def __init__(
        self,
        reference: str,
        setup: Mapping[str, Any],
        *,
        timeout_s: float | None = 300.0,
        log_path: Path | None = None,
        isolate: bool = True,
    ) -> None:
        self.reference = reference
        self.setup = dict(setup)
        self.timeout_s = timeout_s
        self.log_path = log_path
        self.isolate = isolate
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._send_conn: Connection | None = None
        self._local: Any = None
        self.restarts = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    def _start(self) -> None:
        if not self.isolate:
            if self._local is None:
                self._local = load_class(self.reference)(dict(self.setup))
            return
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # a fresh interpreter (not multiprocessing's spawn, which re-imports the caller's __main__ script)
        process = subprocess.Popen(
            [sys.executable, "-m", "edgeai_compat.isolation", self.reference],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        self._send_conn = Connection(os.dup(process.stdin.fileno()), readable=False, writable=True)
        self._conn = Connection(os.dup(process.stdout.fileno()), readable=True, writable=False)
        process.stdin.close()
        process.stdout.close()
        setup = {
            **self.setup,
            "__log_path__": str(self.log_path) if self.log_path else None,
            "__sys_path__": list(sys.path),
        }
        try:
            self._send_conn.send(setup)
        except OSError:
            code = self._reap()
            raise WorkerStartError(
                f"the worker {describe_exit(code)} while starting{self._log_hint()}"
            ) from None
        if not self._conn.poll(START_TIMEOUT_S):
            self._kill()
            raise WorkerStartError(f"the worker did not start within {START_TIMEOUT_S:g} s")
        try:
            status, detail = self._conn.recv()
        except EOFError:
            code = self._reap()
            raise WorkerStartError(
                f"the worker {describe_exit(code)} while starting{self._log_hint()}"
            ) from None
        if status != "ready":
            self._reap()
            raise WorkerStartError(f"the worker failed to start: {detail}{self._log_hint()}")

    def _log_hint(self) -> str:
        return f" (log: {self.log_path})" if self.log_path else ""

    def _reap(self) -> int | None:
        process, self._process = self._process, None
        for conn in (self._conn, self._send_conn):
            if conn is not None:
                conn.close()
        self._conn = self._send_conn = None
        if process is None:
            return None
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        code: int | None = process.returncode
        return code

    def _kill(self) -> int | None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        return self._reap()

    def close(self) -> None:
        """Ask the worker to exit (it finishes nothing new) and reap it."""
        if self._send_conn is not None:
            with contextlib.suppress(OSError):
                self._send_conn.send(None)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(10)
        self._kill()
        self._local = None

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------------------

    def run(self, job: Mapping[str, Any], timeout_s: float | None = None) -> JobOutcome:
        """Run one job; never raises for the job's own failures (see :class:`JobOutcome`)."""
        started = time.perf_counter()
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            if self._process is None and self._local is None:
                self._start()
        except WorkerStartError as exc:
            return JobOutcome(None, str(exc), time.perf_counter() - started)
        except Exception as exc:  # isolate=False: the job class itself failed to build
            return JobOutcome(None, f"{type(exc).__name__}: {first_line(exc)}", time.perf_counter() - started)
        if not self.isolate:
            try:
                result = self._local.run(dict(job))
            except Exception as exc:
                log.debug("job failed", exc_info=True)
                return JobOutcome(
                    None, f"{type(exc).__name__}: {first_line(exc)}", time.perf_counter() - started
                )
            return JobOutcome(result, None, time.perf_counter() - started)
        assert self._conn is not None and self._send_conn is not None
        try:
            self._send_conn.send(dict(job))
        except OSError:
            code = self._kill()
            self.restarts += 1
            return JobOutcome(None, describe_exit(code), time.perf_counter() - started)
        if not self._conn.poll(limit):
            self._kill()
            self.restarts += 1
            return JobOutcome(None, f"timed out after {limit:g} s", time.perf_counter() - started)
        try:
            status, payload = self._conn.recv()
        except EOFError:
            code = self._reap()
            self.restarts += 1
            return JobOutcome(None, describe_exit(code), time.perf_counter() - started)
        seconds = time.perf_counter() - started
        if status == "ok":
            return JobOutcome(payload, None, seconds)
        return JobOutcome(None, str(payload), seconds)


@contextlib.contextmanager
def isolated(
    reference: str,
    setup: Mapping[str, Any],
    *,
    timeout_s: float | None = 300.0,
    log_path: Path | None = None,
    isolate: bool = True,
) -> Iterator[IsolatedWorker]:
    """``with isolated("pkg.mod:Worker", setup) as worker: worker.run(job)``; the worker is reaped on exit."""
    worker = IsolatedWorker(reference, setup, timeout_s=timeout_s, log_path=log_path, isolate=isolate)
    try:
        yield worker
    finally:
        worker.close()


def plugin_modules(host: Any) -> list[dict[str, Any]]:
    """The loaded plugins as importable modules, so a worker can rebuild the same plugin host."""
    found = []
    for info in host.plugin_infos():
        if info.status != "ok":
            continue
        module = info.module.partition(":")[0]
        found.append(
            {"name": info.name, "module": module, "distribution": info.distribution, "version": info.version}
        )
    return found


def host_from_modules(modules: list[dict[str, Any]]) -> Any:
    """A plugin host (:class:`edgeai_core.api.PluginHost`) with exactly these plugin modules (in a worker)."""
    from edgeai_core.api import PluginHost

    host = PluginHost(discover=False, env={})
    for spec in modules:
        module = importlib.import_module(spec["module"])
        host.register(
            module, spec["name"], distribution=spec.get("distribution"), version=spec.get("version")
        )
    return host


if __name__ == "__main__":
    _child_main(sys.argv[1])
