"""ONNX's own backend test data as a compatibility suite for every installed ONNX backend.

The ``onnx`` wheel ships the data its backend tests run on, under ``onnx/backend/test/data/``:

* ``light/``: nine ImageNet architectures (AlexNet, DenseNet-121, Inception v1 and v2, ResNet-50, ShuffleNet,
  SqueezeNet, VGG-19, ZFNet-512) at full size, whose weights ONNX's ``onnx.tools.replace_constants`` replaced
  by ``ConstantOfShape`` nodes (so each file is a few kB), with the expected output for one input. The input
  is what ONNX's runner makes: :meth:`onnx.backend.test.runner.Runner.generate_dummy_data` with
  ``random=False`` (``arange(n).reshape(shape) / n``), and the tolerances are ONNX's (``real/<test>/data.json``,
  read by :func:`onnx.backend.test.loader.load_model_tests` with kind ``real``);
* ``pytorch-converted/`` (82 layer tests), ``pytorch-operator/`` (35) and ``simple/`` (23): ``model.onnx`` plus
  ``test_data_set_*/input_*.pb`` and ``output_*.pb``, tolerance rtol 1e-3, atol 1e-7 unless a ``data.json``
  says otherwise.

Backends come from plugins (hook ``edgeai_register_onnx_backends``): each prepares (loads or compiles) a model
for the case's inputs through its own components and runs it. Each case ends as ``pass``, ``wrong``
(numerically: ONNX's :meth:`~onnx.backend.test.runner.Runner.assert_similar_outputs` rejects the outputs),
``compile-error`` (the backend cannot load or compile the model), ``run-error`` (it compiled, but inference
failed) or ``crashed`` (the worker died or hung; see :mod:`edgeai_compat.isolation`). Every backend runs in its
own worker process, so a segmentation fault inside a compiler costs one case, not the suite.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import logging
import os
import shutil
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_compat import reports
from edgeai_compat.isolation import first_line, host_from_modules, plugin_modules
from edgeai_compat.tables import finite, markdown_table, rst_heading, rst_table
from edgeai_core.api import (
    BackendSession,
    Context,
    MissingDependencyError,
    NullProgress,
    OnnxBackend,
    OnnxBackendRecord,
    Progress,
    UnknownComponentError,
    UsageError,
)

log = logging.getLogger(__name__)

SCHEMA = "edgeai-onnx-backend-tests/1"
HOOK = "edgeai_register_onnx_backends"
WORKER = "edgeai_compat.onnx_backends:BackendWorker"
#: The data folders, in report order; ``light`` is read through ONNX's ``real`` test kind.
KINDS = ("light", "pytorch-converted", "pytorch-operator", "simple")
STATUSES = ("pass", "wrong", "compile-error", "run-error", "crashed")
#: Said when no backend is installed.
INSTALL_HINT = "pip install edgeai-onnx (ONNX Runtime) or 'edgeai-tvm[compile]'"

#: The interfaces a plugin implements live in edgeai-core (:mod:`edgeai_core.api`); re-exported for callers.
__all__ = ["BackendSession", "OnnxBackend", "run_backend_tests", "select_backends"]


# -- ONNX's test data (in the worker) -------------------------------------------------------------------


def data_dir() -> Path:
    """``onnx/backend/test/data`` of the installed onnx package, found without importing onnx."""
    spec = importlib.util.find_spec("onnx")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("edgeai onnx-backend-tests", "onnx", "onnx")
    return Path(next(iter(spec.submodule_search_locations))) / "backend" / "test" / "data"


def load_cases(kinds: Sequence[str] = KINDS) -> list[dict[str, Any]]:
    """The test cases of ``kinds``, sorted by kind then name, via ONNX's own loader (tolerances included)."""
    from onnx.backend.test.loader import load_model_tests

    root = data_dir()
    cases = []
    for kind in kinds:
        loaded = load_model_tests(kind="real" if kind == "light" else kind)
        for case in sorted(loaded, key=lambda c: c.name):
            if case.url is not None:  # light: onnx/backend/test/data/light/light_<model>.onnx
                model = root / "light" / Path(case.url).name
            else:
                model = Path(str(case.model_dir)) / "model.onnx"
            cases.append(
                {
                    "name": case.name,
                    "kind": kind,
                    "model": str(model),
                    "model_name": case.model_name,
                    "rtol": float(case.rtol),
                    "atol": float(case.atol),
                }
            )
    return cases


def _load_value(path: Path, type_proto: Any) -> Any:
    """One ``input_N.pb``/``output_N.pb`` as numpy (tensors), a list (sequences) or an optional's value."""
    import onnx
    from onnx import numpy_helper

    data = path.read_bytes()
    if type_proto.HasField("sequence_type"):
        sequence = onnx.SequenceProto()
        sequence.ParseFromString(data)
        return numpy_helper.to_list(sequence)
    if type_proto.HasField("optional_type"):
        optional = onnx.OptionalProto()
        optional.ParseFromString(data)
        return numpy_helper.to_optional(optional)
    tensor = onnx.TensorProto()
    tensor.ParseFromString(data)
    return numpy_helper.to_array(tensor)


def load_data(case: Mapping[str, Any]) -> list[tuple[list[Any], list[Any]]]:
    """``[(inputs, expected outputs), ...]`` of a case, one pair per test data set."""
    import onnx

    model_path = Path(case["model"])
    model = onnx.load(str(model_path), load_external_data=False)
    if case["kind"] == "light":
        from onnx import numpy_helper
        from onnx.backend.test.runner import Runner

        initializers = {t.name for t in model.graph.initializer}
        inputs = [
            Runner.generate_dummy_data(value, seed=0, name=case["model_name"], random=False)
            for value in model.graph.input
            if value.name not in initializers
        ]
        prefix = model_path.with_suffix("")
        outputs = []
        for index in range(len(model.graph.output)):
            tensor = onnx.load_tensor(str(prefix) + f"_output_{index}.pb")
            outputs.append(numpy_helper.to_array(tensor))
        return [(inputs, outputs)]
    sets = []
    for folder in sorted(glob.glob(os.path.join(model_path.parent, "test_data_set*"))):
        count_in = len(glob.glob(os.path.join(folder, "input_*.pb")))
        count_out = len(glob.glob(os.path.join(folder, "output_*.pb")))
        inputs = [
            _load_value(Path(folder) / f"input_{i}.pb", model.graph.input[i].type) for i in range(count_in)
        ]
        outputs = [
            _load_value(Path(folder) / f"output_{i}.pb", model.graph.output[i].type) for i in range(count_out)
        ]
        sets.append((inputs, outputs))
    return sets


def max_abs_diff(got: Sequence[Any], expected: Sequence[Any]) -> float | None:
    """The largest absolute difference over outputs of matching shapes (None where nothing compares)."""
    worst: float | None = None
    for g, e in zip(got, expected, strict=False):
        try:
            g_arr, e_arr = np.asarray(g), np.asarray(e)
            if g_arr.shape != e_arr.shape or e_arr.size == 0 or e_arr.dtype == object:
                continue
            diff = np.abs(g_arr.astype(np.float64) - e_arr.astype(np.float64))
            value = float(np.nanmax(diff)) if not np.isnan(diff).all() else float("nan")
        except (TypeError, ValueError):
            continue
        worst = value if worst is None else max(worst, value)
    return finite(worst)


class BackendWorker:
    """Runs one backend's cases in the worker process (see :mod:`edgeai_compat.isolation`).

    ``setup``: ``modules`` (plugin modules), ``backend`` (record name), ``params``, ``workdir``. Jobs:
    ``{"op": "cases", "kinds": [...]}``, ``{"op": "backend"}`` (build it; versions), ``{"op": "case", "case": {...}}``
    and ``{"op": "bench", "case": {...}, "warmup": N, "repeat": N}``.
    """

    def __init__(self, setup: Mapping[str, Any]) -> None:
        self.setup = dict(setup)
        self.host = host_from_modules(self.setup["modules"])
        self.workdir = Path(self.setup["workdir"])
        self.backend: OnnxBackend | None = None

    def _backend(self) -> OnnxBackend:
        if self.backend is None:
            records = {r.name: r for r in self.host.extra_records(HOOK, OnnxBackendRecord)}
            record = records[self.setup["backend"]]
            self.backend = record.create(
                self.setup.get("params") or {},
                where=f"onnx backend {record.name}",
                context=Context(workdir=self.workdir, seed=0),
            )
        return self.backend

    def run(self, job: Mapping[str, Any]) -> dict[str, Any]:
        op = job["op"]
        if op == "cases":
            return {"cases": load_cases(job.get("kinds") or KINDS)}
        if op == "backend":
            return {"versions": self._backend().versions()}
        if op == "bench":
            return self.bench(job["case"], int(job.get("warmup", 1)), int(job.get("repeat", 3)))
        return self.case(job["case"])

    def _prepare(self, case: Mapping[str, Any], inputs: Sequence[Any]) -> BackendSession:
        backend = self._backend()
        backend.context = Context(workdir=self.workdir / case["kind"] / case["name"], seed=0)
        Path(backend.context.workdir).mkdir(parents=True, exist_ok=True)
        return backend.prepare(Path(case["model"]), inputs)

    def case(self, case: Mapping[str, Any]) -> dict[str, Any]:
        from onnx.backend.test.runner import Runner

        result: dict[str, Any] = {
            "case": case["name"],
            "kind": case["kind"],
            "status": "compile-error",
            "error": None,
            "max_abs_diff": None,
            "prepare_s": None,
            "run_s": None,
        }
        try:
            data = load_data(case)
        except Exception as exc:
            result.update(status="compile-error", error=f"the test data does not load: {first_line(exc)}")
            return result
        try:
            return self._case(case, data, result, Runner)
        finally:
            if not self.setup.get("keep_work"):  # compiled libraries of the light models weigh up to 0.5 GB
                shutil.rmtree(self.workdir / case["kind"] / case["name"], ignore_errors=True)

    def _case(
        self,
        case: Mapping[str, Any],
        data: list[tuple[list[Any], list[Any]]],
        result: dict[str, Any],
        runner: Any,
    ) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            session = self._prepare(case, data[0][0])
        except Exception as exc:
            result.update(status="compile-error", error=first_line(exc))
            return result
        finally:
            result["prepare_s"] = round(time.perf_counter() - started, 4)
        try:
            started = time.perf_counter()
            for inputs, expected in data:
                try:
                    got = list(session.run(inputs))
                except Exception as exc:
                    result.update(status="run-error", error=first_line(exc))
                    return result
                result["max_abs_diff"] = max_abs_diff(got, expected)
                try:
                    runner.assert_similar_outputs(expected, got, rtol=case["rtol"], atol=case["atol"])
                except (AssertionError, TypeError, ValueError) as exc:
                    result.update(status="wrong", error=_assertion_line(exc))
                    return result
            result.update(status="pass")
            result["run_s"] = round(time.perf_counter() - started, 4)
        finally:
            session.close()
        return result

    def bench(self, case: Mapping[str, Any], warmup: int, repeat: int) -> dict[str, Any]:
        """Median latency of one inference (``bind``'s callable, ``perf_counter_ns``) after ``warmup`` calls."""
        inputs = load_data(case)[0][0]
        started = time.perf_counter()
        session = self._prepare(case, inputs)
        prepare_s = time.perf_counter() - started
        try:
            call = session.bind(inputs)
            for _ in range(warmup):
                call()
            samples = []
            for _ in range(repeat):
                began = time.perf_counter_ns()
                call()
                samples.append(time.perf_counter_ns() - began)
        finally:
            session.close()
            if not self.setup.get("keep_work"):
                shutil.rmtree(self.workdir / case["kind"] / case["name"], ignore_errors=True)
        return {
            "case": case["name"],
            "prepare_s": round(prepare_s, 3),
            "samples_ns": samples,
            "median_ms": statistics.median(samples) / 1e6,
        }


def _assertion_line(exc: BaseException) -> str:
    """numpy's assertion messages start with an empty line; keep the verdict and the worst difference."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    keep = [
        line
        for line in lines
        if line.startswith(("Not equal", "Mismatched", "Max absolute", "Output", "Items"))
    ]
    text = "; ".join(keep[:3]) or (lines[0] if lines else type(exc).__name__)
    return text[:240]


# -- the suite (in the parent process) ------------------------------------------------------------------


def onnx_backends(host: Any) -> list[OnnxBackendRecord]:
    return list(host.extra_records(HOOK, OnnxBackendRecord))


def select_backends(host: Any, wanted: Sequence[str] = ()) -> list[OnnxBackendRecord]:
    backends = onnx_backends(host)
    if not backends:
        raise UsageError(f"no ONNX backend is installed; {INSTALL_HINT}")
    if not wanted:
        return backends
    by_name = {b.name: b for b in backends}
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise UnknownComponentError("ONNX backend", missing[0], by_name, "--backends")
    return [by_name[n] for n in wanted]


def run_backend_tests(
    host: Any,
    output: Path,
    *,
    backends: Sequence[str] = (),
    kinds: Sequence[str] = KINDS,
    cases: Sequence[str] = (),
    params: Mapping[str, Mapping[str, Any]] | None = None,
    timeout_s: float = 600.0,
    isolate: bool = True,
    keep_work: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the cases on every selected backend; write ``onnx-backend-tests.{json,md,rst}``; return the document."""
    progress = progress or NullProgress()
    output = Path(output)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(f"--kinds: unknown kind '{unknown[0]}' (known: {', '.join(KINDS)})")
    data_dir()  # a missing onnx package fails here, with the install line
    chosen = select_backends(host, backends)
    validated = reports.record_params(chosen, params, what="backend", scope="backend")
    started = time.perf_counter()
    document: dict[str, Any] = {
        **reports.provenance(SCHEMA, edgeai_version=False),
        "onnx_version": _onnx_version(),
        "kinds": list(kinds),
        "backends": [],
        "results": [],
        "duration_s": None,
    }
    modules = plugin_modules(host)
    listed: list[dict[str, Any]] | None = None
    for record in chosen:
        entry = reports.record_entry(record, validated[record.name], {"uses": list(record.uses)}, {})
        document["backends"].append(entry)
        setup = {"backend": record.name, "keep_work": keep_work}
        progress.stage(f"ONNX backend {record.name}: starting its worker")
        with reports.record_worker(
            WORKER, output, entry, modules, setup, timeout_s=timeout_s, isolate=isolate
        ) as worker:
            if listed is None:
                got = worker.run({"op": "cases", "kinds": list(kinds)})
                if not got.ok or got.result is None:
                    raise UsageError(f"the ONNX backend test data does not load: {got.error}")
                listed = [c for c in got.result["cases"] if not cases or c["name"] in cases]
                if not listed:
                    raise UsageError(f"--cases: no test case is named {', '.join(cases)}")
            built = worker.run({"op": "backend"})
            if not built.ok or built.result is None:
                reports.unavailable(entry, "unavailable", built.error, progress)
                continue
            entry["versions"] = built.result["versions"]
            progress.done()
            for index, case in enumerate(listed):
                progress.update(index, len(listed), f"{record.name}: {case['name']}")
                outcome = worker.run({"op": "case", "case": case})
                if outcome.ok and outcome.result is not None:
                    result = outcome.result
                else:
                    result = {
                        "case": case["name"],
                        "kind": case["kind"],
                        "status": "crashed",
                        "error": outcome.error,
                        "max_abs_diff": None,
                        "prepare_s": None,
                        "run_s": round(outcome.seconds, 4),
                    }
                    log.warning("onnx backend %s, %s: %s", record.name, case["name"], outcome.error)
                result.update(backend=record.name, rtol=case["rtol"], atol=case["atol"])
                document["results"].append(result)
            progress.update(len(listed), len(listed), record.name)
            counts = summarize(document["results"], record.name)
            progress.done(f"{counts['pass']}/{counts['total']} pass")
    document["duration_s"] = round(time.perf_counter() - started, 3)
    document["summary"] = {
        b["name"]: {"all": summarize(document["results"], b["name"])}
        | {kind: summarize(document["results"], b["name"], kind) for kind in kinds}
        for b in document["backends"]
        if b["status"] == "ok"
    }
    write_report(document, output)
    return document


def _onnx_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("onnx")
    except Exception:
        return None


def summarize(results: Sequence[Mapping[str, Any]], backend: str, kind: str | None = None) -> dict[str, Any]:
    """Counts per status and the pass rate of one backend (optionally one data kind)."""
    mine = [r for r in results if r["backend"] == backend and (kind is None or r["kind"] == kind)]
    counts: dict[str, Any] = {status: sum(r["status"] == status for r in mine) for status in STATUSES}
    counts["total"] = len(mine)
    counts["pass_rate"] = round(counts["pass"] / len(mine), 4) if mine else None
    return counts


# -- rendering ------------------------------------------------------------------------------------------


def _summary_table(document: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    header = [
        "backend",
        "data",
        "pass",
        "wrong",
        "failed to compile",
        "failed to run",
        "crashed",
        "total",
        "pass rate",
    ]
    rows: list[list[Any]] = []
    for backend in document["backends"]:
        if backend["status"] != "ok":
            rows.append([backend["name"], "all", f"unavailable: {backend['error']}", *[None] * 6])
            continue
        summary = document["summary"][backend["name"]]
        for kind in ["all", *document["kinds"]]:
            counts = summary[kind]
            rate = f"{100 * counts['pass_rate']:.1f}%" if counts["pass_rate"] is not None else None
            rows.append(
                [
                    backend["name"],
                    kind,
                    counts["pass"],
                    counts["wrong"],
                    counts["compile-error"],
                    counts["run-error"],
                    counts["crashed"],
                    counts["total"],
                    rate,
                ]
            )
    return header, rows


def _result_text(result: Mapping[str, Any] | None) -> str:
    if result is None:
        return "-"
    status = result["status"]
    if status == "pass":
        return "pass"
    label = {"wrong": "wrong", "compile-error": "compile", "run-error": "run", "crashed": "crashed"}[status]
    return f"{label}: {result['error']}"


def _case_table(document: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    backends = [b["name"] for b in document["backends"] if b["status"] == "ok"]
    by_key = {(r["backend"], r["kind"], r["case"]): r for r in document["results"]}
    seen: list[tuple[str, str]] = []
    for r in document["results"]:
        if (r["kind"], r["case"]) not in seen:
            seen.append((r["kind"], r["case"]))
    rows = [
        [case, kind, *[_result_text(by_key.get((b, kind, case))) for b in backends]] for kind, case in seen
    ]
    return ["case", "data", *backends], rows


def render_markdown(document: Mapping[str, Any]) -> str:
    versions = "; ".join(
        f"{b['name']}: " + ", ".join(f"{k} {v}" for k, v in sorted(b["versions"].items()))
        for b in document["backends"]
        if b["versions"]
    )
    return "\n".join(
        [
            "# ONNX backend test data, per edgeai backend\n",
            f"`edgeai onnx-backend-tests`, {document['created']}, onnx {document['onnx_version']} test data, Python "
            f"{document['python']} ({document['machine']}). Took {document['duration_s']} s. {versions}.\n",
            markdown_table(*_summary_table(document)),
            "## Cases\n",
            markdown_table(*_case_table(document)),
        ]
    )


def render_rst(document: Mapping[str, Any]) -> str:
    return "\n".join(
        [
            rst_heading("ONNX backend test data, per edgeai backend"),
            f"``edgeai onnx-backend-tests``, {document['created']}, onnx {document['onnx_version']} test data.\n",
            rst_table(*_summary_table(document), title="Pass rates"),
            rst_table(*_case_table(document), title="Cases"),
        ]
    )


def write_report(document: Mapping[str, Any], output: Path) -> list[Path]:
    """Write ``onnx-backend-tests.json``, ``.md`` and ``.rst``; return their paths."""
    return reports.write_documents(document, output, "onnx-backend-tests", render_markdown, render_rst)


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data
