"""The ``onnxruntime`` runtime: runs ``.onnx`` artifacts in an ONNX Runtime inference session.

This module needs only ``onnxruntime`` (the base install of edgeai-onnx, what a target device gets); it never
imports the ``onnx`` package at module level. With ``onnx`` installed, a model ONNX Runtime refuses is also run
through the ONNX checker so the error says what is wrong with the file.

Timing: :meth:`OnnxRuntime.bind` converts, checks and (for integer-input models) quantizes the inputs up front
and returns ``functools.partial(session.run, output_names, feed)``, so the benchmark times exactly one
``InferenceSession.run`` call, the same call a hand-written ONNX Runtime loop would make.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    IOSpec,
    LayerCapture,
    ModelProfile,
    Runtime,
    RuntimeFailure,
    TensorSpec,
    dequantize,
    quantize,
)
from edgeai_onnx._util import ORT_DTYPES, condense, shape_text

log = logging.getLogger(__name__)

FORMAT = "onnx"
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
GRAPH_OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
EXECUTION_MODE = {
    "sequential": ort.ExecutionMode.ORT_SEQUENTIAL,
    "parallel": ort.ExecutionMode.ORT_PARALLEL,
}
# ONNX Runtime error codes that mean "the file is not a loadable model" rather than "this runtime cannot run it"
_FILE_ERRORS = ("INVALID_PROTOBUF", "NO_SUCHFILE", "No graph was found")


@dataclass(frozen=True)
class _Tensor:
    """One session input or output as the runtime checks and converts it."""

    name: str
    dtype: np.dtype[Any]
    shape: tuple[int | str | None, ...]
    spec: TensorSpec

    @property
    def quantized(self) -> bool:
        """Integer tensor with scale/zero point in the IO spec: floats are (de)quantized at the boundary."""
        return self.spec.scale is not None and self.dtype.kind in "iu"


def session_options(params: dict[str, Any]) -> ort.SessionOptions:
    """The :class:`onnxruntime.SessionOptions` for the runtime's parameters."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(params["threads"])
    options.inter_op_num_threads = int(params["inter_op_threads"])
    options.graph_optimization_level = GRAPH_OPTIMIZATION[params["graph_optimization"]]
    options.execution_mode = EXECUTION_MODE[params["execution_mode"]]
    # ONNX Runtime's own warnings (unused initializers, ...) go to stderr, past edgeai's logging
    options.log_severity_level = 2 if log.isEnabledFor(logging.DEBUG) else 3
    return options


def check_providers(requested: Sequence[str] | None) -> list[str]:
    """The providers to use, or :class:`RuntimeFailure` naming those this onnxruntime build offers."""
    providers = list(requested) if requested else list(DEFAULT_PROVIDERS)
    available = ort.get_available_providers()
    missing = [p for p in providers if p not in available]
    if missing:
        raise RuntimeFailure(
            f"runtime.providers: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not available in "
            f"this onnxruntime {ort.__version__} build; available: {', '.join(available)} "
            "(GPU and NPU providers come with their own onnxruntime package, e.g. onnxruntime-gpu)"
        )
    return providers


#: model metadata key onnx-quantize sets when ``exclude_nodes`` kept nodes in float
KEEP_FLOAT_KEY = "edgeai.exclude_nodes"


def kept_float_optimizers(session: ort.InferenceSession) -> list[str]:
    """Optimizers to disable for a QDQ model whose ``exclude_nodes`` must stay float: ONNX Runtime's
    WeightBiasQuantization otherwise re-quantizes a float Conv/MatMul weight that sits between a
    DequantizeLinear input and a QuantizeLinear output when the session is created."""
    try:
        metadata = session.get_modelmeta().custom_metadata_map
    except Exception:  # a provider without model metadata
        return []
    return ["WeightBiasQuantization"] if metadata.get(KEEP_FLOAT_KEY) else []


class OnnxRuntime(Runtime):
    """ONNX Runtime session over an ``onnx`` artifact; inputs and outputs follow the artifact's IO spec."""

    #: ``InferenceSession.run`` may be called from several threads at once (ONNX Runtime documents it)
    thread_safe = True
    session: ort.InferenceSession | None = None
    options: ort.SessionOptions | None = None
    _artifact: Artifact | None = None
    _inputs: tuple[_Tensor, ...] = ()
    _outputs: tuple[_Tensor, ...] = ()
    _output_names: list[str]
    disabled_optimizers: list[str] = []  # noqa: RUF012 (replaced, never mutated)

    def versions(self) -> dict[str, str]:
        found = {"onnxruntime": ort.__version__}
        # the version only: importing onnx would cost a target device time and memory for nothing
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found["onnx"] = importlib.metadata.version("onnx")
        return found

    # -- loading -------------------------------------------------------------------------------------

    def load(self, artifact: Artifact) -> None:
        path = artifact.file_for("onnxruntime", FORMAT)
        providers = check_providers(self.params.get("providers"))
        options = session_options(self.params)
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
            self.disabled_optimizers = kept_float_optimizers(session)
            if self.disabled_optimizers:  # nodes onnx-quantize kept in float stay float (see the function)
                session = ort.InferenceSession(
                    str(path),
                    sess_options=options,
                    providers=providers,
                    disabled_optimizers=self.disabled_optimizers,
                )
        except Exception as exc:  # ONNX Runtime raises its own exception types, none shared with ours
            raise self._load_error(path, exc) from None
        self.session, self.options, self._artifact = session, options, artifact
        self._inputs = self._match(artifact.io.inputs, session.get_inputs(), "input", path)
        self._outputs = self._match(artifact.io.outputs, session.get_outputs(), "output", path)
        self._output_names = [t.name for t in self._outputs]
        log.info(
            "loaded %s in onnxruntime %s (providers %s, %d intra-op threads, optimization %s)",
            path.name,
            ort.__version__,
            ",".join(session.get_providers()),
            options.intra_op_num_threads,
            self.params["graph_optimization"],
        )

    def _load_error(self, path: Path, exc: Exception) -> Exception:
        """The clearest one-line error for a model ONNX Runtime would not load."""
        message = condense(exc)
        try:
            from edgeai_onnx.checks import validate_onnx
        except ImportError:  # a target without the onnx package: ONNX Runtime's message must do
            if any(code in str(exc) for code in _FILE_ERRORS):
                return ArtifactError(f"{path} is not a valid ONNX model: {message}")
        else:
            try:
                validate_onnx(path)
            except ArtifactError as invalid:  # names the checker's reason for a broken file
                return invalid
        return RuntimeFailure(f"onnxruntime {ort.__version__} cannot load {path}: {message}")

    def _match(
        self, specs: Sequence[TensorSpec], args: Sequence[Any], kind: str, path: Path
    ) -> tuple[_Tensor, ...]:
        """Pair the IO spec's tensors with the session's by name, keeping the IO spec's order."""
        by_name = {arg.name: arg for arg in args}
        if kind == "input":
            fed = {spec.name for spec in specs}
            unfed = [name for name in by_name if name not in fed]
            if unfed:
                raise RuntimeFailure(
                    f"{path} has input(s) {', '.join(unfed)} that its IO spec does not feed "
                    f"(IO spec inputs: {', '.join(fed) or 'none'})"
                )
        tensors = []
        for spec in specs:
            arg = by_name.get(spec.name)
            if arg is None:
                raise RuntimeFailure(
                    f"the IO spec names {kind} '{spec.name}', but {path} has no such {kind} "
                    f"(it has: {', '.join(by_name)})"
                )
            dtype_name = ORT_DTYPES.get(arg.type)
            if dtype_name is None:
                raise RuntimeFailure(
                    f"{kind} '{arg.name}' of {path} has type {arg.type}, which edgeai cannot feed"
                )
            shape = tuple(d if isinstance(d, (int, str)) else None for d in (arg.shape or ()))
            tensors.append(_Tensor(arg.name, np.dtype(dtype_name), shape, spec))
        return tuple(tensors)

    @property
    def io(self) -> IOSpec:
        if self._artifact is None:
            raise RuntimeFailure("runtime onnxruntime has no model loaded; call load() first")
        return self._artifact.io

    # -- inference -----------------------------------------------------------------------------------

    def _feed(self, inputs: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Check and convert ``inputs`` to the session's dtypes: the work kept out of the timed call."""
        if self.session is None:
            raise RuntimeFailure("runtime onnxruntime has no model loaded; call load() first")
        if len(inputs) != len(self._inputs):
            names = ", ".join(t.name for t in self._inputs)
            raise RuntimeFailure(f"the model takes {len(self._inputs)} input(s) ({names}), got {len(inputs)}")
        feed: dict[str, np.ndarray] = {}
        for value, tensor in zip(inputs, self._inputs, strict=True):
            array = np.asarray(value)
            expected = tensor.shape
            fits = array.ndim == len(expected) and all(
                not isinstance(want, int) or want == got
                for want, got in zip(expected, array.shape, strict=True)
            )
            if not fits:
                raise RuntimeFailure(
                    f"input '{tensor.name}' expects shape {shape_text(expected)}, got {shape_text(array.shape)}"
                )
            if array.dtype != tensor.dtype:
                if tensor.quantized and array.dtype.kind == "f":
                    array = quantize(array, tensor.spec, tensor.dtype)
                elif np.can_cast(array.dtype, tensor.dtype, casting="same_kind"):
                    array = array.astype(tensor.dtype)
                else:
                    raise RuntimeFailure(
                        f"input '{tensor.name}' expects {tensor.dtype.name} values, got {array.dtype.name}"
                        + (
                            " (its IO spec has no scale/zero_point to quantize them)"
                            if tensor.dtype.kind in "iu"
                            else ""
                        )
                    )
            feed[tensor.name] = np.ascontiguousarray(array)
        return feed

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        feed = self._feed(inputs)
        assert self.session is not None
        try:
            outputs = self.session.run(self._output_names, feed)
        except Exception as exc:  # ONNX Runtime's exception types
            raise RuntimeFailure(f"onnxruntime inference failed: {condense(exc)}") from None
        return [
            dequantize(out, tensor.spec) if tensor.quantized else np.asarray(out)
            for out, tensor in zip(outputs, self._outputs, strict=True)
        ]

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], Any]:
        feed = self._feed(inputs)
        assert self.session is not None
        # nothing but the session call in the timed path: outputs stay raw (quantized outputs undequantized)
        return functools.partial(self.session.run, self._output_names, feed)

    def profile(self, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile:
        """ONNX Runtime's profiler in a second session (:mod:`edgeai_onnx.profile`)."""
        from edgeai_onnx.profile import profile_session

        return profile_session(self, inputs, runs)

    def layer_outputs(self, inputs: Sequence[np.ndarray]) -> LayerCapture | None:
        """Every intermediate tensor, QDQ activations dequantized (:mod:`edgeai_onnx.layers`)."""
        from edgeai_onnx.layers import capture_layers

        return capture_layers(self, inputs)

    def close(self) -> None:
        self.session = None
