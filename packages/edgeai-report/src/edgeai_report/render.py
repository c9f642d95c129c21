"""Render reports: load the runs, draw the plots (in parallel when there are many), write each format.

:func:`render_report` is the whole of ``edgeai report`` as a library call; the demo uses it too. One results
file gives a single-run report, several a comparison report (the comparison, then every run in detail).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.api import UsageError
from edgeai_report import optimization, vision
from edgeai_report.compare import Comparison, analyze
from edgeai_report.content import (
    PlotJob,
    comparison_plot_jobs,
    comparison_report,
    run_plot_jobs,
    single_report,
)
from edgeai_report.load import load_runs
from edgeai_report.plots import PlotFile
from edgeai_report.writers import write_html, write_markdown, write_rst

log = logging.getLogger(__name__)

FORMATS = ("html", "md", "rst")
FILE_NAMES = {"html": "report.html", "md": "report.md", "rst": "report.rst"}


@dataclass
class ReportResult:
    """What was written: one file per format, every plot (PNG and SVG), and what the comparison left out."""

    kind: str
    output: Path
    files: dict[str, Path]
    plots: list[PlotFile]
    runs: list[str]
    left_out: list[tuple[str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: per compared pair: latency ratio, interval, test and verdict (edgeai_report.significance)
    significance: list[dict[str, Any]] = field(default_factory=list)
    #: per run: its validity verdict (None for documents without one)
    validity: dict[str, str | None] = field(default_factory=dict)
    #: per run: the metric standing for its quality (accuracy, map, miou) and its value, or None
    quality: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    #: per run against its baseline: quality change in points (per class for detection and segmentation)
    deltas: list[dict[str, Any]] = field(default_factory=list)
    #: SVG drawings the report made itself (example images with boxes or masks)
    drawings: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "output": str(self.output),
            "files": {fmt: str(path) for fmt, path in self.files.items()},
            "runs": self.runs,
            "plots": [
                {"key": p.key, "png": str(p.png), "svg": str(p.svg), "width": p.width, "height": p.height}
                for p in self.plots
            ],
            "left_out": [{"part": part, "run": run, "reason": reason} for part, run, reason in self.left_out],
            "notes": self.notes,
            "validity": self.validity,
            "significance": self.significance,
            "quality": self.quality,
            "deltas": self.deltas,
            "drawings": [str(path) for path in self.drawings],
        }


def parse_formats(value: str | Sequence[str]) -> tuple[str, ...]:
    items = [v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    aliases = {"markdown": "md", "htm": "html", "restructuredtext": "rst"}
    items = [aliases.get(v, v) for v in items]
    unknown = [v for v in items if v not in FORMATS]
    if unknown or not items:
        raise UsageError(
            f"--format: unknown format '{','.join(unknown) or value}'; choose from {', '.join(FORMATS)}"
        )
    return tuple(dict.fromkeys(items))


def render_report(
    results: Sequence[Path | str],
    output: Path | str,
    *,
    title: str | None = None,
    formats: str | Sequence[str] = FORMATS,
    names: Sequence[str] | None = None,
    img_dir: Path | str | None = None,
    root_dir: Path | str | None = None,
    baseline: str | None = None,
    jobs: int | None = None,
) -> ReportResult:
    """Render the report of ``results`` (one file: single run; several: comparison) into ``output``.

    ``img_dir`` (default ``output/img``) receives the PNG and SVG plots. ``root_dir`` is the root of a docs
    tree (Sphinx source folder): RST image paths are then written ``/``-rooted relative to it, and
    ``img_dir`` must lie inside it. ``jobs`` is the number of drawing processes (default: automatic).
    """
    chosen = parse_formats(formats)
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output: {output} exists and is not a folder")
    images = Path(img_dir) if img_dir is not None else output / "img"
    root = Path(root_dir) if root_dir is not None else None
    if root is not None and not _inside(images, root):
        raise UsageError(
            f"--img-dir: {images} must lie inside --root-dir {root} (docs refer to images from it)"
        )
    started = time.perf_counter()
    runs = load_runs(results, names)
    log.info("read and checked %d results files in %.2f s", len(runs), time.perf_counter() - started)
    output.mkdir(parents=True, exist_ok=True)
    images.mkdir(parents=True, exist_ok=True)

    comp: Comparison | None = analyze(runs, baseline) if len(runs) > 1 else None
    if comp is None and baseline is not None:
        raise UsageError("--baseline needs several results files to compare")
    plan: list[PlotJob] = comparison_plot_jobs(comp, images) if comp is not None else []
    plan += optimization.plot_jobs(runs, images) if comp is not None else []
    for run in runs:
        plan += run_plot_jobs(run, images, detail=comp is None)
    started = time.perf_counter()
    plots = draw(plan, jobs)
    log.info("drew %d plots (PNG and SVG) in %.2f s", len(plots), time.perf_counter() - started)
    started = time.perf_counter()

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    version = _version()
    if comp is None:
        run = runs[0]
        doc = single_report(
            run,
            plots,
            title or f"edgeai report: {run.name}",
            f"edgeai-report {version}, {stamp}, from {run.path}",
        )
    else:
        doc = comparison_report(
            comp,
            plots,
            title or f"edgeai comparison of {len(runs)} runs",
            f"edgeai-report {version}, {stamp}, from {len(runs)} results files",
        )
    drawings = vision.write_drawings(doc, images)
    files: dict[str, Path] = {}
    for fmt in chosen:
        path = output / FILE_NAMES[fmt]
        if fmt == "html":
            files[fmt] = write_html(doc, path)
        elif fmt == "md":
            files[fmt] = write_markdown(doc, path)
        else:
            files[fmt] = write_rst(doc, path, root_dir=root)
    log.info("wrote %s in %.2f s", ", ".join(files), time.perf_counter() - started)
    return ReportResult(
        kind="single" if comp is None else "comparison",
        output=output,
        files=files,
        plots=doc.images(),
        runs=[r.name for r in runs],
        left_out=comp.left_out if comp else [],
        notes=comp.notes if comp else [],
        significance=[p.to_json() for p in comp.significance] if comp else [],
        validity={r.name: (r.doc.get("validity") or {}).get("verdict") for r in runs},
        quality={r.name: vision.quality_json(r) for r in runs},
        deltas=[vision.delta_json(d) for d in comp.deltas] if comp else [],
        drawings=drawings,
    )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("edgeai-report")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- drawing ----------------------------------------------------------------------------------------------


def _draw_one(job: PlotJob) -> PlotFile:
    import matplotlib

    from edgeai_report import plots

    with matplotlib.rc_context(plots.STYLE):  # type: ignore[arg-type]
        # "module:function" names a drawing function of another edgeai_report module (optimization.py)
        where, _, name = job.function.rpartition(":")
        module = importlib.import_module(f"edgeai_report.{where}") if where else plots
        function = getattr(module, name)
        result: PlotFile = function(**job.kwargs)
    return result


#: relative drawing cost of each kind of figure (measured), to share the work out evenly
COSTS = {
    "latency": 1.0,
    "resources": 0.8,
    "confusion_matrix": 0.9,
    "per_class": 0.6,
    "compare_latency": 1.0,
    "compare_tradeoff": 0.7,
    "compare_per_class": 1.4,
    "compare_resources": 1.0,
    "compare_deltas": 0.8,
}
#: a worker process starts late (interpreter, numpy and matplotlib imports, about 2 s on a 2-core VM where a
#: latency figure takes 0.25 s): its handicap in units of COSTS
WORKER_START_COST = 8.0


def _cost(job: PlotJob) -> float:
    cost = COSTS.get(job.function, 1.0)
    if job.function == "confusion_matrix":
        n = len(job.kwargs.get("matrix") or [])
        cost *= 1.0 + (n / 20.0) ** 2
    return cost


def _workers(work: float, jobs: int | None) -> int:
    """Processes drawing, this one included: ``jobs`` if given, else one per idle core (at most 4).

    A worker pays for its own interpreter and matplotlib import, so it is only worth it for enough figures
    (``work`` in units of COSTS) and a core that is actually idle: on a busy machine it only adds work.
    """
    if jobs is not None:
        return max(1, jobs)
    if work < 2 * WORKER_START_COST:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        idle = cpus - os.getloadavg()[0]
    except (AttributeError, OSError):
        idle = cpus - 1.0
    return max(1, min(cpus, 4, 1 + int(idle))) if idle >= 1.0 else 1


def _share(plan: Sequence[PlotJob], workers: int) -> list[list[PlotJob]]:
    """Longest job first to the least loaded process; bins 1.. are workers that start late."""
    loads = [0.0] + [WORKER_START_COST] * (workers - 1)
    bins: list[list[PlotJob]] = [[] for _ in range(workers)]
    for job in sorted(plan, key=_cost, reverse=True):
        i = min(range(workers), key=loads.__getitem__)
        bins[i].append(job)
        loads[i] += _cost(job)
    return bins


def draw(plan: Sequence[PlotJob], jobs: int | None = None) -> dict[str, PlotFile]:
    """Draw every planned figure, sharing them between this process and worker subprocesses.

    Workers are plain ``python`` subprocesses running :mod:`edgeai_report._worker` (see there why not
    multiprocessing). A worker that cannot start or fails leaves its figures to this process, so drawing
    never depends on them.
    """
    workers = _workers(sum(_cost(job) for job in plan), jobs)
    shares = _share(plan, workers) if workers > 1 else [list(plan)]
    log.info("drawing %d plots in %d process(es)", len(plan), workers)
    drawn: dict[str, PlotFile] = {}
    with tempfile.TemporaryDirectory(prefix="edgeai-report-") as scratch:
        started = [
            (_start_worker(share, Path(scratch) / f"jobs-{i}.pickle"), share)
            for i, share in enumerate(shares[1:], start=1)
            if share
        ]
        for job in shares[0]:
            drawn[job.key] = _draw_one(job)
        for proc, share in started:
            for plot in _collect(proc, share):
                drawn[plot.key] = plot
    return {job.key: drawn[job.key] for job in plan}


#: the worker's entry: the parent's import locations of edgeai_report and edgeai_core go to the END of the
#: child's sys.path, as fallbacks, so they can never shadow the standard library
_BOOT = (
    "import sys; sys.path += [p for p in sys.argv[2:] if p not in sys.path]; "
    "from edgeai_report._worker import main; sys.exit(main(sys.argv[1:2]))"
)


def _start_worker(share: list[PlotJob], path: Path) -> subprocess.Popen[bytes] | None:
    path.write_bytes(pickle.dumps(share))
    roots = [str(Path(__file__).resolve().parents[1])]
    core = sys.modules.get("edgeai_core")
    if core is not None and core.__file__:
        roots.append(str(Path(core.__file__).resolve().parents[1]))
    env = {**os.environ, "MPLBACKEND": "Agg"}
    try:
        return subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(path), *dict.fromkeys(roots)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    except OSError as exc:
        log.warning("could not start a drawing worker (%s); drawing in this process", exc)
        return None


def _collect(proc: subprocess.Popen[bytes] | None, share: list[PlotJob]) -> list[PlotFile]:
    if proc is not None:
        out, err = proc.communicate()
        payload: Any
        try:
            status, payload = pickle.loads(out) if out else ("error", err.decode(errors="replace"))
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            status, payload = "error", f"{exc}; {err.decode(errors='replace')}"
        if status == "ok" and proc.returncode == 0:
            plots: list[PlotFile] = payload
            return plots
        log.warning(
            "a drawing worker failed (exit %s); drawing its %d figures here: %s",
            proc.returncode,
            len(share),
            str(payload)[-500:],
        )
    return [_draw_one(job) for job in share]
