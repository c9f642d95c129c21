"""The ``tvm`` runtime: runs an exported TVM library (``model.so`` + sidecar) in the Relax virtual machine.

What a target device needs is TVM's 3 MB runtime library, not its 259 MB compiler library. When this process
has not imported TVM yet, :func:`import_tvm_runtime` imports it with ``TVM_USE_RUNTIME_LIB=1``: only
``libtvm_runtime.so`` is loaded and ``tvm.relax`` never is. The optional torch import inside ``tvm_ffi`` (a
symbol-order workaround for Windows wheels) is skipped there too when torch is not already loaded, since this
runtime passes numpy arrays only; on a host that has torch installed that keeps about 6 s and 300 MB of torch
out of the measured process. When the process already holds the full TVM (the compiler ran in the same
``edgeai run``), the runtime uses it; :meth:`TvmRuntime.versions` says which library served.

Timing: :meth:`TvmRuntime.bind` checks and copies the inputs into TVM tensors up front and returns
``functools.partial(vm["main"], *tensors)``: the benchmark times one Relax VM call, the same call a
hand-written TVM loop makes. Outputs stay TVM tensors there; :meth:`TvmRuntime.infer` converts them.
The benchmark binds before every call, cycling through a pool of inputs; ``bind`` keeps the call it made for
each set of input arrays (by identity, reused only while the arrays keep their shapes and bytes, up to
64 MiB), as a hand-written loop keeps its tensors. Measured on the tuned digits CNN (18 us),
converting anew before each call made the timed calls 5% slower than in a bare loop, and even an
``np.array_equal`` check cost 3%: untimed Python work between calls still evicts what the model keeps in the
CPU caches, so the reuse check is kept to an identity test and a byte comparison.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    IOSpec,
    LayerCapture,
    MissingDependencyError,
    ModelProfile,
    Runtime,
    RuntimeFailure,
    TensorSpec,
)
from edgeai_tvm._util import condense, shape_text
from edgeai_tvm.targets import elf_arch, host_arch

log = logging.getLogger(__name__)

FORMAT = "tvm"
ENTRY = "main"
THREADS_ENV = "TVM_NUM_THREADS"
#: Bytes of converted inputs (TVM tensors plus content snapshots) that bind() keeps for reuse.
BIND_CACHE_BYTES = 64 << 20


def import_tvm_runtime() -> ModuleType:
    """``tvm`` with its runtime library only, unless this process already imported TVM.

    ``TVM_USE_RUNTIME_LIB`` is set for the import only (TVM reads it then), so subprocesses started later
    (MetaSchedule workers of a compile in the same process) are not affected.
    """
    if importlib.util.find_spec("tvm") is None:
        raise MissingDependencyError("runtime:tvm", "tvm", "edgeai-tvm")
    if "tvm" in sys.modules:
        import tvm
        import tvm.runtime.vm

        return tvm
    previous = os.environ.get("TVM_USE_RUNTIME_LIB")
    os.environ["TVM_USE_RUNTIME_LIB"] = "1"
    block_torch = "torch" not in sys.modules
    if block_torch:
        sys.modules["torch"] = None  # type: ignore[assignment]  # import torch -> ImportError, handled by tvm_ffi
    try:
        import tvm
        import tvm.runtime.vm
    finally:
        if previous is None:
            os.environ.pop("TVM_USE_RUNTIME_LIB", None)
        else:
            os.environ["TVM_USE_RUNTIME_LIB"] = previous
        if block_torch and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return tvm


def runtime_only(tvm: ModuleType) -> bool:
    """Whether the loaded TVM is the runtime library alone (no compiler)."""
    return bool(getattr(tvm.base, "_RUNTIME_ONLY", False))


class TvmRuntime(Runtime):
    """Relax VM over a ``tvm`` artifact; inputs and outputs follow the artifact's IO spec."""

    _artifact: Artifact | None = None
    _main: Any = None
    _vm: Any = None
    _tvm: ModuleType | None = None
    _dtypes: tuple[np.dtype[Any], ...] = ()
    _saved_threads: str | None = None
    _threads_set = False
    #: bind()'s reusable calls by the ids of the input arrays: (arrays, shapes, bytes, call)
    _bound: dict[tuple[int, ...], tuple[tuple[Any, ...], tuple[Any, ...], tuple[bytes, ...], Any]]
    _bound_bytes = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._bound = {}

    def versions(self) -> dict[str, str]:
        tvm = self._tvm or import_tvm_runtime()
        return {
            "tvm": str(tvm.__version__),
            "tvm-library": "runtime only" if runtime_only(tvm) else "runtime and compiler",
        }

    # -- loading -------------------------------------------------------------------------------------

    def load(self, artifact: Artifact) -> None:
        path = artifact.file_for("tvm", FORMAT, "libraries")
        arch, here = (elf_arch(path), host_arch()) if sys.platform.startswith("linux") else ("", "")
        if arch != here:
            triple = (artifact.metadata.get("target") or {}).get("mtriple", arch)
            raise RuntimeFailure(
                f"{path.name} is a library for {arch} ({triple}) and this machine is {here}: run it on "
                f"the {arch} device (edgeai serve --runtime tvm there), or compile it for {here}"
            )
        tvm = import_tvm_runtime()
        self._tvm = tvm
        self._set_threads(int(self.params["threads"]))
        built_with = artifact.versions.get("tvm")
        if built_with and built_with != tvm.__version__:
            log.warning(
                "%s was compiled by TVM %s and runs on TVM %s", path.name, built_with, tvm.__version__
            )
        try:
            library = tvm.runtime.load_module(str(path))
        except Exception as exc:  # TVM raises its own error types
            raise ArtifactError(f"TVM {tvm.__version__} cannot load {path}: {condense(exc)}") from None
        try:
            vm = tvm.runtime.vm.VirtualMachine(library, tvm.cpu())
            main = vm[ENTRY]
        except Exception as exc:
            raise ArtifactError(
                f"{path} is not a Relax VM library with a '{ENTRY}' function (compile it with compiler tvm): "
                f"{condense(exc)}"
            ) from None
        arity = int(vm._get_function_arity(ENTRY))
        if arity != len(artifact.io.inputs):
            raise RuntimeFailure(
                f"{path.name}: '{ENTRY}' takes {arity} input(s) but the IO spec lists {len(artifact.io.inputs)} "
                f"({', '.join(t.name for t in artifact.io.inputs)}); the sidecar does not belong to this library"
            )
        self._vm, self._main, self._artifact = vm, main, artifact
        self._bound.clear()
        self._bound_bytes = 0
        self._dtypes = tuple(np.dtype(t.dtype) for t in artifact.io.inputs)
        log.info(
            "loaded %s in TVM %s (%s, %s thread(s))",
            path.name,
            tvm.__version__,
            "runtime library only" if runtime_only(tvm) else "full TVM already in this process",
            self.params["threads"] or "default",
        )

    def _set_threads(self, threads: int) -> None:
        """TVM reads ``TVM_NUM_THREADS`` on every parallel launch (1: no thread pool at all)."""
        if threads <= 0:
            return
        if not self._threads_set:
            self._saved_threads = os.environ.get(THREADS_ENV)
            self._threads_set = True
        os.environ[THREADS_ENV] = str(threads)

    @property
    def io(self) -> IOSpec:
        if self._artifact is None:
            raise RuntimeFailure("runtime tvm has no library loaded; call load() first")
        return self._artifact.io

    # -- inference -----------------------------------------------------------------------------------

    def _tensors(self, inputs: Sequence[np.ndarray]) -> list[Any]:
        """Check ``inputs`` against the IO spec and copy them into TVM tensors (the untimed part)."""
        if self._main is None or self._artifact is None or self._tvm is None:
            raise RuntimeFailure("runtime tvm has no library loaded; call load() first")
        specs = self._artifact.io.inputs
        if len(inputs) != len(specs):
            names = ", ".join(t.name for t in specs)
            raise RuntimeFailure(f"the model takes {len(specs)} input(s) ({names}), got {len(inputs)}")
        tensors = []
        for value, spec, dtype in zip(inputs, specs, self._dtypes, strict=True):
            array = np.asarray(value)
            tensors.append(self._tvm.runtime.tensor(_fit(array, spec, dtype)))
        return tensors

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        tensors = self._tensors(inputs)
        try:
            result = self._main(*tensors)
        except Exception as exc:  # TVM's error types
            raise RuntimeFailure(f"TVM inference failed: {condense(exc)}") from None
        return _numpy_outputs(result)

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], Any]:
        # nothing but the VM call in the timed path: outputs stay TVM tensors
        key = tuple(map(id, inputs))
        entry = self._bound.get(key)
        if entry is not None:  # the same arrays again (a benchmark pool): reuse the call if none changed
            arrays, shapes, blobs, call = entry
            for x, array, shape, blob in zip(inputs, arrays, shapes, blobs):  # noqa: B905 (same ids: same length)
                if x is not array or x.shape != shape or x.tobytes() != blob:
                    break
            else:
                return call
            self._forget(key)
        call = functools.partial(self._main, *self._tensors(inputs))
        arrays = tuple(inputs)
        if all(isinstance(x, np.ndarray) for x in arrays):
            blobs = tuple(x.tobytes() for x in arrays)
            size = 2 * sum(len(b) for b in blobs)
            if size <= BIND_CACHE_BYTES:
                while self._bound and self._bound_bytes + size > BIND_CACHE_BYTES:
                    self._forget(next(iter(self._bound)))  # the oldest
                self._bound[key] = (arrays, tuple(x.shape for x in arrays), blobs, call)
                self._bound_bytes += size
        return call

    def _forget(self, key: tuple[int, ...]) -> None:
        entry = self._bound.pop(key)
        self._bound_bytes -= 2 * sum(len(b) for b in entry[2])

    def profile(self, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile:
        """Each VM call timed through the Relax VM's instrument hook (:mod:`edgeai_tvm.profile`)."""
        from edgeai_tvm.profile import profile_vm

        return profile_vm(self, inputs, runs)

    def layer_outputs(self, inputs: Sequence[np.ndarray]) -> LayerCapture | None:
        """Each compiled call's output, under the ONNX node it maps to (:mod:`edgeai_tvm.layers`)."""
        from edgeai_tvm.layers import capture_layers

        return capture_layers(self, inputs)

    def close(self) -> None:
        self._main = self._vm = None
        self._bound.clear()
        self._bound_bytes = 0
        if self._threads_set:
            if self._saved_threads is None:
                os.environ.pop(THREADS_ENV, None)
            else:
                os.environ[THREADS_ENV] = self._saved_threads
            self._threads_set = False


def _fit(array: np.ndarray, spec: TensorSpec, dtype: np.dtype[Any]) -> np.ndarray:
    """``array`` as a C-contiguous array of the model's dtype, or RuntimeFailure naming what does not fit."""
    fits = array.ndim == len(spec.shape) and all(
        not isinstance(want, int) or want == got for want, got in zip(spec.shape, array.shape, strict=True)
    )
    if not fits:
        raise RuntimeFailure(
            f"input '{spec.name}' expects shape {shape_text(spec.shape)}, got {shape_text(array.shape)}"
            + (
                ' (the library was compiled for a static batch; compile with batch = "dynamic" for others)'
                if array.ndim == len(spec.shape) and isinstance(spec.shape[0], int)
                else ""
            )
        )
    if array.dtype != dtype:
        if not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise RuntimeFailure(f"input '{spec.name}' expects {dtype.name} values, got {array.dtype.name}")
        array = array.astype(dtype)
    return np.ascontiguousarray(array)


def _numpy_outputs(result: Any) -> list[np.ndarray]:
    """The VM's return value (one tensor, or a tuple of them) as a list of numpy arrays."""
    if hasattr(result, "numpy"):
        return [np.asarray(result.numpy())]
    try:
        return [np.asarray(item.numpy()) for item in result]
    except (TypeError, AttributeError) as exc:
        raise RuntimeFailure(f"TVM returned {type(result).__name__}, not tensors: {condense(exc)}") from None
