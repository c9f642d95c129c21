"""The ``tflite`` runtime: runs ``.tflite`` artifacts in a TensorFlow Lite interpreter.

This module needs only an interpreter package (LiteRT by default; see :mod:`edgeai_tflite.interpreters`), never
TensorFlow unless it is asked for or is the only interpreter installed, so it runs the same on a host and on a
target device behind ``edgeai serve``. Everything it reads comes from the artifact (the model file and the IO spec
in its sidecar); delegate libraries are looked up on the machine that runs it.

Timing: :meth:`TfliteRuntime.bind` checks the inputs, quantizes them for int8/uint8 models (scale and zero
point from the model, which the IO spec mirrors), resizes the input tensors when the batch changes and calls
``set_tensor``, then returns the interpreter's own ``invoke``: the benchmark times exactly the call a
hand-written interpreter loop times. Outputs are fetched (and dequantized) by :meth:`TfliteRuntime.infer` and
:meth:`TfliteRuntime.outputs`.
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    IOSpec,
    LayerCapture,
    ModelProfile,
    ProfileUnavailable,
    Runtime,
    RuntimeFailure,
)
from edgeai_tflite import TFLITE
from edgeai_tflite._capture import Captured, captured
from edgeai_tflite._util import condense, shape_text
from edgeai_tflite.interpreters import Backend, load_backend
from edgeai_tflite.iospec import Slot, dequantize, quantize, slots

log = logging.getLogger(__name__)

#: Markers of an interpreter error that means "not a TFLite file" rather than "cannot run it here".
#: The symbol TFLite's external delegate loader calls (``load_delegate``).
DELEGATE_ENTRY = "tflite_plugin_create_delegate"
#: Input lists whose converted arrays bind() keeps (the runner cycles through at most 256).
MAX_BOUND = 512
_FILE_ERRORS = ("model identifier", "Could not open", "not a valid", "flatbuffer", "Model provided")


def load_delegates(backend: Backend, libraries: Sequence[str], options: dict[str, Any] | None) -> list[Any]:
    """Load every delegate library; one that cannot be loaded is a RuntimeFailure naming it."""
    delegates = []
    for library in libraries:
        # dlopen it ourselves first: a missing library then gives the loader's reason, and the interpreter
        # package's half-built Delegate object (whose __del__ raises in tflite-runtime) is never created
        try:
            handle = ctypes.CDLL(library)
        except OSError as exc:
            raise RuntimeFailure(
                f"runtime.delegates: cannot load delegate library '{library}' ({condense(exc)}); install it "
                "(for the Edge TPU: the libedgetpu runtime) or give its full path, or remove it from "
                "runtime.delegates"
            ) from None
        if not hasattr(handle, DELEGATE_ENTRY):
            raise RuntimeFailure(
                f"runtime.delegates: '{library}' loads, but is not a usable TFLite delegate: it exports no "
                f"{DELEGATE_ENTRY}; name the delegate's own library"
            )
        try:
            delegates.append(backend.module.load_delegate(library, dict(options or {})))
        except Exception as exc:  # ValueError, OSError, RuntimeError depending on the package
            raise RuntimeFailure(
                f"runtime.delegates: '{library}' loads, but is not a usable TFLite delegate ({condense(exc)}); "
                "check the library and runtime.delegate_options"
            ) from None
    return delegates


class TfliteRuntime(Runtime):
    """A TFLite interpreter over a ``tflite`` artifact; inputs and outputs follow the artifact's IO spec."""

    _backend: Backend | None = None
    _interpreter: Any = None
    _artifact: Artifact | None = None
    _inputs: tuple[Slot, ...] = ()
    _outputs: tuple[Slot, ...] = ()
    _shapes: list[tuple[int, ...]]
    _delegates: list[Any]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: bind()'s converted inputs per input list: (the list, its arrays, the converted arrays)
        self._bound: dict[int, tuple[Sequence[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}

    def versions(self) -> dict[str, str]:
        if self._backend is None:
            return {}
        return {self._backend.name: self._backend.version}

    # -- loading -------------------------------------------------------------------------------------

    def load(self, artifact: Artifact) -> None:
        path = artifact.file_for("tflite", TFLITE)
        p = self.params
        backend = load_backend(p["interpreter"])
        for library in p["delegates"] or []:
            self.context.check_code_path(library, "runtime.delegates")
        delegates = load_delegates(backend, p["delegates"] or [], p["delegate_options"])
        kwargs: dict[str, Any] = {"model_path": str(path), "num_threads": int(p["threads"])}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        resolver = backend.op_resolver(bool(p["xnnpack"]))
        if resolver is not None:
            kwargs["experimental_op_resolver_type"] = resolver
        # the interpreter explains failures on stderr ("Didn't find op for builtin opcode ..."): capture that for
        # the error, and keep its "Created TensorFlow Lite XNNPACK delegate" line out of the user's terminal
        output = Captured()
        try:
            with captured() as output:
                interpreter = backend.interpreter_class(**kwargs)
        except Exception as exc:
            message = condense(_with_output(exc, output))
            if any(marker in message for marker in _FILE_ERRORS):
                raise ArtifactError(f"{path} is not a valid TFLite model: {message}") from None
            raise RuntimeFailure(f"{backend.name} {backend.version} cannot load {path}: {message}") from None
        try:
            with captured() as output:
                interpreter.allocate_tensors()
        except Exception as exc:
            message = condense(_with_output(exc, output))
            hint = ""
            if "edgetpu-custom-op" in message:
                hint = "; it was compiled for the Edge TPU: load its delegate (runtime.delegates = ['libedgetpu.so.1'])"
            raise RuntimeFailure(f"{backend.name} cannot prepare {path}: {message}{hint}") from None
        if output.text.strip():
            log.debug("%s said: %s", backend.name, output.text.strip())
        inputs, outputs = slots(interpreter)
        self._inputs = self._match(artifact.io.inputs, inputs, "input", path)
        self._outputs = self._match(artifact.io.outputs, outputs, "output", path)
        self._backend, self._interpreter, self._artifact, self._delegates = (
            backend,
            interpreter,
            artifact,
            delegates,
        )
        self._shapes = [s.shape for s in self._inputs]
        self._bound.clear()
        log.info(
            "loaded %s in %s %s (%d thread(s), XNNPACK %s, delegates: %s)",
            path.name,
            backend.name,
            backend.version,
            p["threads"],
            "on" if p["xnnpack"] else "off",
            ", ".join(p["delegates"] or []) or "none",
        )

    def _match(self, specs: Sequence[Any], found: list[Slot], kind: str, path: Path) -> tuple[Slot, ...]:
        """Pair the IO spec's tensors with the interpreter's: by name, else by position when the counts agree."""
        if len(specs) != len(found):
            raise ArtifactError(
                f"{path} has {len(found)} {kind}(s) ({', '.join(s.name for s in found)}), but its IO spec lists "
                f"{len(specs)}; the sidecar does not describe this model"
            )
        by_name = {s.name: s for s in found}
        matched = []
        for position, spec in enumerate(specs):
            slot = by_name.get(spec.name, found[position])
            if np.dtype(spec.dtype) != slot.dtype:
                raise ArtifactError(
                    f"{kind} '{spec.name}' of {path} is {slot.dtype.name} in the model but {spec.dtype} in its "
                    "IO spec; the sidecar does not describe this model"
                )
            if slot.quantized and not _same(spec.scale, slot.scale):
                log.warning(
                    "%s '%s': the IO spec's scale %s differs from the model's %s; using the model's",
                    kind,
                    spec.name,
                    spec.scale,
                    slot.scale,
                )
            matched.append(slot)
        return tuple(matched)

    @property
    def io(self) -> IOSpec:
        if self._artifact is None:
            raise RuntimeFailure("runtime tflite has no model loaded; call load() first")
        return self._artifact.io

    # -- inference -----------------------------------------------------------------------------------

    def _prepare(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Check and convert (quantize) the inputs to what the interpreter's tensors take."""
        if self._interpreter is None:
            raise RuntimeFailure("runtime tflite has no model loaded; call load() first")
        if len(inputs) != len(self._inputs):
            names = ", ".join(s.name for s in self._inputs)
            raise RuntimeFailure(f"the model takes {len(self._inputs)} input(s) ({names}), got {len(inputs)}")
        return [self._convert(np.asarray(x), s) for x, s in zip(inputs, self._inputs, strict=True)]

    def _set(self, arrays: list[np.ndarray]) -> None:
        """Resize where the batch changed, then ``set_tensor`` (which copies into the interpreter)."""
        shapes = [a.shape for a in arrays]
        if shapes != self._shapes:
            self._resize(shapes)
        try:
            for array, s in zip(arrays, self._inputs, strict=True):
                self._interpreter.set_tensor(s.index, array)
        except Exception as exc:
            raise RuntimeFailure(f"runtime tflite: setting the inputs failed: {condense(exc)}") from None

    def _convert(self, array: np.ndarray, s: Slot) -> np.ndarray:
        if array.ndim != len(s.signature) or any(
            want >= 0 and want != got and i > 0
            for i, (want, got) in enumerate(zip(s.signature, array.shape, strict=True))
        ):
            raise RuntimeFailure(
                f"input '{s.name}' expects shape {shape_text(s.signature)}, got {shape_text(array.shape)}"
            )
        if array.dtype != s.dtype:
            if s.quantized and array.dtype.kind == "f":
                return quantize(array, s)
            elif np.can_cast(array.dtype, s.dtype, casting="same_kind"):
                array = array.astype(s.dtype)
            else:
                missing = (
                    " (its model has no scale/zero point to quantize them)" if s.dtype.kind in "iu" else ""
                )
                raise RuntimeFailure(
                    f"input '{s.name}' expects {s.dtype.name} values, got {array.dtype.name}{missing}"
                )
        return np.ascontiguousarray(array)

    def _resize(self, shapes: list[tuple[int, ...]]) -> None:
        """Resize the input tensors (a new batch size) and re-allocate, where the model's signature allows it."""
        interpreter = self._interpreter
        for shape, s in zip(shapes, self._inputs, strict=True):
            fixed = [
                i
                for i, (want, got) in enumerate(zip(s.signature, shape, strict=True))
                if want >= 0 and want != got
            ]
            if fixed:
                raise RuntimeFailure(
                    f"input '{s.name}' has the fixed shape {shape_text(s.signature)}, so the model cannot take "
                    f"{shape_text(shape)}; feed batches of {s.signature[0]} (benchmark.batch_size, "
                    "evaluation.batch_size) or convert it with a dynamic batch (compiler tflite without batch_size)"
                )
            try:
                interpreter.resize_tensor_input(s.index, list(shape), strict=True)
            except Exception as exc:
                raise RuntimeFailure(
                    f"runtime tflite: cannot resize input '{s.name}' to {shape_text(shape)}: {condense(exc)}"
                ) from None
        try:
            interpreter.allocate_tensors()
        except Exception as exc:
            self._shapes = []  # unknown now: the next call resizes again
            raise RuntimeFailure(
                f"runtime tflite: the model cannot run on inputs of shape "
                f"{', '.join(shape_text(x) for x in shapes)}: {condense(exc)}"
            ) from None
        self._shapes = list(shapes)
        log.debug("resized the inputs to %s", shapes)

    def _fetch(self) -> list[np.ndarray]:
        interpreter = self._interpreter
        results = []
        for s in self._outputs:
            value = interpreter.get_tensor(s.index)  # a copy: the interpreter may run again safely
            results.append(dequantize(value, s) if s.quantized else np.asarray(value))
        return results

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        self._set(self._prepare(inputs))
        try:
            self._interpreter.invoke()
        except Exception as exc:
            raise RuntimeFailure(f"runtime tflite: inference failed: {condense(exc)}") from None
        return self._fetch()

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], Any]:
        # The benchmark binds the same few input lists over and over. Their converted (quantized) arrays are
        # kept per list object, as the remote runtime keeps its prepared payloads: numpy work right before the
        # timed call measurably slows a 3 us invoke (by 2-5%), a bare interpreter loop does none, and the same
        # list must not be mutated between binds. infer() always converts afresh.
        key = id(inputs)
        cached = self._bound.get(key)
        if (
            cached is None
            or cached[0] is not inputs
            or len(cached[1]) != len(inputs)
            or any(a is not b for a, b in zip(cached[1], inputs, strict=True))
        ):
            if len(self._bound) >= MAX_BOUND:
                self._bound.clear()
            cached = (inputs, list(inputs), self._prepare(inputs))
            self._bound[key] = cached
        self._set(cached[2])
        # nothing but the interpreter's invoke in the timed path; outputs are read by infer() or outputs()
        return self._interpreter.invoke

    def outputs(self) -> list[np.ndarray]:
        """The outputs of the last invoke (dequantized), e.g. after calling what :meth:`bind` returned."""
        if self._interpreter is None:
            raise RuntimeFailure("runtime tflite has no model loaded; call load() first")
        return self._fetch()

    def profile(self, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile:
        """LiteRT's op profiler on a second copy of the model (:mod:`edgeai_tflite.litert_profile`): the Python
        interpreters time only whole invokes, so the profile runs in LiteRT's CompiledModel C API with the same
        CPU kernels (XNNPACK, or the builtin ones with ``xnnpack = false``) and thread count."""
        if self._artifact is None or self._interpreter is None:
            raise ProfileUnavailable("runtime tflite has no model loaded")
        if self.params["delegates"]:
            raise ProfileUnavailable(
                "LiteRT's op profiler runs the CPU kernels; a model run through runtime.delegates ("
                + ", ".join(self.params["delegates"])
                + ") is profiled by its delegate's own tools"
            )
        from edgeai_tflite.litert_profile import profile_file

        arrays = self._prepare(inputs)
        self.infer(inputs)  # a dynamic model knows its output shapes once it has run
        shapes = {}
        for s in self._outputs:
            value = self._interpreter.get_tensor(s.index)
            shapes[s.index] = (tuple(value.shape), int(value.nbytes))
        return profile_file(
            self._artifact.file_for("tflite", TFLITE),
            {s.index: a for s, a in zip(self._inputs, arrays, strict=True)},
            shapes,
            runs,
            int(self.params["threads"]),
            bool(self.params["xnnpack"]),
        )

    def layer_outputs(self, inputs: Sequence[np.ndarray]) -> LayerCapture | None:
        """Every operator's output, integer tensors dequantized (:mod:`edgeai_tflite.layers`)."""
        from edgeai_tflite.layers import capture_layers

        return capture_layers(self, inputs)

    def close(self) -> None:
        # the interpreter first: delegates must outlive the interpreter that uses them
        self._interpreter = None
        self._delegates = []
        self._bound.clear()


def _with_output(exc: Exception, output: Captured) -> str:
    """The exception's message, with what the interpreter printed before raising it."""
    printed = output.lines()
    return f"{exc} ({printed})" if printed and printed not in str(exc) else str(exc)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    left, right = np.atleast_1d(np.asarray(a, np.float64)), np.atleast_1d(np.asarray(b, np.float64))
    return left.shape == right.shape and all(
        math.isclose(x, y, rel_tol=1e-6) for x, y in zip(left, right, strict=True)
    )
