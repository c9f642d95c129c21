"""The ``onnx-quantize`` compiler: ONNX Runtime post-training quantization of an ``onnx`` artifact.

Modes:

* ``static``: int8 weights and activations. Activation ranges come from feeding the dataset's calibration
  subset through the model one sample at a time. The default QDQ format (QuantizeLinear/DequantizeLinear
  pairs around float operators) keeps float inputs and outputs, runs fused on ONNX Runtime and is the
  quantized form TVM's ONNX frontend reads.
* ``dynamic``: int8 weights; activations are quantized at run time (no calibration).
* ``float16``: half-precision weights and arithmetic with float32 inputs and outputs kept.

Needs ``onnx`` besides ``onnxruntime``: ``pip install edgeai-onnx[compile]``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime import quantization as ortq

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Compiler,
    Dataset,
    DatasetError,
    EdgeaiError,
    IOSpec,
    MissingDependencyError,
    ParameterError,
    check_input_shape,
    order_inputs,
)
from edgeai_onnx._util import condense
from edgeai_onnx.checks import check_external_data, io_spec_from_model, validate_onnx

log = logging.getLogger(__name__)

FORMAT = "onnx"
QUANT_TYPES = {"int8": ortq.QuantType.QInt8, "uint8": ortq.QuantType.QUInt8}
QUANT_FORMATS = {"qdq": ortq.QuantFormat.QDQ, "qoperator": ortq.QuantFormat.QOperator}
CALIBRATION_METHODS = {
    "minmax": ortq.CalibrationMethod.MinMax,
    "entropy": ortq.CalibrationMethod.Entropy,
    "percentile": ortq.CalibrationMethod.Percentile,
}
SUFFIX = {"static": "int8", "dynamic": "dynamic-int8", "float16": "fp16"}
_PROTOBUF_LIMIT = 2**31 - 1  # bytes: larger models keep their tensors in external data


class _CalibrationReader(ortq.CalibrationDataReader):
    """Feeds calibration samples to ONNX Runtime's calibrator one batch (of the model's batch size) at a time,
    every model input by name."""

    def __init__(self, arrays: dict[str, np.ndarray], batch: int, progress: Any) -> None:
        self.arrays, self.batch, self.progress = arrays, batch, progress
        self.samples = next(iter(arrays.values()))  # the sample count is len(self.samples)
        self._batches = self._iterate()

    def _iterate(self) -> Iterator[dict[str, np.ndarray]]:
        total = len(self.samples)
        for start in range(0, total - self.batch + 1, self.batch):
            self.progress.update(start + self.batch, total, "calibration samples")
            yield {k: np.ascontiguousarray(a[start : start + self.batch]) for k, a in self.arrays.items()}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)

    def rewind(self) -> None:
        self._batches = self._iterate()


def _has_sympy() -> bool:
    return importlib.util.find_spec("sympy") is not None


def _drop_initializer_value_info(model: onnx.ModelProto) -> onnx.ModelProto:
    """Remove ``value_info`` entries that describe initializers.

    The torch dynamo exporter records them; the quantizer transposes Gemm weights in place and ONNX shape
    inference then rejects the stale shape ("Inferred shape and existing shape differ").
    """
    initializers = {init.name for init in model.graph.initializer}
    keep = [v for v in model.graph.value_info if v.name not in initializers]
    if len(keep) != len(model.graph.value_info):
        del model.graph.value_info[:]
        model.graph.value_info.extend(keep)
    return model


def _save(model: onnx.ModelProto, path: Path) -> None:
    """Write ``model`` as one file, or with its tensors in ``<name>.data`` when it is over protobuf's 2 GB."""
    try:
        if model.ByteSize() >= _PROTOBUF_LIMIT:
            onnx.save_model(model, str(path), save_as_external_data=True, location=f"{path.name}.data")
        else:
            onnx.save(model, str(path))
    except ValueError as exc:  # protobuf's 2 GB limit
        raise ArtifactError(f"cannot write {path.name}: {condense(exc)}") from None


def place_onnx(output: Path, target: Path) -> list[str]:
    """Move a model the quantizer wrote at ``output`` to ``target``; return its companion file names.

    A single-file output is renamed. One with external data (the quantizer writes it for models over 2 GB)
    is rewritten with its tensors in one ``<target>.data`` file, since the locations inside the graph name
    the files the quantizer chose.
    """
    graph = onnx.load(str(output), load_external_data=False)
    if not check_external_data(output, graph):
        os.replace(output, target)
        return []
    location = f"{target.name}.data"
    model = onnx.load(str(output))
    try:
        onnx.save_model(
            model, str(target), save_as_external_data=True, location=location, size_threshold=1024
        )
    except ValueError as exc:
        raise ArtifactError(f"cannot write {target.name}: {condense(exc)}") from None
    return [location] if (target.parent / location).is_file() else []


class OnnxQuantize(Compiler):
    """Quantizes (or halves) an ONNX model with ONNX Runtime's tools; the IO spec stays float."""

    def versions(self) -> dict[str, str]:
        return {"onnxruntime": ort.__version__, "onnx": onnx.__version__}

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        p = self.params
        mode = p["mode"]
        if artifact.format != FORMAT:
            raise ArtifactError(
                f"compiler onnx-quantize takes {FORMAT} models, not {artifact.format} ({artifact.path})"
            )
        if mode == "static" and dataset is None:
            raise DatasetError(
                "compiler onnx-quantize: mode static calibrates activation ranges on a dataset, and none was "
                "given; add a [dataset] table to the config, or set the step's mode to dynamic or float16"
            )
        model = _drop_initializer_value_info(validate_onnx(artifact.path))
        workdir = Path(self.context.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        target = workdir / f"{artifact.path.stem}-{SUFFIX[mode]}.onnx"
        timings: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix=".onnx-quantize-", dir=workdir) as tmp_name:
            tmp = Path(tmp_name)
            source = tmp / "source.onnx"
            _save(model, source)
            preprocess_note = None
            symbolic = False
            if p["preprocess"]:
                started = time.perf_counter()
                symbolic = bool(_unshaped_tensors(model))
                if symbolic and not _has_sympy():
                    log.info(
                        "sympy is not installed: quantization pre-processing skips symbolic shape inference"
                    )
                    symbolic = False
                preprocess_note = self._preprocess(source, tmp / "preprocessed.onnx", symbolic)
                timings["preprocess_s"] = time.perf_counter() - started
                if preprocess_note is None:
                    source = tmp / "preprocessed.onnx"
            started = time.perf_counter()
            output = tmp / "output.onnx"
            details = self._run(mode, model, source, output, dataset)
            timings["quantize_s"] = time.perf_counter() - started
            if p.get("exclude_nodes") and mode != "float16":
                _mark_kept_float(output, p["exclude_nodes"])
            files = place_onnx(output, target)
        quantized = validate_onnx(target)
        io_spec = self._io(artifact.io, io_spec_from_model(quantized))
        counts = _op_counts(quantized)
        # dynamic mode quantizes activations to uint8 at run time; float16 keeps them in half precision
        activations = {"static": p["activation_type"], "dynamic": "uint8", "float16": "float16"}[mode]
        metadata: dict[str, Any] = {
            **artifact.metadata,
            "mode": mode,
            "per_channel": p["per_channel"] if mode != "float16" else None,
            "calibration_method": p["calibration_method"] if mode == "static" else None,
            "calibration_samples": details.get("calibration_samples"),
            "activation_type": activations,
            "weight_type": p["weight_type"] if mode != "float16" else "float16",
            "quant_format": p["quant_format"] if mode == "static" else None,
            "preprocess": bool(p["preprocess"]) and preprocess_note is None,
            "size_before": artifact.size_bytes,
            "size_after": sum((target.parent / f).stat().st_size for f in (target.name, *files)),
            **{k: round(v, 4) for k, v in timings.items()},
            "quantize_nodes": counts.get("QuantizeLinear", 0) + counts.get("DynamicQuantizeLinear", 0),
            "dequantize_nodes": counts.get("DequantizeLinear", 0),
        }
        if p.get("exclude_nodes"):
            metadata["exclude_nodes"] = list(p["exclude_nodes"])
        if metadata["preprocess"]:
            metadata["symbolic_shape_inference"] = symbolic
        if preprocess_note:
            metadata["preprocess_error"] = preprocess_note
        log.info(
            "onnx-quantize %s: %s -> %s (%d -> %d bytes)",
            mode,
            artifact.path.name,
            target.name,
            metadata["size_before"],
            metadata["size_after"],
        )
        return self.save_artifact(target, FORMAT, io_spec, metadata, files=files)

    def _preprocess(self, source: Path, output: Path, symbolic: bool) -> str | None:
        """ONNX Runtime's quantization pre-processing; returns why it failed (the step then goes on without).

        Its symbolic shape inference is asked for only when ONNX shape inference left tensors without a
        shape (dynamic-shaped models): it needs sympy, which onnxruntime does not depend on, and its first
        import in a process costs seconds (onnxruntime.tools also imports torch when torch is installed),
        while the pre-processing itself takes milliseconds on a small CNN.
        """
        from onnxruntime.quantization.shape_inference import quant_pre_process

        try:
            with _quiet():
                quant_pre_process(str(source), str(output), skip_symbolic_shape=not symbolic)
        except Exception as exc:  # pre-processing is an optimization: quantize the model as it is
            note = f"{type(exc).__name__}: {condense(exc, 200)}" if str(exc) else type(exc).__name__
            log.warning("onnx-quantize: pre-processing failed (%s); quantizing without it", note)
            return note
        return None

    def _run(
        self, mode: str, model: onnx.ModelProto, source: Path, output: Path, dataset: Dataset | None
    ) -> dict[str, Any]:
        p = self.params
        large = model.ByteSize() >= _PROTOBUF_LIMIT  # the quantizer then writes external data
        excluded = excluded_nodes(p.get("exclude_nodes"), model, source, mode)
        try:
            if mode == "static":
                assert dataset is not None
                reader = self._reader(model, dataset)
                with _quiet():
                    ortq.quantize_static(
                        str(source),
                        str(output),
                        reader,
                        quant_format=QUANT_FORMATS[p["quant_format"]],
                        per_channel=p["per_channel"],
                        activation_type=QUANT_TYPES[p["activation_type"]],
                        weight_type=QUANT_TYPES[p["weight_type"]],
                        calibrate_method=CALIBRATION_METHODS[p["calibration_method"]],
                        use_external_data_format=large,
                        nodes_to_exclude=excluded,
                    )
                return {"calibration_samples": len(reader.samples)}
            if mode == "dynamic":
                with _quiet():
                    ortq.quantize_dynamic(
                        str(source),
                        str(output),
                        per_channel=p["per_channel"],
                        weight_type=QUANT_TYPES[p["weight_type"]],
                        use_external_data_format=large,
                        nodes_to_exclude=excluded,
                    )
                return {}
            self._float16(source, output)
            return {}
        except EdgeaiError:
            raise
        except Exception as exc:  # the quantizer's own failures: one line naming the mode and the reason
            raise EdgeaiError(f"compiler onnx-quantize ({mode}) failed: {condense(exc)}") from exc

    def _reader(self, model: onnx.ModelProto, dataset: Dataset) -> _CalibrationReader:
        io = io_spec_from_model(model)
        given = dataset.calibration_samples(self.params["calibration_samples"])
        ordered = order_inputs(given, io, f"compiler onnx-quantize: dataset {dataset.name}")
        arrays: dict[str, np.ndarray] = {}
        first = io.inputs[0].shape[0] if io.inputs and io.inputs[0].shape else None
        batch = first if isinstance(first, int) and first > 0 else 1
        for spec, raw in zip(io.inputs, ordered, strict=True):
            samples = np.asarray(raw)
            if len(samples) == 0:
                raise DatasetError(f"dataset {dataset.name} gave no calibration samples")
            check_input_shape(
                samples.shape[1:],
                spec,
                dataset.name,
                what="calibration samples",
                note=" per sample",
                error=DatasetError,
            )
            if (
                len(samples) < batch
            ):  # a static batch larger than the subset: repeat samples to fill one batch
                samples = np.resize(samples, (batch, *samples.shape[1:]))
            arrays[spec.name] = samples[: len(samples) - len(samples) % batch].astype(spec.dtype, copy=False)
        return _CalibrationReader(arrays, batch, self.context.progress)

    def _float16(self, source: Path, output: Path) -> None:
        try:
            from onnxruntime.transformers.float16 import convert_float_to_float16
        except ImportError as exc:
            raise MissingDependencyError(
                "compiler:onnx-quantize (mode float16)",
                "onnxruntime.transformers.float16",
                "onnxruntime>=1.18 (a full build; minimal builds lack the transformers tools)",
            ) from exc
        with _quiet():
            half = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
        # the converter appends the Cast nodes of kept float32 IO at the end, which the checker refuses
        _save(_topological_sort(half), output)

    @staticmethod
    def _io(before: IOSpec, after: IOSpec) -> IOSpec:
        """The input artifact's IO spec (names, layout, any overrides) when the graph still matches it."""
        same = [(t.name, t.dtype) for t in before.inputs] == [(t.name, t.dtype) for t in after.inputs] and [
            (t.name, t.dtype) for t in before.outputs
        ] == [(t.name, t.dtype) for t in after.outputs]
        if same:
            return before
        names = {t.name for t in after.inputs} | {t.name for t in after.outputs}
        if all(t.name in names for t in (*before.inputs, *before.outputs)):
            log.warning("onnx-quantize changed the model's IO types; the IO spec follows the new graph")
            return after
        raise ArtifactError(
            "onnx-quantize produced a model whose inputs/outputs no longer match the IO spec "
            f"({[t.name for t in before.inputs]} -> {[t.name for t in after.inputs]})"
        )


def _mark_kept_float(path: Path, names: list[str]) -> None:
    """Record the excluded nodes in the model's metadata: the onnxruntime runtime then keeps them float."""
    from edgeai_onnx.runtime import KEEP_FLOAT_KEY

    model = onnx.load(str(path), load_external_data=False)
    if check_external_data(path, model):
        return  # rewriting a model with external data here would detach its tensors
    entry = (
        next((p for p in model.metadata_props if p.key == KEEP_FLOAT_KEY), None) or model.metadata_props.add()
    )
    entry.key, entry.value = KEEP_FLOAT_KEY, ",".join(names)
    onnx.save(model, str(path))


def excluded_nodes(names: list[str] | None, model: onnx.ModelProto, source: Path, mode: str) -> list[str]:
    """``exclude_nodes`` checked against the graph being quantized: every name must be a node of the model
    (pre-processing keeps node names; one it renamed is looked up in the model as given)."""
    if not names:
        return []
    if mode == "float16":
        raise ParameterError("exclude_nodes", "applies to modes static and dynamic, not float16")
    given = {node.name for node in model.graph.node}
    quantized = {node.name for node in onnx.load(str(source), load_external_data=False).graph.node}
    missing = [name for name in names if name not in given and name not in quantized]
    if missing:
        known = sorted(n for n in given if n)
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        raise ParameterError(
            "exclude_nodes",
            f"no node named {', '.join(repr(n) for n in missing)} in the model (nodes: {shown})",
        )
    renamed = [name for name in names if name not in quantized]
    if renamed:
        log.warning(
            "onnx-quantize: pre-processing renamed node(s) %s; they may be quantized after all "
            "(set preprocess = false to keep the names)",
            ", ".join(renamed),
        )
    return list(names)


def _topological_sort(model: onnx.ModelProto) -> onnx.ModelProto:
    """Reorder the main graph's nodes so every node comes after the producers of its inputs (stable)."""
    graph = model.graph
    available = {v.name for v in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:  # a cycle or outer-scope names: keep the rest in their order for the checker to judge
            ordered.extend(pending)
            break
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
        for node in ready:
            ordered.append(node)
            available.update(node.output)
    if [id(n) for n in ordered] != [id(n) for n in graph.node]:
        nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
        del graph.node[:]
        graph.node.extend(nodes)
    return model


def _unshaped_tensors(model: onnx.ModelProto) -> list[str]:
    """Node outputs that ONNX shape inference (already run by validate_onnx) left without a shape."""
    graph = model.graph
    shaped = {
        v.name
        for v in (*graph.input, *graph.value_info, *graph.output)
        if v.type.HasField("tensor_type") and v.type.tensor_type.HasField("shape")
    }
    return [name for node in graph.node for name in node.output if name and name not in shaped]


def _op_counts(model: onnx.ModelProto) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


class _DropAdvice(logging.Filter):
    """Drops ONNX Runtime's "Please consider to run pre-processing" advice: ``preprocess`` is a parameter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Capture what ONNX Runtime's tools print (calibration chatter) so ``--json`` output stays clean."""
    captured = io.StringIO()
    root, advice = logging.getLogger(), _DropAdvice()
    root.addFilter(advice)  # the quantizer logs through the root logger
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        root.removeFilter(advice)
    if captured.getvalue().strip():
        log.debug("onnxruntime said: %s", captured.getvalue().strip())
