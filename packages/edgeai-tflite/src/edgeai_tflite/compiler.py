"""The ``tflite`` compiler and the ``keras-to-tflite`` and ``onnx-to-tflite`` converters.

Every source becomes a TensorFlow SavedModel first, then goes through ``tf.lite.TFLiteConverter.from_saved_model``:

* ``keras``: the ``.keras`` file is loaded (``safe_mode``) and exported with one ``serving_default`` signature
  whose inputs and outputs carry the IO spec's names (``input`` -> ``logits``), so the ``.tflite`` keeps them;
* ``savedmodel``: used as is, or re-signed with a fixed batch when ``batch_size`` asks for one;
* ``onnx``: converted by onnx2tf (NCHW -> NHWC) when it is installed. It cannot be a declared dependency: it
  hard-pins protobuf 4.25.5, which breaks TensorFlow 2.21 (see the package README for the working install).

Modes: ``float32`` (plain), ``float16`` (half-precision weights), ``dynamic`` (int8 weights, activations quantized
at run time) and ``int8`` (full integer, activation ranges calibrated on the dataset's calibration subset, integer
operators only). The IO spec of the result is read back from the ``.tflite`` with the interpreter, so quantized
inputs and outputs carry the scale and zero point that runtimes and the wire protocol use.

Target ``edgetpu`` enforces integer-only operators and a static batch of 1, then runs the Edge TPU compiler when
``edgetpu_compiler`` is on PATH; otherwise it says where that step has to run.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Compiler,
    Converter,
    Dataset,
    DatasetError,
    EdgeaiError,
    IOSpec,
    MissingDependencyError,
    ParameterError,
    TensorSpec,
    allowed_difference,
    check_input_shape,
    order_inputs,
)
from edgeai_tflite import KERAS, ONNX, SAVEDMODEL, TFLITE
from edgeai_tflite._tf import keras, quiet, tf, versions
from edgeai_tflite._util import condense, shape_text
from edgeai_tflite.interpreters import load_backend
from edgeai_tflite.iospec import dequantize, io_spec, quantize, slots
from edgeai_tflite.models import keras_io_spec, load_keras, load_signature, signature_io_spec

log = logging.getLogger(__name__)

#: How to install onnx2tf next to TensorFlow 2.21 without breaking it (its own pins would): the text after
#: "pip install" in the error.
ONNX2TF_INSTALL = (
    "--no-deps onnx2tf 'tf-keras==2.21.0' && pip install onnx-graphsurgeon sne4onnx sng4onnx "
    "(never a plain `pip install onnx2tf`: its protobuf pin breaks TensorFlow)"
)
IO_DTYPES = {"float32": None, "int8": "int8", "uint8": "uint8"}
#: Samples compared between the source and the converted model when verifying.
VERIFY_SAMPLES = 8
EDGETPU_NOTE = (
    "the Edge TPU compiler (edgetpu_compiler, Debian/Ubuntu package edgetpu-compiler from Coral's apt repository, "
    "x86-64 only) is not on PATH: run `edgetpu_compiler {model}` where it is installed, then load the "
    "*_edgetpu.tflite with runtime.delegates = ['libedgetpu.so.1']"
)


@dataclass(frozen=True)
class Settings:
    """The compiler's parameters, checked against each other."""

    mode: str = "float32"
    inference_input_type: str = "float32"
    inference_output_type: str = "float32"
    target: str = "default"
    calibration_samples: int = 200
    batch_size: int | None = None
    signature: str = "serving_default"
    keep_nchw: bool = False
    edgetpu_compiler: str = "edgetpu_compiler"
    verify: bool = True
    tolerance: float = 1e-4

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Settings:
        fields = {f.name for f in dataclasses.fields(cls)}
        settings = cls(**{k: v for k, v in params.items() if k in fields})
        settings.check()
        if settings.target == "edgetpu" and settings.batch_size is None:
            settings = dataclasses.replace(settings, batch_size=1)
        return settings

    def check(self) -> None:
        if self.mode != "int8":
            for name in ("inference_input_type", "inference_output_type"):
                if getattr(self, name) != "float32":
                    raise ParameterError(
                        name,
                        f"{getattr(self, name)} needs mode int8 (full integer quantization); mode {self.mode} keeps "
                        "float32 inputs and outputs",
                    )
        if self.target == "edgetpu":
            if self.mode != "int8":
                raise ParameterError(
                    "mode", f"target edgetpu runs integer-only models: set mode int8 (got {self.mode})"
                )
            if self.batch_size not in (None, 1):
                raise ParameterError(
                    "batch_size", f"target edgetpu needs a static batch of 1, got {self.batch_size}"
                )

    @property
    def suffix(self) -> str:
        return {"float32": "float32", "float16": "fp16", "dynamic": "dynamic-int8", "int8": "int8"}[self.mode]


@dataclass
class Source:
    """A model ready for the TFLite converter: a SavedModel directory and how to compute reference outputs."""

    saved_model: Path
    signature: str
    io: IOSpec
    #: inputs in IO-spec order -> the source's outputs in IO-spec order; None where nothing can run the source
    reference: Callable[[list[np.ndarray]], list[np.ndarray]] | None
    layout: str | None


# -- sources -----------------------------------------------------------------------------------------


def _specs(io: IOSpec, batch: int | None) -> list[Any]:
    specs = []
    for spec in io.inputs:
        if any(d is None for d in spec.shape[1:]):
            raise ArtifactError(
                f"input '{spec.name}' has the dynamic shape {shape_text(spec.shape)}; TFLite needs every dimension "
                "but the batch fixed (re-export the model with a fixed input size)"
            )
        first = batch if batch is not None else spec.shape[0]
        specs.append(tf.TensorSpec((first, *spec.shape[1:]), tf.dtypes.as_dtype(spec.dtype), name=spec.name))
    return specs


def keras_source(artifact: Artifact, workdir: Path, batch: int | None) -> Source:
    """Export the Keras model with one signature named like its IO spec (``input`` -> ``logits``)."""
    model = load_keras(Path(artifact.path), safe_mode=bool(artifact.metadata.get("safe_mode", True)))
    io = artifact.io if len(artifact.io.inputs) == len(model.inputs) else keras_io_spec(model)
    output_names = [o.name for o in io.outputs]
    specs = _specs(io, batch)

    def serve(*args: Any) -> dict[str, Any]:
        outputs = model(list(args) if len(args) > 1 else args[0], training=False)
        if isinstance(outputs, dict):
            return {str(k): v for k, v in outputs.items()}
        flat = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(output_names, flat, strict=True))

    directory = workdir / "saved_model"
    if directory.exists():
        shutil.rmtree(directory)
    archive = keras.export.ExportArchive()
    archive.track(model)
    try:
        with quiet():
            archive.add_endpoint("serving_default", serve, input_signature=specs)
            archive.write_out(str(directory), verbose=False)
    except Exception as exc:
        raise EdgeaiError(f"cannot export {artifact.path} as a SavedModel: {condense(exc)}") from exc

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        outputs = serve(*[tf.constant(x) for x in inputs])
        return [np.asarray(outputs[name]) for name in output_names]

    first = io.inputs[0].layout if io.inputs else None
    return Source(directory, "serving_default", io, reference, first)


def savedmodel_source(artifact: Artifact, workdir: Path, settings: Settings) -> Source:
    """The SavedModel itself, or a copy re-signed with a fixed batch."""
    key = str(artifact.metadata.get("signature") or settings.signature)
    if settings.signature != "serving_default":
        key = settings.signature
    loaded, function = load_signature(Path(artifact.path), key)
    io = signature_io_spec(function, layout=artifact.io.inputs[0].layout if artifact.io.inputs else None)
    directory = Path(artifact.path)
    if settings.batch_size is not None:
        specs = _specs(io, settings.batch_size)
        names = [s.name for s in io.inputs]

        @tf.function(input_signature=specs)
        def fixed(*args: Any) -> Any:
            return function(**dict(zip(names, args, strict=True)))

        directory = workdir / "saved_model"
        if directory.exists():
            shutil.rmtree(directory)
        try:
            with quiet():
                tf.saved_model.save(loaded, str(directory), signatures={key: fixed.get_concrete_function()})
        except Exception as exc:
            raise EdgeaiError(
                f"cannot re-sign {artifact.path} with batch {settings.batch_size}: {condense(exc)}"
            ) from exc
        io = IOSpec(
            inputs=tuple(
                dataclasses.replace(s, shape=(settings.batch_size, *s.shape[1:])) for s in io.inputs
            ),
            outputs=io.outputs,
        )

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        outputs = function(**{s.name: tf.constant(x) for s, x in zip(io.inputs, inputs, strict=True)})
        return [np.asarray(outputs[o.name]) for o in io.outputs]

    return Source(directory, key, io, reference, io.inputs[0].layout if io.inputs else None)


def onnx_source(artifact: Artifact, workdir: Path, settings: Settings) -> Source:
    """onnx2tf's SavedModel of an ONNX model (NHWC inputs unless ``keep_nchw``)."""
    if importlib.util.find_spec("onnx2tf") is None:
        raise MissingDependencyError(f"{artifact.path.name} (onnx -> tflite)", "onnx2tf", ONNX2TF_INSTALL)
    onnx2tf = importlib.import_module("onnx2tf")  # untyped, and installed only by hand

    directory = workdir / "onnx2tf"
    if directory.exists():
        shutil.rmtree(directory)
    names = [s.name for s in artifact.io.inputs]
    kwargs: dict[str, Any] = {
        "input_onnx_file_path": str(artifact.path),
        "output_folder_path": str(directory),
        "output_signaturedefs": True,
        "non_verbose": True,
        "copy_onnx_input_output_names_to_tflite": True,
    }
    if settings.keep_nchw:
        kwargs["keep_ncw_or_nchw_or_ncdhw_input_names"] = names
    if settings.batch_size is not None:
        kwargs["batch_size"] = settings.batch_size
    # onnx2tf runs onnxsim as a subprocess: this environment's scripts must be on PATH
    env_path = os.environ.get("PATH", "")
    scripts = str(Path(sys.executable).parent)
    try:
        os.environ["PATH"] = scripts + os.pathsep + env_path
        with quiet():
            onnx2tf.convert(**kwargs)
    except Exception as exc:
        raise EdgeaiError(f"onnx2tf cannot convert {artifact.path}: {condense(exc)}") from exc
    finally:
        os.environ["PATH"] = env_path
    if not (directory / "saved_model.pb").is_file():
        raise EdgeaiError(f"onnx2tf wrote no SavedModel into {directory}; check its version (tested: 1.28+)")
    _loaded, function = load_signature(directory, "serving_default")
    layout = "NCHW" if settings.keep_nchw else "NHWC"
    io = signature_io_spec(function, layout=layout)
    return Source(directory, "serving_default", io, _onnx_reference(artifact, settings.keep_nchw), layout)


def onnx_names(io: IOSpec, onnx_io: IOSpec) -> IOSpec:
    """onnx2tf calls the outputs ``output_0``... and pins their batch to 1: take the ONNX model's names, and its
    dynamic batch where the ONNX output had one (the interpreter resizes outputs with the inputs)."""
    if len(io.outputs) != len(onnx_io.outputs):
        return io
    outputs = []
    for spec, original in zip(io.outputs, onnx_io.outputs, strict=True):
        shape = spec.shape
        if (
            shape
            and original.shape
            and original.shape[0] is None
            and io.inputs
            and io.inputs[0].shape[0] is None
        ):
            shape = (None, *shape[1:])
        outputs.append(dataclasses.replace(spec, name=original.name, shape=shape))
    return IOSpec(inputs=io.inputs, outputs=tuple(outputs))


def _onnx_reference(
    artifact: Artifact, keep_nchw: bool
) -> Callable[[list[np.ndarray]], list[np.ndarray]] | None:
    """ONNX Runtime's outputs for NHWC inputs (transposed back to the ONNX model's NCHW), when it is installed."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None

    def reference(inputs: list[np.ndarray]) -> list[np.ndarray]:
        import onnxruntime as ort

        session = ort.InferenceSession(str(artifact.path), providers=["CPUExecutionProvider"])
        feed = {}
        for arg, x in zip(session.get_inputs(), inputs, strict=True):
            feed[arg.name] = x if keep_nchw or x.ndim != 4 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return [np.asarray(y) for y in session.run(None, feed)]

    return reference


# -- the conversion ----------------------------------------------------------------------------------


def _calibration(dataset: Dataset | None, source: Source, settings: Settings) -> list[np.ndarray]:
    if dataset is None:
        raise DatasetError(
            "mode int8 calibrates activation ranges on a dataset; add a [dataset] table (or use mode dynamic)"
        )
    return _dataset_samples(dataset, source, settings.calibration_samples)


def _dataset_samples(dataset: Dataset, source: Source, count: int) -> list[np.ndarray]:
    """Up to ``count`` calibration samples of every model input, in IO-spec order, shape-checked."""
    given = dataset.calibration_samples(count)
    ordered = order_inputs(given, source.io, f"dataset {dataset.name}")
    arrays = []
    for spec, raw in zip(source.io.inputs, ordered, strict=True):
        dtype = np.float32 if spec.dtype.startswith("float") or spec.quantized else np.dtype(spec.dtype)
        samples = np.asarray(raw, dtype=dtype)
        if len(samples) == 0:
            raise DatasetError(f"dataset {dataset.name} gave no calibration samples")
        _check_shape(samples, source, dataset.name, spec)
        arrays.append(samples)
    return arrays


def _check_shape(samples: np.ndarray, source: Source, dataset: str, spec: TensorSpec | None = None) -> None:
    spec = spec or source.io.inputs[0]
    want, got = spec.shape[1:], samples.shape[1:]
    hint = ""
    if len(got) == 3 and len(want) == 3 and (got[1], got[2], got[0]) == tuple(want):
        hint = '; the samples are NCHW: set dataset.layout = "NHWC" (--dataset-layout NHWC)'
    note = f" ({spec.layout or 'layout unknown'}){hint}"
    check_input_shape(got, spec, dataset, note=note, error=DatasetError)


def _representative(samples: list[np.ndarray], names: list[str], batch: int, progress: Any) -> Any:
    """The converter's representative dataset: one list (a single input) or a dict by input name per batch."""

    def generate() -> Iterator[list[np.ndarray] | dict[str, np.ndarray]]:
        count = len(samples[0])
        total = count - count % batch if count >= batch else 0
        if total == 0:
            raise DatasetError(f"calibration needs at least {batch} samples (the model's fixed batch)")
        for start in range(0, total, batch):
            progress.update(start + batch, total, "calibration samples")
            parts = [a[start : start + batch] for a in samples]
            yield parts if len(parts) == 1 else dict(zip(names, parts, strict=True))

    return generate


def convert(source: Source, settings: Settings, samples: list[np.ndarray] | None, progress: Any) -> bytes:
    """Run the TFLite converter on ``source`` in ``settings.mode``."""
    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(source.saved_model), signature_keys=[source.signature]
    )
    lite = tf.lite
    if settings.mode == "float16":
        converter.optimizations = [lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif settings.mode == "dynamic":
        converter.optimizations = [lite.Optimize.DEFAULT]
    elif settings.mode == "int8":
        assert samples is not None
        converter.optimizations = [lite.Optimize.DEFAULT]
        names = [spec.name for spec in source.io.inputs]
        converter.representative_dataset = _representative(samples, names, settings.batch_size or 1, progress)
        converter.target_spec.supported_ops = [lite.OpsSet.TFLITE_BUILTINS_INT8]
        for name in ("inference_input_type", "inference_output_type"):
            dtype = IO_DTYPES[getattr(settings, name)]
            if dtype is not None:
                setattr(converter, name, getattr(tf, dtype))
    try:
        with quiet():
            return bytes(converter.convert())
    except (DatasetError, EdgeaiError):
        raise
    except Exception as exc:
        message = condense(exc)
        hint = ""
        if settings.mode == "int8":
            hint = "; an operator may have no integer kernel: try mode dynamic (not for target edgetpu)"
        raise EdgeaiError(f"TFLite conversion ({settings.mode}) failed: {message}{hint}") from exc


def _samples(
    source: Source, samples: list[np.ndarray] | None, batch: int | None, seed: int
) -> list[np.ndarray]:
    """Inputs for verification: calibration samples where there are some, else seeded values in [0, 1)."""
    count = max(batch or 1, VERIFY_SAMPLES // (batch or 1) * (batch or 1))
    if samples is not None and len(samples) == len(source.io.inputs) and len(samples[0]) >= count:
        return [a[:count] for a in samples]
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in source.io.inputs:
        shape = (count, *(d if isinstance(d, int) else 1 for d in spec.shape[1:]))
        arrays.append(
            rng.random(shape, dtype=np.float32)
            if spec.dtype.startswith("float")
            else np.zeros(shape, spec.dtype)
        )
    return arrays


def run_tflite(blob: bytes, inputs: list[np.ndarray], batch: int | None = None) -> list[np.ndarray]:
    """Outputs of a ``.tflite`` on float inputs (quantized and dequantized as the runtime does), in chunks of
    ``batch`` for a model with a fixed batch."""
    backend = load_backend("auto")
    total = len(inputs[0])
    step = batch or total
    with quiet("the TFLite interpreter"):  # XNNPACK, as the runtime uses it, announces itself on stderr
        interpreter = backend.interpreter_class(model_content=blob, num_threads=1)
        ins, outs = slots(interpreter)
        for s, x in zip(ins, inputs, strict=True):
            if (step, *x.shape[1:]) != s.shape:
                interpreter.resize_tensor_input(s.index, [step, *x.shape[1:]], strict=False)
        interpreter.allocate_tensors()
    chunks: list[list[np.ndarray]] = [[] for _ in outs]
    for start in range(0, total - total % step, step):
        for s, x in zip(ins, inputs, strict=True):
            chunk = x[start : start + step]
            interpreter.set_tensor(s.index, quantize(chunk, s) if s.quantized else chunk.astype(s.dtype))
        interpreter.invoke()
        for found, s in zip(chunks, outs, strict=True):
            value = interpreter.get_tensor(s.index)
            found.append(dequantize(value, s) if s.quantized else value)
    return [np.concatenate(found) for found in chunks]


def verify(
    source: Source, blob: bytes, settings: Settings, samples: list[np.ndarray] | None, seed: int
) -> dict[str, Any]:
    """Compare the ``.tflite`` with the source on a few inputs; a float32 model must agree within tolerance."""
    if not settings.verify:
        return {"verified": False}
    if source.reference is None:
        log.info("no reference to verify against (install onnxruntime to check ONNX sources)")
        return {"verified": False, "verify_skipped": "no reference runtime"}
    inputs = _samples(source, samples, settings.batch_size, seed)
    expected = source.reference(inputs)
    got = run_tflite(blob, inputs, settings.batch_size)
    if len(expected) != len(got):
        raise EdgeaiError(f"the TFLite model has {len(got)} outputs, the source {len(expected)}")
    diff = max(
        float(np.max(np.abs(np.asarray(e, np.float32) - g))) if np.size(g) else 0.0
        for e, g in zip(expected, got, strict=True)
    )
    result: dict[str, Any] = {
        "verified": True,
        "verify_max_abs_diff": diff,
        "verify_samples": len(inputs[0]),
    }
    first_e, first_g = np.asarray(expected[0]), got[0]
    if first_g.ndim == 2 and first_g.shape[1] > 1:
        result["verify_top1_agreement"] = float(np.mean(first_e.argmax(1) == first_g.argmax(1)))
    if settings.mode == "float32":
        result["verify_tolerance"] = settings.tolerance
        # the core's softmax-aware policy: probability outputs accept edgeai_core's PROBABILITY_ATOL at least
        for e, g in zip(expected, got, strict=True):
            allowed = allowed_difference(np.asarray(e), settings.tolerance)
            worst = float(np.max(np.abs(np.asarray(e, np.float32) - g))) if np.size(g) else 0.0
            if allowed != settings.tolerance:
                result["verify_probability_tolerance"] = allowed
            if worst > allowed:
                raise EdgeaiError(
                    f"the float32 TFLite model differs from its source by {worst:.3g} (tolerance {allowed:g}) "
                    "on seeded inputs; raise tolerance if that is expected, or report the model"
                )
    log.info("verified: max |tflite - source| = %.3g over %d samples", diff, len(inputs[0]))
    return result


def _interpreter(blob: bytes) -> Any:
    """An interpreter to inspect ``blob`` (built-in kernels only: no delegate is prepared for nothing)."""
    backend = load_backend("auto")
    return backend.interpreter_class(
        model_content=blob, experimental_op_resolver_type=backend.op_resolver(False)
    )


def op_counts(blob: bytes) -> dict[str, int]:
    """Operators of the model by name (``CONV_2D``: 2), as the interpreter lists them."""
    interpreter = _interpreter(blob)
    counts: dict[str, int] = {}
    try:
        details = interpreter._get_ops_details()
    except Exception:  # an interpreter without the listing: informative only
        return counts
    for op in details:
        name = str(op.get("op_name", "?"))
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def edgetpu_compile(model: Path, settings: Settings, workdir: Path) -> tuple[Path, dict[str, Any]]:
    """Run the Edge TPU compiler where it is installed; else keep the int8 model and say where to run it."""
    command = shutil.which(settings.edgetpu_compiler)
    if command is None:
        note = EDGETPU_NOTE.format(model=model.name)
        log.warning("target edgetpu: %s", note)
        return model, {"edgetpu_compiled": False, "edgetpu_note": note}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [command, "-s", "-o", str(workdir), str(model)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EdgeaiError(f"target edgetpu: running {command} failed: {condense(exc)}") from exc
    output = (done.stdout + done.stderr).strip()
    compiled = workdir / f"{model.stem}_edgetpu.tflite"
    if done.returncode != 0 or not compiled.is_file():
        raise EdgeaiError(
            f"target edgetpu: {command} exited with {done.returncode} and wrote no {compiled.name}: "
            f"{condense(output[-600:])}"
        )
    return compiled, {
        "edgetpu_compiled": True,
        "edgetpu_compiler": command,
        "edgetpu_compile_time_s": time.perf_counter() - started,
        "edgetpu_compiler_output": output[-2000:],
    }


#: Training facts of the source model kept in the compiled artifact's metadata.
#: ``task`` and ``postprocess`` say how a detector's or segmenter's outputs read (edgeai_core.tasks).
CARRIED_METADATA = ("architecture", "params", "test_accuracy", "dataset", "seed", "task", "postprocess")


def compile_tflite(
    component: Any, artifact: Artifact, dataset: Dataset | None, settings: Settings
) -> Artifact:
    """Convert ``artifact`` (keras, savedmodel or onnx) to ``.tflite`` in ``component.context.workdir``."""
    workdir = Path(component.context.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    progress = component.context.progress
    started = time.perf_counter()
    if artifact.format == KERAS:
        source = keras_source(artifact, workdir, settings.batch_size)
    elif artifact.format == SAVEDMODEL:
        source = savedmodel_source(artifact, workdir, settings)
    elif artifact.format == ONNX:
        source = onnx_source(artifact, workdir, settings)
    else:
        raise ArtifactError(
            f"{component.record.qualified_name} converts keras, savedmodel or onnx models, not {artifact.format}"
        )
    samples = _calibration(dataset, source, settings) if settings.mode == "int8" else None
    if samples is None and dataset is not None and settings.verify:
        try:  # verification inputs like the real ones
            samples = _dataset_samples(dataset, source, VERIFY_SAMPLES)
        except (DatasetError, EdgeaiError) as exc:
            log.info("verifying on seeded inputs instead of the dataset's: %s", exc)
            samples = None
    blob = convert(source, settings, samples, progress)
    convert_s = time.perf_counter() - started
    path = workdir / f"model-{settings.suffix}.tflite"
    path.write_bytes(blob)
    backend = load_backend("auto")
    try:
        io = io_spec(_interpreter(blob), layout=source.layout)
    except Exception as exc:
        raise ArtifactError(
            f"the converted model {path} does not load in {backend.name}: {condense(exc)}"
        ) from exc
    if artifact.format == ONNX:
        io = onnx_names(io, artifact.io)
    metadata: dict[str, Any] = {k: artifact.metadata[k] for k in CARRIED_METADATA if k in artifact.metadata}
    metadata.update(
        {
            "source_format": artifact.format,
            "mode": settings.mode,
            "inference_input_type": settings.inference_input_type,
            "inference_output_type": settings.inference_output_type,
            "target": settings.target,
            "batch_size": settings.batch_size,
            "supported_ops": "TFLITE_BUILTINS_INT8" if settings.mode == "int8" else "TFLITE_BUILTINS",
            "calibration_samples": len(samples[0])
            if settings.mode == "int8" and samples is not None
            else None,
            "convert_time_s": convert_s,
            "ops": op_counts(blob),
            "interpreter": f"{backend.name} {backend.version}",
        }
    )
    metadata.update(verify(source, blob, settings, samples, component.context.seed))
    if settings.target == "edgetpu":
        path, facts = edgetpu_compile(path, settings, workdir)
        metadata.update(facts)
    return component.save_artifact(path, TFLITE, io, metadata)


class TfliteCompiler(Compiler):
    """``tflite``: keras, savedmodel or onnx -> tflite in one of four modes, for the CPU or the Edge TPU."""

    def versions(self) -> dict[str, str]:
        return versions()

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        return compile_tflite(self, artifact, dataset, Settings.from_params(self.params))


class KerasToTflite(Converter):
    """``keras-to-tflite``: the compiler's float32 mode, for pipelines that only need a ``.tflite``."""

    def versions(self) -> dict[str, str]:
        return versions()

    def convert(self, artifact: Artifact) -> Artifact:
        settings = Settings(verify=self.params["verify"], tolerance=self.params["tolerance"])
        return compile_tflite(self, artifact, None, settings)


class OnnxToTflite(Converter):
    """``onnx-to-tflite``: float32 through onnx2tf (which must be installed as the README says)."""

    def versions(self) -> dict[str, str]:
        return versions()

    def convert(self, artifact: Artifact) -> Artifact:
        settings = Settings(
            keep_nchw=self.params["keep_nchw"],
            verify=self.params["verify"],
            tolerance=self.params["tolerance"],
        )
        return compile_tflite(self, artifact, None, settings)
