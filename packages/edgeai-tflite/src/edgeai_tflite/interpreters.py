"""Which TensorFlow Lite interpreter package to use: LiteRT, tflite-runtime or TensorFlow's own.

All three expose the same Python API (``Interpreter``, ``load_delegate``, ``OpResolverType``), so the runtime
works with whichever a device has:

* ``ai-edge-litert`` (LiteRT, ``ai_edge_litert.interpreter``): the maintained package, numpy 2 ready; the
  base dependency of edgeai-tflite.
* ``tflite-runtime`` (``tflite_runtime.interpreter``): its last release, 2.14, imports under numpy 2 but its
  interpreter then fails (``_ARRAY_API not found``), so it is used only with numpy<2.
* ``tensorflow`` (``tf.lite``): present on hosts with the ``compile`` extra; importing it costs seconds.

Nothing here imports TensorFlow unless that backend is asked for (or ``auto`` finds nothing else).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import types
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeai_core.api import MissingDependencyError, RuntimeFailure

log = logging.getLogger(__name__)

#: The order ``auto`` tries, with what to pip install for each.
BACKENDS: dict[str, str] = {
    "ai-edge-litert": "edgeai-tflite",
    "tflite-runtime": "'edgeai-tflite[tflite-runtime]' (it needs numpy<2)",
    "tensorflow": "'edgeai-tflite[compile]'",
}
_MODULES = {
    "ai-edge-litert": "ai_edge_litert.interpreter",
    "tflite-runtime": "tflite_runtime.interpreter",
    "tensorflow": "edgeai_tflite._tf",
}


@dataclass(frozen=True)
class Backend:
    """An interpreter package: ``module`` has ``Interpreter``, ``load_delegate`` and ``OpResolverType``."""

    name: str
    version: str
    module: Any

    @property
    def interpreter_class(self) -> Any:
        return self.module.Interpreter

    def op_resolver(self, xnnpack: bool) -> Any:
        """The ``experimental_op_resolver_type`` for the XNNPACK setting (None: the interpreter's default)."""
        if xnnpack:
            return None
        return self.module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES


def _version(distribution: str, module: Any) -> str:
    for name in (distribution, f"{distribution}-cpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return str(getattr(module, "__version__", "unknown"))


def _tflite_runtime_unusable() -> str | None:
    """Why tflite-runtime cannot work here, or None."""
    major = int(np.__version__.split(".")[0])
    if major >= 2:
        return (
            f"tflite-runtime (last release 2.14) does not work with numpy {np.__version__}: its interpreter needs "
            "numpy<2; use ai-edge-litert (the same API) or install numpy<2"
        )
    return None


def _load(name: str) -> Backend:
    """Import one backend; ImportError when its package is absent, RuntimeFailure when it cannot work here."""
    if name == "tflite-runtime":
        if importlib.util.find_spec("tflite_runtime") is None:
            raise ImportError("tflite_runtime")
        reason = _tflite_runtime_unusable()
        if reason:
            raise RuntimeFailure(f"runtime.interpreter: {reason}")
    module = importlib.import_module(_MODULES[name])
    if name == "tensorflow":  # through edgeai_tflite._tf: TensorFlow's C++ logging turned down first
        lite = module.tf.lite
        namespace = types.SimpleNamespace(
            Interpreter=_quiet_tf_interpreter(lite.Interpreter),
            load_delegate=lite.experimental.load_delegate,
            OpResolverType=lite.experimental.OpResolverType,
        )
        return Backend(name, _version("tensorflow", module.tf), namespace)
    return Backend(name, _version(name, module), module)


def _quiet_tf_interpreter(cls: Any) -> Any:
    """TensorFlow's ``tf.lite.Interpreter`` warns that it moved to LiteRT; the user chose it (or had nothing else)."""

    def create(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cls(*args, **kwargs)

    return create


def load_backend(choice: str = "auto") -> Backend:
    """The interpreter package for ``choice`` (``auto``: the first that works, in :data:`BACKENDS` order)."""
    if choice != "auto":
        if choice not in BACKENDS:
            raise RuntimeFailure(
                f"runtime.interpreter: unknown interpreter '{choice}' ({', '.join(BACKENDS)})"
            )
        try:
            return _load(choice)
        except ImportError:
            raise MissingDependencyError("runtime:tflite", choice, BACKENDS[choice]) from None
    reasons = []
    for name in BACKENDS:
        try:
            backend = _load(name)
        except ImportError:
            reasons.append(f"{name}: not installed")
            continue
        except RuntimeFailure as exc:
            reasons.append(str(exc))
            continue
        log.debug("TFLite interpreter: %s %s", backend.name, backend.version)
        return backend
    log.info("no TFLite interpreter works here: %s", "; ".join(reasons))
    raise MissingDependencyError("runtime:tflite", "ai-edge-litert", BACKENDS["ai-edge-litert"])


def available_backends() -> list[str]:
    """The backends that are installed and can work in this environment (no import of any of them)."""
    names = []
    for name, module in _MODULES.items():
        top = "tensorflow" if name == "tensorflow" else module.split(".")[0]
        if importlib.util.find_spec(top) is None:
            continue
        if name == "tflite-runtime" and _tflite_runtime_unusable():
            continue
        names.append(name)
    return names
