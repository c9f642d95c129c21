"""MetaSchedule tuning with a reusable database, made practical on small machines.

The compiler calls :func:`tune` for a Relax module whose operators are already fused. Every fused operator is a
MetaSchedule task; a task that already has a working record in the database is never tuned again, so a
database folder can be shared by runs, models and variants, and a second run with the same model tunes nothing.

Measured with TVM 0.27 on two cores, TVM's stock setup spends almost all of a small budget outside the search:

* ``import tvm.s_tir.tensor_intrin`` registers every tensor intrinsic (CUDA's alone take ~27 s) in the main
  process and again in every builder worker, and the stock ``LocalBuilder`` starts fresh workers for each batch
  of candidates, so its 30 s build timeout expires and whole budgets end with every candidate failed.
  :func:`cpu_intrinsics_only` registers only the CPU intrinsics an LLVM CPU target can use (x86, Arm, RISC-V),
  and :class:`InProcessBuilder` compiles candidates in this process (0.1 s each).
* Candidates still run in TVM's ``LocalRunner`` worker process, so a faulty kernel cannot take the compiler down.
* The evolutionary search's population scales with the budget (TVM's 512 is sized for thousands of trials).

With these, 128 trials on the digits CNN take about 80 s instead of failing after 6 minutes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

from edgeai_core.api import NullProgress, Progress
from edgeai_tvm._util import condense, has_database
from edgeai_tvm.targets import host_arch

log = logging.getLogger(__name__)

#: Seconds one candidate may run in the runner worker (TVM's default of 30 s also covers its worker start).
RUNNER_TIMEOUT_S = 120.0
_INTRINSICS = {"x86_64": ("x86",), "x86": ("x86",), "aarch64": ("arm_cpu",), "arm": ("arm_cpu",)}


def cpu_intrinsics_only() -> None:
    """Register the CPU tensor intrinsics only, instead of ``tvm.s_tir.tensor_intrin``'s ~30 s import.

    MetaSchedule imports that package (for its side effect of registering intrinsics) when it creates a tuning
    task and when it builds a candidate. The package is put in ``sys.modules`` without running its
    ``__init__`` (which imports CUDA, ROCm and Hexagon intrinsics), and this host's CPU intrinsics are imported
    as its submodules. Nothing happens when the package is already imported.
    """
    name = "tvm.s_tir.tensor_intrin"
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType(name, "CPU tensor intrinsics only (edgeai-tvm)")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__package__ = name
    sys.modules[name] = package
    for sub in _INTRINSICS.get(host_arch(), ()):
        importlib.import_module(f"{name}.{sub}")


@derived_object
class InProcessBuilder(PyBuilder):
    """Builds candidates in this process as TVM's ``default_build`` does (no worker start-up)."""

    def __init__(self, scratch: str) -> None:
        super().__init__()
        self.scratch = scratch

    def build(self, build_inputs: list[Any]) -> list[Any]:
        from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

        results = []
        for item in build_inputs:
            try:
                # what TVM's default_build does, through tvm.tirx.build instead of the deprecated tvm.build
                mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(item.mod)
                module = tvm.tirx.build(mod, target=item.target)
                folder = tempfile.mkdtemp(prefix="build-", dir=self.scratch)
                path = os.path.join(folder, "candidate.tar")
                module.export_library(path)
                results.append(BuilderResult(path, None))
            except Exception as exc:  # a candidate that fails to build is a failed trial, not a failed tuning
                results.append(BuilderResult(None, f"in-process build failed: {condense(exc)}"))
        return results


@derived_object
class _Progress(PyMeasureCallback):
    """Reports measured candidates to edgeai's progress display and counts them."""

    def __init__(self, progress: Progress, budget: int) -> None:
        super().__init__()
        self.progress, self.budget, self.measured, self.failed = progress, budget, 0, 0

    def apply(self, task_scheduler: Any, task_id: int, candidates: Any, builds: Any, runs: Any) -> None:
        self.measured += len(candidates)
        self.failed += sum(
            1
            for b, r in zip(builds, runs, strict=False)
            if b.error_msg is not None or r.error_msg is not None
        )
        self.progress.update(min(self.measured, self.budget), self.budget, "tuning trials")


@dataclass
class TuningReport:
    """What a tuning step did, for the artifact's metadata."""

    database: str
    tasks: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    tuned: list[str] = field(default_factory=list)
    untuned: list[str] = field(default_factory=list)
    trials_budget: int = 0
    trials_measured: int = 0
    trials_failed: int = 0
    records_added: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "tasks": len(self.tasks),
            "tasks_from_database": len(self.reused),
            "tasks_tuned": len(self.tuned),
            "tasks_untuned": len(self.untuned),
            "tuned": list(self.tuned),
            "untuned": list(self.untuned),
            "trials_budget": self.trials_budget,
            "trials_measured": self.trials_measured,
            "trials_failed": self.trials_failed,
            "records_added": self.records_added,
            "tuning_s": round(self.seconds, 3),
        }


def extract_tasks(mod: Any, target: Any) -> list[Any]:
    return list(ms.relax_integration.extract_tasks(mod, target))


def missing_tasks(tasks: list[Any], database: Any, target: Any) -> list[Any]:
    """Tasks without a working record in ``database`` (a task whose records all failed counts as missing)."""
    missing = []
    for task in tasks:
        mod = task.dispatched[0]
        if not database.has_workload(mod) or database.query_tuning_record(mod, target, "main") is None:
            missing.append(task)
    return missing


def tune(
    mod: Any,
    target: Any,
    folder: Path,
    trials: int,
    *,
    seed: int = 0,
    threads: int | None = None,
    progress: Progress | None = None,
) -> TuningReport:
    """Tune the operators of ``mod`` that ``folder``'s database lacks, within ``trials`` measured candidates."""
    progress = progress or NullProgress()
    folder.mkdir(parents=True, exist_ok=True)
    report = TuningReport(database=str(folder), trials_budget=trials)
    started = time.perf_counter()
    tasks = extract_tasks(mod, target)
    report.tasks = [t.task_name for t in tasks]
    database = ms.database.JSONDatabase(work_dir=str(folder))
    before = len(database)
    todo = missing_tasks(tasks, database, target)
    report.reused = [t.task_name for t in tasks if t not in todo]
    if not todo or trials == 0:
        report.untuned = [t.task_name for t in todo]
        report.seconds = time.perf_counter() - started
        return report
    report.tuned = [t.task_name for t in todo]
    per_task = max(1, math.ceil(trials / len(todo)))
    progress.stage(
        f"tuning {len(todo)} of {len(tasks)} operators with MetaSchedule ({trials} trials; "
        f"{len(report.reused)} from the database)"
    )
    cpu_intrinsics_only()
    strategy = ms.search_strategy.EvolutionarySearch(
        population_size=min(512, max(64, 8 * per_task)),
        init_min_unmeasured=min(50, max(8, per_task)),
    )
    scratch = tempfile.mkdtemp(prefix=".candidates-", dir=folder)
    counter = _Progress(progress, trials)
    try:
        with _quiet_logs(), _worker_environment(threads, scratch):
            contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
                todo, str(folder), strategy=strategy, seed=seed
            )
            ms.tune_tasks(
                tasks=contexts,
                task_weights=weights,
                work_dir=str(folder),
                max_trials_global=trials,
                max_trials_per_task=per_task,
                num_trials_per_iter=min(64, per_task),
                builder=InProcessBuilder(scratch),
                runner=ms.runner.LocalRunner(timeout_sec=RUNNER_TIMEOUT_S),
                database=database,
                measure_callbacks=[*ms.measure_callback.MeasureCallback.create("default"), counter],
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report.trials_measured, report.trials_failed = counter.measured, counter.failed
    after = ms.database.JSONDatabase(work_dir=str(folder))
    report.records_added = len(after) - before
    report.untuned = [t.task_name for t in missing_tasks(tasks, after, target)]
    report.seconds = time.perf_counter() - started
    progress.done(
        f"{report.trials_measured} trials in {report.seconds:.0f} s ({report.trials_failed} failed); database {folder}"
    )
    return report


def apply_database(mod: Any, target: Any, folder: Path) -> Any:
    """``mod`` with every operator that has a record in ``folder``'s database replaced by its best schedule."""
    from tvm import relax

    database = ms.database.JSONDatabase(work_dir=str(folder))
    with target, database:
        return relax.transform.MetaScheduleApplyDatabase()(mod)


def database_count(folder: Path) -> int:
    return len(ms.database.JSONDatabase(work_dir=str(folder))) if has_database(folder) else 0


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """MetaSchedule logs every iteration to stdout; keep the console to warnings (its log files get all)."""
    logger = logging.getLogger("tvm.s_tir.meta_schedule")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


_NO_TORCH = 'raise ImportError("edgeai-tvm: MetaSchedule workers run TVM kernels and need no torch")\n'


@contextlib.contextmanager
def _worker_environment(threads: int | None, scratch: str) -> Iterator[None]:
    """The environment the runner's worker process starts with.

    ``TVM_NUM_THREADS`` is the target's ``num-cores``, so candidates are measured with the threads they were
    scheduled for. A ``torch`` package that refuses to import comes first on ``PYTHONPATH``: the worker imports
    TVM, whose ``tvm_ffi`` imports torch when it can (6 s and 300 MB on two cores, for nothing; it treats the
    ImportError as "no torch").
    """
    stub = Path(scratch) / "no-torch"
    (stub / "torch").mkdir(parents=True, exist_ok=True)
    (stub / "torch" / "__init__.py").write_text(_NO_TORCH, encoding="utf-8")
    saved = {name: os.environ.get(name) for name in ("TVM_NUM_THREADS", "PYTHONPATH")}
    if threads:
        os.environ["TVM_NUM_THREADS"] = str(threads)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(stub), saved["PYTHONPATH"]) if p)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def tvm_version() -> str:
    return str(tvm.__version__)
