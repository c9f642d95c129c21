"""The ``tvm`` compiler: an ``onnx`` artifact (float or QDQ int8) becomes an exported TVM library.

Road: ONNX -> Relax (``tvm.relax.frontend.onnx.from_onnx``, with the IO spec's input shapes and the batch fixed
or symbolic) -> graph passes (fold constants, fuse operators; skipped at opt level 0) -> optional MetaSchedule
tuning and the schedules of a tuning database (:mod:`edgeai_tvm.tuning`) -> ``tvm.compile`` under the pass
context's opt level -> ``export_library`` linked by the host's g++ or a cross g++ -> ``model.so`` (it links
libc only) plus the sidecar with the IO spec and everything needed to reproduce it in the metadata.

The graph passes are those of TVM's own ``static_shape_tuning`` pipeline, with or without tuning, so tuned and
untuned libraries differ by their schedules only.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Compiler,
    Dataset,
    EdgeaiError,
    IOSpec,
    MissingDependencyError,
    ParameterError,
    TensorSpec,
    jsonable,
)
from edgeai_tvm._util import RECORDS, WORKLOADS, condense, has_database, shape_text
from edgeai_tvm.targets import (
    elf_arch,
    find_linker,
    host_arch,
    host_linker_available,
    resolve_target,
    target_arch,
)

if "tvm" in sys.modules and getattr(getattr(sys.modules["tvm"], "base", None), "_RUNTIME_ONLY", False):
    raise EdgeaiError(
        "compiler tvm: this process already loaded TVM's runtime library alone (the tvm runtime ran first), "
        "so the compiler is unavailable here; compile in a separate `edgeai run`, then load the library"
    )

# after the guard: a runtime-only TVM cannot import tvm.relax
import onnx
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

log = logging.getLogger(__name__)
#: ONNX nodes recorded in the artifact for per-layer profiles (larger graphs keep the first ones)
MAX_PROFILE_NODES = 20_000

SOURCE_FORMAT = "onnx"
FORMAT = "tvm"
LIBRARY = "model.so"
#: ONNX Runtime's QOperator and integer operators: TVM's frontend reads QDQ models instead.
QOPERATOR_OPS = frozenset(
    {
        "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
        "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSoftmax", "QGemm",
        "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "QAttention",
    }
)  # fmt: skip


def parse_batch(value: str | int) -> int | None:
    """``batch`` as an int, or None for ``dynamic``; ParameterError for anything else."""
    text = str(value).strip().lower()
    if text == "dynamic":
        return None
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise ParameterError("tvm.batch", f"must be an integer >= 1 or 'dynamic', got {value!r}")


class TvmCompiler(Compiler):
    """ONNX -> Relax -> library for a TVM target (see the module docstring for the road)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch = parse_batch(self.params["batch"])  # fail when built, before any TVM work

    def versions(self) -> dict[str, str]:
        found = {"tvm": str(tvm.__version__), "onnx": onnx.__version__}
        wanted = ["apache-tvm-ffi"] + (["xgboost-cpu", "xgboost"] if self.params["tuning_trials"] else [])
        for dist in wanted:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                found[dist] = importlib.metadata.version(dist)
        return found

    # -- the road ------------------------------------------------------------------------------------

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        p = self.params
        if artifact.format != SOURCE_FORMAT:
            raise ArtifactError(
                f"compiler tvm takes {SOURCE_FORMAT} models, not {artifact.format} ({artifact.path})"
            )
        target_dict = resolve_target(p["target"], p["target_options"])
        if target_dict.get("kind", "llvm") == "llvm":
            target_dict.setdefault("opt-level", int(p["opt_level"]))
        arch = target_arch(target_dict)
        cross = arch != host_arch()
        tuning_dir = Path(p["tuning_dir"]) if p["tuning_dir"] is not None else None
        self._check_tuning(cross, arch, tuning_dir)
        if p["tuning_trials"] and "num-cores" not in target_dict:
            from tvm.s_tir.meta_schedule.utils import cpu_count

            target_dict["num-cores"] = cpu_count(logical=False)
        # the linker before any work: a missing cross toolchain is the likeliest failure and costs nothing to find
        linker, toolchain = find_linker(arch, p["cross_compiler"])
        if linker is None and not host_linker_available():
            raise EdgeaiError(
                "compiler tvm: linking the library needs a C++ compiler and none is on PATH: apt-get install g++ "
                "(or set cross_compiler)"
            )
        try:
            target = tvm.target.Target(target_dict)
        except Exception as exc:  # TVM's ValueError/TypeError for unknown keys or values
            raise ParameterError(
                "tvm.target_options", f"TVM rejects target {target_dict}: {condense(exc)}"
            ) from None

        timings: dict[str, float] = {}
        started = time.perf_counter()
        model = self._load(artifact.path)
        inputs, outputs = self._graph_io(model, artifact.io)
        shape_dict, dtype_dict = self._shapes(inputs)
        try:
            mod = from_onnx(model, shape_dict=shape_dict, dtype_dict=dtype_dict)
        except Exception as exc:  # the frontend raises whatever its converters raise
            raise ArtifactError(
                f"TVM {tvm.__version__}'s ONNX frontend cannot import {artifact.path.name}: {condense(exc)}"
            ) from None
        io_spec = self._io_spec(mod, inputs, outputs)
        timings["import_s"] = time.perf_counter() - started

        workdir = Path(self.context.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        opt_level = int(p["opt_level"])
        tuning: dict[str, Any] | None = None
        with tvm.transform.PassContext(opt_level=opt_level):
            if opt_level >= 1:
                started = time.perf_counter()
                mod = self._graph_passes(mod, target)
                timings["graph_passes_s"] = time.perf_counter() - started
            tuning = self._tune(
                mod, target, tuning_dir, workdir, int(target_dict.get("num-cores") or 0) or None
            )
            if tuning is not None:
                mod = self._apply_database(mod, target, Path(tuning["database"]))
            started = time.perf_counter()
            try:
                executable = tvm.compile(mod, target=target)
            except Exception as exc:
                raise EdgeaiError(
                    f"TVM {tvm.__version__} failed to compile for {target_dict}: {condense(exc)}"
                ) from None
            timings["build_s"] = time.perf_counter() - started

        started = time.perf_counter()
        output = workdir / LIBRARY
        self._export(executable, output, linker)
        timings["export_s"] = time.perf_counter() - started
        built = elf_arch(output)
        if built != arch:
            raise ArtifactError(f"{output} was linked for {built}, but target {target_dict} is {arch}")

        metadata: dict[str, Any] = {
            **{k: v for k, v in artifact.metadata.items() if k not in ("target", "tuning")},
            "target": jsonable(target_dict),
            "target_preset": p["target"],
            "triple": target_dict.get("mtriple") or _host_triple(),
            "arch": arch,
            "cross_compiled": cross,
            "linker": linker or _host_linker(),
            "linker_package": toolchain.package if toolchain else None,
            "opt_level": opt_level,
            "batch": "dynamic" if self.batch is None else self.batch,
            "tuning": tuning,
            "quantized_qdq": _qdq_nodes(model),
            "entry": "main",
            "tvm": str(tvm.__version__),
            "source": artifact.path.name,
            # the ONNX graph's nodes in order, for the runtime's per-layer profile (edgeai_tvm.profile)
            "onnx_nodes": [[n.name, n.op_type] for n in model.graph.node][:MAX_PROFILE_NODES],
            "size_before": artifact.size_bytes,
            "size_after": output.stat().st_size,
            **{k: round(v, 4) for k, v in timings.items()},
        }
        log.info(
            "tvm: %s -> %s for %s (opt level %d, batch %s, %s)",
            artifact.path.name,
            output.name,
            metadata["triple"],
            opt_level,
            metadata["batch"],
            "untuned"
            if tuning is None
            else f"{tuning['tasks'] - tuning['tasks_untuned']} of {tuning['tasks']} ops tuned",
        )
        return self.save_artifact(output, FORMAT, io_spec, metadata)

    # -- checks ----------------------------------------------------------------------------------------

    def _check_tuning(self, cross: bool, arch: str, tuning_dir: Path | None) -> None:
        trials = int(self.params["tuning_trials"])
        if trials and cross:
            raise ParameterError(
                "tvm.tuning_trials",
                f"tuning measures candidates on this {host_arch()} machine and cannot tune for {arch}; set it to "
                "0 (a tuning_dir recorded on the device can still be applied)",
            )
        if trials and self.batch is None:
            raise ParameterError("tvm.tuning_trials", "tuning needs a static batch; set batch to an integer")
        for module in ("xgboost", "cloudpickle") if trials else ():
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError("compiler:tvm (tuning_trials > 0)", module, "edgeai-tvm[tune]")
        if tuning_dir is not None and not trials and not has_database(tuning_dir):
            raise ParameterError(
                "tvm.tuning_dir",
                f"{tuning_dir} holds no MetaSchedule database ({WORKLOADS}, {RECORDS}); set tuning_trials > 0 "
                "to create one there",
            )

    def _load(self, path: Path) -> onnx.ModelProto:
        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf's DecodeError, OSError
            raise ArtifactError(f"{path} is not a readable ONNX model: {condense(exc)}") from None
        _load_external_data(model, path)
        ops = {node.op_type for node in model.graph.node}
        qoperator = sorted(ops & QOPERATOR_OPS)
        if qoperator:
            raise ArtifactError(
                f"{path.name} uses ONNX Runtime's QOperator/integer ops ({', '.join(qoperator)}), which TVM's "
                'frontend does not read; quantize with onnx-quantize mode = "static" and quant_format = "qdq"'
            )
        try:
            from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

            unknown = sorted(op for op in ops if op not in _get_convert_map())
        except ImportError:  # the frontend's private table moved: let from_onnx name the operator
            unknown = []
        if unknown:
            raise ArtifactError(
                f"{path.name} uses operators TVM {tvm.__version__}'s ONNX frontend does not support: "
                f"{', '.join(unknown)}"
            )
        return model

    def _graph_io(self, model: onnx.ModelProto, io: IOSpec) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """The IO spec's tensors in graph order; the graph's outputs pruned to those the IO spec names."""
        graph = model.graph
        initializers = {t.name for t in graph.initializer}
        graph_inputs = [v.name for v in graph.input if v.name not in initializers]
        by_name = {t.name: t for t in io.inputs}
        unfed = [name for name in graph_inputs if name not in by_name]
        unknown = [t.name for t in io.inputs if t.name not in graph_inputs]
        if unfed or unknown:
            raise ArtifactError(
                f"the IO spec's inputs ({', '.join(by_name) or 'none'}) do not match the graph's "
                f"({', '.join(graph_inputs) or 'none'}); the sidecar does not belong to this model"
            )
        graph_outputs = {v.name: v for v in graph.output}
        missing = [t.name for t in io.outputs if t.name not in graph_outputs]
        if missing:
            raise ArtifactError(f"the IO spec names outputs the graph lacks: {', '.join(missing)}")
        if [v.name for v in graph.output] != [t.name for t in io.outputs]:
            kept = [graph_outputs[t.name] for t in io.outputs]
            del graph.output[:]
            graph.output.extend(kept)
        return [by_name[name] for name in graph_inputs], list(io.outputs)

    def _shapes(self, inputs: Sequence[TensorSpec]) -> tuple[dict[str, list[Any]], dict[str, str]]:
        batch_var = tvm.tirx.Var("batch", "int64") if self.batch is None else None
        shapes: dict[str, list[Any]] = {}
        for spec in inputs:
            dims: list[Any] = []
            for i, dim in enumerate(spec.shape):
                if i == 0:
                    if isinstance(dim, int) and dim >= 0 and dim != self.batch:
                        wanted = (
                            f"batch = {dim}" if self.batch is not None else f"batch = {dim} (a static batch)"
                        )
                        raise ParameterError(
                            "tvm.batch",
                            f"input '{spec.name}' has a fixed batch of {dim} in the model; set {wanted}",
                        )
                    dims.append(batch_var if self.batch is None else self.batch)
                elif isinstance(dim, int) and dim >= 0:
                    dims.append(dim)
                else:
                    raise ArtifactError(
                        f"input '{spec.name}' has a dynamic dimension {i} in {shape_text(spec.shape)}; TVM needs it "
                        "fixed: give the model's input shape (onnx-file input_shape)"
                    )
            shapes[spec.name] = dims
        return shapes, {spec.name: spec.dtype for spec in inputs}

    def _io_spec(self, mod: Any, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> IOSpec:
        batch: int | None = self.batch
        new_inputs = tuple(
            TensorSpec(
                t.name,
                (batch, *t.shape[1:]) if t.shape else t.shape,
                t.dtype,
                t.scale,
                t.zero_point,
                t.layout,
            )
            for t in inputs
        )
        ret = mod["main"].ret_ty
        fields = list(ret.fields) if hasattr(ret, "fields") else [ret]
        if len(fields) != len(outputs):
            raise ArtifactError(
                f"TVM's module returns {len(fields)} tensor(s) but the IO spec lists {len(outputs)} output(s)"
            )
        new_outputs = []
        for spec, field in zip(outputs, fields, strict=True):
            shape = _static_shape(field)
            dtype = str(getattr(field, "dtype", spec.dtype))
            new_outputs.append(
                TensorSpec(
                    spec.name,
                    shape if shape is not None else spec.shape,
                    dtype if dtype in _DTYPES else spec.dtype,
                    spec.scale,
                    spec.zero_point,
                    spec.layout,
                )
            )
        return IOSpec(new_inputs, tuple(new_outputs))

    # -- passes, tuning, export ------------------------------------------------------------------------

    @staticmethod
    def _graph_passes(mod: Any, target: Any) -> Any:
        """Inference decompositions, then legalize, fold constants and fuse (TVM's zero pipeline)."""
        with target:
            return tvm.transform.Sequential(
                [
                    relax.transform.DecomposeOpsForInference(),
                    relax.transform.CanonicalizeBindings(),
                    relax.transform.LegalizeOps(),
                    relax.transform.AnnotateTIROpPattern(),
                    relax.transform.FoldConstant(),
                    relax.transform.FuseOps(),
                    relax.transform.FuseTIR(),
                ]
            )(mod)

    def _tune(
        self, mod: Any, target: Any, tuning_dir: Path | None, workdir: Path, threads: int | None
    ) -> dict[str, Any] | None:
        trials = int(self.params["tuning_trials"])
        if not trials and tuning_dir is None:
            return None
        from edgeai_tvm import tuning

        folder = tuning_dir if tuning_dir is not None else workdir / "tuning"
        try:
            report = tuning.tune(
                mod,
                target,
                folder,
                trials,
                seed=self.context.seed,
                threads=threads,
                progress=self.context.progress,
            )
        except EdgeaiError:
            raise
        except Exception as exc:  # MetaSchedule's own failures
            raise EdgeaiError(f"compiler tvm: MetaSchedule tuning failed: {condense(exc)}") from exc
        return report.to_json()

    @staticmethod
    def _apply_database(mod: Any, target: Any, folder: Path) -> Any:
        from edgeai_tvm import tuning

        if not has_database(folder):
            return mod
        return tuning.apply_database(mod, target, folder)

    @staticmethod
    def _export(executable: Any, output: Path, linker: str | None) -> None:
        """Link the library next to ``output`` and move it into place (no half-written model.so)."""
        fd, tmp = tempfile.mkstemp(prefix=".model-", suffix=".so", dir=output.parent)
        os.close(fd)
        try:
            if linker is None:
                executable.export_library(tmp)
            else:
                from tvm.support import cc

                executable.export_library(tmp, fcompile=cc.cross_compiler(linker))
            # mkstemp made it 0600; a library is meant to be copied to devices and loaded by other users
            os.chmod(tmp, 0o755)
            os.replace(tmp, output)
        except Exception as exc:
            Path(tmp).unlink(missing_ok=True)
            raise EdgeaiError(
                f"compiler tvm: linking {output.name} with {linker or 'the host compiler'} failed: {condense(exc)}"
            ) from None


_DTYPES = frozenset(
    ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint64", "uint32",
     "uint16", "uint8", "bool")
)  # fmt: skip


def _static_shape(field: Any) -> tuple[int | None, ...] | None:
    """A Relax tensor type's shape: ints, None for symbolic dimensions; None when the shape is unknown."""
    shape = getattr(field, "shape", None)
    values = getattr(shape, "values", None)
    if values is None:
        return None
    dims: list[int | None] = []
    for dim in values:
        value = getattr(dim, "value", None)
        dims.append(int(value) if isinstance(value, int) else None)
    return tuple(dims)


def _qdq_nodes(model: onnx.ModelProto) -> int:
    return sum(1 for node in model.graph.node if node.op_type in ("QuantizeLinear", "DequantizeLinear"))


def _host_linker() -> str:
    """The compiler TVM's default export links with (``$CXX``, else the first of g++, gcc, clang++...)."""
    from tvm.support import cc

    return str(cc.get_cc() or "unknown")


def _host_triple() -> str:
    try:
        return str(tvm.target.codegen.llvm_get_system_triple())
    except Exception:  # an LLVM-less TVM build
        return f"{host_arch()}-linux-gnu"


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read the tensors ``model`` keeps in external data files next to ``path`` (one error naming a missing one)."""
    from onnx.external_data_helper import _get_all_tensors, load_external_data_for_model, uses_external_data

    locations = {
        entry.value
        for tensor in _get_all_tensors(model)
        if uses_external_data(tensor)
        for entry in tensor.external_data
        if entry.key == "location"
    }
    for location in sorted(locations):
        if not (path.parent / location).is_file():
            raise ArtifactError(
                f"{path} needs its external data file {path.parent / location}, which is missing"
            )
    if locations:
        try:
            load_external_data_for_model(model, str(path.parent))
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{path}: its external data cannot be read: {condense(exc)}") from None
