"""The ONNX support grid (``edgeai grid``): will my model make it through the export to ONNX, and back?

Each framework plugin contributes a *grid suite* (hook ``edgeai_register_grid_suites``): a list of models (its
own trainable models plus standard layers and blocks) and the framework's side of the road: build a model with
seeded weights and inputs, run it natively, export it to ONNX the way the plugin's converter does, and import
an ONNX file back where the framework can. The grid does the rest, the same way for every framework, one
*cell* per model:

1. build and run the model natively (the reference outputs);
2. export to ONNX; record the first line of the error if it fails, else the opset, the operator types used and
   whether ``onnx.checker`` accepts the file;
3. run the ONNX file in an installed runtime that loads ``onnx`` artifacts (``--runtime``, by default
   ``onnxruntime`` where installed), through its edgeai runtime component, on the same inputs and compare
   with the reference: max abs diff, and agreement within ``rtol``/``atol``;
4. import the file back into the framework (``unsupported``, with the reason, where it cannot), run it and
   compare again.

Every suite runs in its own worker process (:mod:`edgeai_compat.isolation`): an exception is caught per cell, and
a crash or hang of one cell is recorded for that cell (``crashed (signal 11: SIGSEGV)``) while a fresh worker
takes the next one. The grid writes ``grid.json`` (documented in ``docs/compatibility.md``) plus Markdown and
reStructuredText tables.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_compat import reports
from edgeai_compat.isolation import first_line, host_from_modules, isolated, plugin_modules
from edgeai_compat.tables import cell_text, finite, markdown_table, rst_heading, rst_table
from edgeai_core.api import (
    Artifact,
    Context,
    GridModel,
    GridSuite,
    GridSuiteRecord,
    ImportUnsupported,
    IOSpec,
    NullProgress,
    Prepared,
    Progress,
    Registration,
    TensorSpec,
    UnknownComponentError,
    UsageError,
)

log = logging.getLogger(__name__)

SCHEMA = "edgeai-grid/1"
HOOK = "edgeai_register_grid_suites"
WORKER = "edgeai_compat.grid:GridWorker"
#: Agreement of two outputs: ``|got - expected| <= atol + rtol * |expected|`` elementwise (numpy.allclose).
RTOL = 1e-3
ATOL = 1e-5
#: The format the suites export to, and so the format the ONNX runtime must load.
FORMAT = "onnx"
#: The runtime the grid prefers (``edgeai grid --runtime``) when several runtimes load ``onnx`` artifacts.
PREFERRED_RUNTIME = "onnxruntime"
CATEGORIES = ("model", "block", "layer")

#: The interfaces a plugin implements live in edgeai-core (:mod:`edgeai_core.api`); re-exported for callers.
__all__ = ["GridModel", "GridSuite", "ImportUnsupported", "Prepared", "run_grid", "select_suites"]


# -- one cell (in the worker) ---------------------------------------------------------------------------


def compare(
    got: Sequence[Any], expected: Sequence[np.ndarray], rtol: float = RTOL, atol: float = ATOL
) -> dict[str, Any]:
    """``{"status": "ok"|"mismatch", "max_abs_diff": float|None, "detail": str|None}`` for two output lists."""
    if len(got) != len(expected):
        return {
            "status": "mismatch",
            "max_abs_diff": None,
            "detail": f"{len(got)} output(s), expected {len(expected)}",
        }
    worst = 0.0
    agree = True
    detail = None
    for index, (g, e) in enumerate(zip(got, expected, strict=True)):
        g, e = np.asarray(g), np.asarray(e)
        if g.shape != e.shape:
            if g.size == e.size:  # a squeezed or reshaped output carries the same numbers
                g = g.reshape(e.shape)
            else:
                return {
                    "status": "mismatch",
                    "max_abs_diff": None,
                    "detail": f"output {index} has shape {g.shape}, expected {e.shape}",
                }
        if e.size == 0:
            continue
        gf, ef = g.astype(np.float64), e.astype(np.float64)
        with np.errstate(invalid="ignore"):
            diff = np.abs(gf - ef)
        both_nan = np.isnan(gf) & np.isnan(ef)
        diff = np.where(both_nan, 0.0, diff)
        worst = max(worst, float(np.nanmax(diff)) if not np.isnan(diff).all() else float("inf"))
        if not np.allclose(gf, ef, rtol=rtol, atol=atol, equal_nan=True):
            agree = False
            detail = detail or f"output {index} differs by up to {float(np.nanmax(diff)):.3g}"
    return {"status": "ok" if agree else "mismatch", "max_abs_diff": finite(worst), "detail": detail}


def inspect_onnx(path: Path) -> dict[str, Any]:
    """Opset, operator types and the checker's verdict of an ONNX file (needs the ``onnx`` package)."""
    try:
        import onnx
    except ImportError:
        return {"opset": None, "ops": None, "checker": "skipped: the onnx package is not installed"}
    model = onnx.load(str(path))
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    ops: set[str] = set()

    def walk(graph: Any) -> None:
        for node in graph.node:
            ops.add(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}")
            for attr in node.attribute:
                if attr.HasField("g"):
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(model.graph)
    try:
        onnx.checker.check_model(model, full_check=True)
        checker = "ok"
    except Exception as exc:  # ValidationError, InferenceError
        checker = f"error: {first_line(exc)}"
    return {"opset": opset, "ops": sorted(ops), "checker": checker, "io": _graph_io(onnx, model)}


def _graph_io(onnx: Any, model: Any) -> dict[str, Any]:
    initializers = {t.name for t in model.graph.initializer}

    def spec(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        except Exception:
            dtype = "float32"
        shape = [
            d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim
        ]
        return {"name": value.name, "dtype": dtype, "shape": shape}

    return {
        "inputs": [spec(v) for v in model.graph.input if v.name not in initializers],
        "outputs": [spec(v) for v in model.graph.output],
    }


def _io_spec(
    io: Mapping[str, Any] | None, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray]
) -> IOSpec:
    """The IO spec the ONNX runtime component is loaded with: the graph's names, the arrays' dtypes."""
    if io:
        return IOSpec(
            inputs=tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["inputs"]),
            outputs=tuple(TensorSpec(t["name"], tuple(t["shape"]), t["dtype"]) for t in io["outputs"]),
        )
    return IOSpec(
        inputs=tuple(
            TensorSpec(f"input_{i}", (None, *a.shape[1:]), a.dtype.name) for i, a in enumerate(inputs)
        ),
        outputs=tuple(
            TensorSpec(f"output_{i}", (None, *np.asarray(a).shape[1:]), np.asarray(a).dtype.name)
            for i, a in enumerate(outputs)
        ),
    )


def _stage(status: str = "skipped", **extra: Any) -> dict[str, Any]:
    return {"status": status, **extra}


def new_cell(suite: str, model: GridModel | Mapping[str, Any]) -> dict[str, Any]:
    info = model if isinstance(model, Mapping) else model.__dict__
    return {
        "suite": suite,
        "model": info["name"],
        "category": info.get("category", "layer"),
        "summary": info.get("summary", ""),
        "status": "error",
        "error": None,
        "export": _stage(error=None, opset=None, ops=None, checker=None, seconds=None, size_bytes=None),
        "onnx_run": _stage(runtime=None, max_abs_diff=None, error=None),
        "import": _stage(reason=None, max_abs_diff=None),
        "seconds": None,
    }


def _overall(cell: dict[str, Any]) -> None:
    """The cell's status: ``error`` if a stage failed, ``mismatch`` if numbers disagree, else ``ok``."""
    stages = (("export", cell["export"]), ("onnx_run", cell["onnx_run"]), ("import", cell["import"]))
    for name, stage in stages:
        if stage["status"] == "error":
            cell["status"] = "error"
            cell["error"] = cell["error"] or f"{name}: {stage.get('error') or stage.get('reason')}"
            return
    for name, stage in stages:
        if stage["status"] == "mismatch":
            cell["status"] = "mismatch"
            cell["error"] = f"{name}: {stage.get('detail') or 'outputs differ'}"
            return
    cell["status"] = "ok"


class GridWorker:
    """Runs one suite's jobs in the worker process (see :mod:`edgeai_compat.isolation`).

    ``setup``: ``modules`` (the plugin modules to load), ``suite`` (its record name), ``params``, ``workdir``,
    ``seed``, ``rtol``, ``atol``, ``runtime`` (the preferred runtime). Jobs: ``{"op": "models"}`` and
    ``{"op": "cell", "model": NAME}``.
    """

    def __init__(self, setup: Mapping[str, Any]) -> None:
        self.setup = dict(setup)
        self.host = host_from_modules(self.setup["modules"])
        records = {r.name: r for r in self.host.extra_records(HOOK, GridSuiteRecord)}
        self.record = records[self.setup["suite"]]
        self.workdir = Path(self.setup["workdir"])
        self.seed = int(self.setup.get("seed", 0))
        self.suite: GridSuite = self.record.create(
            self.setup.get("params") or {},
            where=f"grid suite {self.record.name}",
            context=Context(workdir=self.workdir, seed=self.seed),
        )
        self.rtol = float(self.setup.get("rtol", RTOL))
        self.atol = float(self.setup.get("atol", ATOL))
        self.preferred_runtime = str(self.setup.get("runtime") or PREFERRED_RUNTIME)
        self._models = {m.name: m for m in self.suite.models()}

    def run(self, job: Mapping[str, Any]) -> dict[str, Any]:
        if job["op"] == "models":
            runtime = self._runtime_record()
            return {
                "models": [m.__dict__ for m in self._models.values()],
                "versions": self.suite.versions(),
                "runtime": runtime.name if runtime is not None else None,
            }
        return self.cell(self._models[job["model"]])

    def _runtime_record(self) -> Registration | None:
        runtimes = [r for r in self.host.records("runtime") if FORMAT in r.facts().get("formats", ())]
        preferred = [r for r in runtimes if r.name == self.preferred_runtime]
        return (preferred or runtimes or [None])[0]

    def cell(self, model: GridModel) -> dict[str, Any]:
        started = time.perf_counter()
        cell = new_cell(self.record.name, model)
        try:
            self._fill(cell, model)
        except Exception as exc:  # a bug in the grid or a suite: the cell says so, the grid goes on
            log.debug("cell %s failed", model.name, exc_info=True)
            cell["error"] = cell["error"] or f"grid: {type(exc).__name__}: {first_line(exc)}"
        _overall(cell)
        cell["seconds"] = round(time.perf_counter() - started, 4)
        return cell

    def _fill(self, cell: dict[str, Any], model: GridModel) -> None:
        suite = self.suite
        folder = self.workdir / model.name
        folder.mkdir(parents=True, exist_ok=True)
        export = cell["export"]
        try:
            prepared = suite.build(model.name, self.seed)
            reference = [np.asarray(o) for o in suite.run(prepared, prepared.inputs)]
        except Exception as exc:
            export.update(
                status="error",
                error=f"the {suite.record.name} model does not build or run: {first_line(exc)}",
            )
            return

        path = folder / "model.onnx"
        started = time.perf_counter()
        try:
            facts = suite.export(prepared, path) or {}
        except Exception as exc:
            export.update(
                status="error", error=first_line(exc), seconds=round(time.perf_counter() - started, 4)
            )
            return
        export.update(
            status="ok", seconds=round(time.perf_counter() - started, 4), size_bytes=path.stat().st_size
        )
        export.update({k: v for k, v in facts.items() if isinstance(v, (str, int, float, bool)) or v is None})
        try:
            inspected = inspect_onnx(path)
        except Exception as exc:  # protobuf's DecodeError, a missing file
            export.update(status="error", error=f"the exported file does not load: {first_line(exc)}")
            return
        io = inspected.pop("io", None)
        export.update(inspected)
        if str(export["checker"]).startswith("error"):
            export.update(status="error", error=f"onnx.checker rejects the file: {export['checker'][7:]}")
            return

        onnx_inputs = suite.onnx_inputs(prepared)
        self._onnx_run(cell["onnx_run"], path, io, onnx_inputs, reference, folder)
        self._import(cell["import"], path, prepared, reference)

    def _onnx_run(
        self,
        stage: dict[str, Any],
        path: Path,
        io: Mapping[str, Any] | None,
        inputs: list[np.ndarray],
        reference: list[np.ndarray],
        folder: Path,
    ) -> None:
        record = self._runtime_record()
        if record is None:
            stage.update(status="skipped", error="no runtime for onnx is installed (pip install edgeai-onnx)")
            return
        stage["runtime"] = record.name
        runtime = None
        try:
            runtime = record.create(
                {}, where="runtime", context=Context(workdir=folder / "runtime", seed=self.seed)
            )
            runtime.load(
                Artifact(path, FORMAT, _io_spec(io, inputs, reference), producer=f"grid:{self.record.name}")
            )
            outputs = runtime.infer(inputs)
        except Exception as exc:
            stage.update(status="error", error=first_line(exc))
            return
        finally:
            if runtime is not None:
                try:
                    runtime.close()
                except Exception:  # closing must not hide the result
                    log.debug("closing the runtime failed", exc_info=True)
        result = compare(outputs, reference, self.rtol, self.atol)
        stage.update(status=result["status"], max_abs_diff=result["max_abs_diff"], detail=result["detail"])

    def _import(
        self, stage: dict[str, Any], path: Path, prepared: Prepared, reference: list[np.ndarray]
    ) -> None:
        try:
            imported = self.suite.import_onnx(path, prepared)
        except ImportUnsupported as exc:
            stage.update(status="unsupported", reason=first_line(exc))
            return
        except Exception as exc:
            stage.update(status="error", reason=first_line(exc))
            return
        try:
            outputs = self.suite.run_imported(imported, prepared, prepared.inputs)
        except Exception as exc:
            stage.update(status="error", reason=f"the imported model fails to run: {first_line(exc)}")
            return
        result = compare(outputs, reference, self.rtol, self.atol)
        stage.update(status=result["status"], max_abs_diff=result["max_abs_diff"], detail=result["detail"])


# -- the grid (in the parent process) -------------------------------------------------------------------


def grid_suites(host: Any) -> list[GridSuiteRecord]:
    """Every installed grid suite, sorted by name."""
    return list(host.extra_records(HOOK, GridSuiteRecord))


def select_suites(host: Any, wanted: Sequence[str] = ()) -> list[GridSuiteRecord]:
    """The suites named in ``wanted`` by suite, framework or converter name (all when empty)."""
    suites = grid_suites(host)
    if not suites:
        raise UsageError(
            "no grid suite is installed; install a framework plugin that provides one, e.g. "
            "pip install 'edgeai-torch[onnx]' edgeai-onnx"
        )
    if not wanted:
        return suites
    chosen: list[GridSuiteRecord] = []
    for name in wanted:
        # a suite's own name selects that suite; a framework or converter name selects all of its suites
        found = [s for s in suites if s.name == name] or [
            s for s in suites if name in (s.framework, s.converter)
        ]
        if not found:
            raise UnknownComponentError("grid suite", name, [s.name for s in suites], "--converters")
        chosen += [s for s in found if s not in chosen]
    return chosen


def list_suites(host: Any, suites: Sequence[GridSuiteRecord]) -> list[dict[str, Any]]:
    """Each suite with its models, or the error that kept its worker from listing them (the worker imports
    the suite's framework)."""
    modules = plugin_modules(host)
    listing = []
    for record in suites:
        setup = {"modules": modules, "suite": record.name, "params": {}, "workdir": ".", "seed": 0}
        with isolated(WORKER, setup, timeout_s=300.0) as worker:
            outcome = worker.run({"op": "models"})
        models = [m["name"] for m in outcome.result["models"]] if outcome.ok and outcome.result else []
        listing.append(
            {
                "suite": record.name,
                "framework": record.framework,
                "converter": record.converter,
                "provider": record.provider,
                "models": models,
                "error": outcome.error,
            }
        )
    return listing


def run_grid(
    host: Any,
    output: Path,
    *,
    suites: Sequence[str] = (),
    models: Sequence[str] = (),
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    timeout_s: float = 300.0,
    isolate: bool = True,
    rtol: float = RTOL,
    atol: float = ATOL,
    runtime: str = PREFERRED_RUNTIME,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the grid and write ``grid.json``, ``grid.md`` and ``grid.rst`` into ``output``; return the document.

    Exported files run in ``runtime`` where it is installed and loads ``onnx``, else in the first installed
    runtime that does.
    """
    progress = progress or NullProgress()
    output = Path(output)
    chosen = select_suites(host, suites)
    validated = reports.record_params(chosen, params, what="grid suite", scope="grid")
    started = time.perf_counter()
    document: dict[str, Any] = {
        **reports.provenance(SCHEMA),
        "seed": seed,
        "tolerance": {"rtol": rtol, "atol": atol},
        "suites": [],
        "cells": [],
        "unknown_models": [],
        "duration_s": None,
    }
    modules = plugin_modules(host)
    seen_models: set[str] = set()
    for record in chosen:
        entry = reports.record_entry(
            record,
            validated[record.name],
            {"framework": record.framework, "converter": record.converter},
            {"runtime": None, "models": 0, "available": []},
        )
        document["suites"].append(entry)
        setup = {"suite": record.name, "seed": seed, "rtol": rtol, "atol": atol, "runtime": runtime}
        progress.stage(f"grid suite {record.name}: starting the {record.framework} worker")
        with reports.record_worker(
            WORKER, output, entry, modules, setup, timeout_s=timeout_s, isolate=isolate
        ) as worker:
            listing = worker.run({"op": "models"})
            if not listing.ok or listing.result is None:
                reports.unavailable(entry, "error", listing.error, progress)
                continue
            entry["versions"] = listing.result["versions"]
            entry["runtime"] = listing.result["runtime"]
            listed = listing.result["models"]
            entry["available"] = [m["name"] for m in listed]
            seen_models.update(m["name"] for m in listed)
            if models:
                listed = [m for m in listed if m["name"] in models]
            entry["models"] = len(listed)
            progress.done(f"{len(listed)} models")
            for index, model in enumerate(listed):
                progress.update(index, len(listed), f"{record.name}: {model['name']}")
                outcome = worker.run({"op": "cell", "model": model["name"]})
                if outcome.ok and outcome.result is not None:
                    cell = outcome.result
                else:  # the worker crashed, hung or broke: the cell says so, a fresh worker goes on
                    cell = new_cell(record.name, model)
                    cell["error"] = f"worker: {outcome.error}"
                    cell["seconds"] = round(outcome.seconds, 4)
                    log.warning("grid %s/%s: %s", record.name, model["name"], outcome.error)
                document["cells"].append(cell)
            progress.update(len(listed), len(listed), record.name)
            progress.done(
                _suite_line(record.name, [c for c in document["cells"] if c["suite"] == record.name])
            )
    document["unknown_models"] = sorted(set(models) - seen_models)
    document["duration_s"] = round(time.perf_counter() - started, 3)
    write_grid(document, output)
    if models and not document["cells"] and document["unknown_models"]:
        raise UsageError(
            f"--models: no selected grid suite has {', '.join(document['unknown_models'])} "
            f"(`edgeai grid --list` shows the models)"
        )
    return document


def _suite_line(name: str, cells: list[dict[str, Any]]) -> str:
    counts = summarize(cells)
    return (
        f"{name}: {counts['exported']}/{counts['models']} exported, {counts['onnx_ok']} agree in the ONNX runtime, "
        f"{counts['imported']} imported back"
    )


def summarize(cells: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts for a suite's summary row."""
    return {
        "models": len(cells),
        "ok": sum(c["status"] == "ok" for c in cells),
        "exported": sum(c["export"]["status"] == "ok" for c in cells),
        "onnx_ok": sum(c["onnx_run"]["status"] == "ok" for c in cells),
        "imported": sum(c["import"]["status"] == "ok" for c in cells),
        "import_unsupported": sum(c["import"]["status"] == "unsupported" for c in cells),
    }


# -- rendering ------------------------------------------------------------------------------------------


def _export_text(cell: Mapping[str, Any]) -> str:
    export = cell["export"]
    if export["status"] == "ok":
        return "ok"
    if export["status"] == "error":
        return f"error: {export['error']}"
    return f"not run: {cell['error']}" if cell.get("error") else "not run"


def _run_text(stage: Mapping[str, Any], *, reason_key: str = "error") -> str:
    status = stage["status"]
    diff = stage.get("max_abs_diff")
    if status == "ok":
        return f"ok ({cell_text(diff)})" if diff is not None else "ok"
    if status == "mismatch":
        return f"mismatch ({stage.get('detail') or cell_text(diff)})"
    if status == "error":
        return f"error: {stage.get(reason_key)}"
    if status == "unsupported":
        return "unsupported"
    return "-"


def table_rows(cells: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of one suite's table."""
    header = [
        "model",
        "kind",
        "export",
        "ONNX runtime (max abs diff)",
        "import (max abs diff)",
        "opset",
        "ONNX ops",
    ]
    rows = []
    for cell in cells:
        run = _run_text(cell["onnx_run"])
        if cell["export"]["status"] == "ok" and cell["onnx_run"]["status"] == "skipped":
            run = f"not run: {cell['onnx_run'].get('error') or 'skipped'}"
        if cell["status"] == "error" and cell["error"] and cell["error"].startswith(("worker:", "grid:")):
            run = cell["error"]
        ops = cell["export"].get("ops")
        rows.append(
            [
                cell["model"],
                cell["category"],
                _export_text(cell),
                run,
                _run_text(cell["import"], reason_key="reason"),
                cell["export"].get("opset"),
                ", ".join(ops) if ops else None,
            ]
        )
    return header, rows


def _summary_rows(document: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    header = [
        "suite",
        "framework",
        "converter",
        "models",
        "exported",
        "ONNX runtime agrees",
        "imported",
        "seconds",
    ]
    rows = []
    for suite in document["suites"]:
        cells = [c for c in document["cells"] if c["suite"] == suite["name"]]
        if suite["status"] != "ok":
            rows.append(
                [
                    suite["name"],
                    suite["framework"],
                    suite["converter"],
                    f"unavailable: {suite['error']}",
                    None,
                    None,
                    None,
                    suite["duration_s"],
                ]
            )
            continue
        counts = summarize(cells)
        attempted = [c for c in cells if c["import"]["status"] != "skipped"]
        imported = (
            "unsupported"
            if attempted and all(c["import"]["status"] == "unsupported" for c in attempted)
            else f"{counts['imported']}/{counts['models']}"
        )
        rows.append(
            [
                suite["name"],
                suite["framework"],
                suite["converter"],
                counts["models"],
                f"{counts['exported']}/{counts['models']}",
                f"{counts['onnx_ok']}/{counts['models']}",
                imported,
                suite["duration_s"],
            ]
        )
    return header, rows


def _suite_title(suite: Mapping[str, Any]) -> str:
    params = ", ".join(f"{k} {v}" for k, v in suite["params"].items() if v is not None)
    return f"{suite['name']}: {suite['framework']} -> ONNX ({suite['converter']}{'; ' + params if params else ''})"


def _notes(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    reasons = sorted({c["import"]["reason"] for c in cells if c["import"]["status"] == "unsupported"})
    return [f"import unsupported: {r}" for r in reasons if r]


def _versions_text(suite: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(suite.get("versions", {}).items()))


def render_markdown(document: Mapping[str, Any]) -> str:
    tol = document["tolerance"]
    parts = [
        "# ONNX support grid\n",
        f"`edgeai grid`, {document['created']}, edgeai {document['edgeai_version']}, Python {document['python']} "
        f"({document['machine']}), seed {document['seed']}. A run agrees when |got - expected| <= "
        f"{tol['atol']:g} + {tol['rtol']:g} * |expected| elementwise. Took {document['duration_s']} s.\n",
        markdown_table(*_summary_rows(document)),
    ]
    for suite in document["suites"]:
        cells = [c for c in document["cells"] if c["suite"] == suite["name"]]
        if not cells:
            continue
        parts.append(f"## {_suite_title(suite)}\n")
        if suite.get("versions"):
            parts.append(
                f"Versions: {_versions_text(suite)}. ONNX runtime: {suite.get('runtime') or 'none'}.\n"
            )
        parts.append(markdown_table(*table_rows(cells)))
        parts += [f"- {note}\n" for note in _notes(cells)]
    return "\n".join(parts)


def render_rst(document: Mapping[str, Any]) -> str:
    tol = document["tolerance"]
    parts = [
        rst_heading("ONNX support grid"),
        f"``edgeai grid``, {document['created']}, edgeai {document['edgeai_version']}, Python "
        f"{document['python']} ({document['machine']}), seed {document['seed']}. A run agrees when "
        f"\\|got - expected\\| <= {tol['atol']:g} + {tol['rtol']:g} \\* \\|expected\\| elementwise.\n",
        rst_table(*_summary_rows(document), title="Summary"),
    ]
    for suite in document["suites"]:
        cells = [c for c in document["cells"] if c["suite"] == suite["name"]]
        if not cells:
            continue
        parts.append(rst_heading(_suite_title(suite), "-"))
        if suite.get("versions"):
            parts.append(f"Versions: {_versions_text(suite)}.\n")
        parts.append(rst_table(*table_rows(cells)))
        parts += [f"* {note}\n" for note in _notes(cells)]
    return "\n".join(parts)


def write_grid(document: Mapping[str, Any], output: Path) -> list[Path]:
    """Write ``grid.json``, ``grid.md`` and ``grid.rst``; return their paths."""
    return reports.write_documents(document, output, "grid", render_markdown, render_rst)
