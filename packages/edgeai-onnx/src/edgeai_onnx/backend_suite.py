"""The ``onnxruntime`` backend of ``edgeai onnx-backend-tests``: ONNX's backend test data in ONNX Runtime.

A session is made with the same options as the ``onnxruntime`` runtime component (:func:`edgeai_onnx.runtime
.session_options` over the runtime's parameters, CPU provider by default), so the suite tests what a pipeline
runs. Inputs are fed by position in the graph's input order and every graph output is returned; sequences and
optionals go through as ONNX Runtime takes them (lists, None), which the runtime component's tensor-only IO spec
could not express.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

from edgeai_core.api import BackendSession, OnnxBackend
from edgeai_onnx._util import condense
from edgeai_onnx.runtime import check_providers, session_options


class _Session(BackendSession):
    def __init__(self, session: ort.InferenceSession) -> None:
        self.session: ort.InferenceSession | None = session
        self.names = [i.name for i in session.get_inputs()]

    def _feed(self, inputs: Sequence[Any]) -> dict[str, Any]:
        if len(inputs) != len(self.names):
            raise ValueError(f"the model takes {len(self.names)} input(s), the case gives {len(inputs)}")
        return dict(zip(self.names, inputs, strict=True))

    def run(self, inputs: Sequence[Any]) -> list[Any]:
        if self.session is None:
            raise RuntimeError("the session is closed")
        try:
            return list(self.session.run(None, self._feed(inputs)))
        except Exception as exc:  # ONNX Runtime's own exception types
            raise RuntimeError(condense(exc)) from None

    def bind(self, inputs: Sequence[Any]) -> Callable[[], Any]:
        if self.session is None:
            raise RuntimeError("the session is closed")
        return functools.partial(self.session.run, None, self._feed(inputs))

    def close(self) -> None:
        self.session = None


class OnnxRuntimeBackend(OnnxBackend):
    """ONNX Runtime with the ``onnxruntime`` runtime component's session options."""

    def versions(self) -> dict[str, str]:
        return {"onnxruntime": ort.__version__}

    def prepare(self, path: Path, inputs: Sequence[Any]) -> BackendSession:
        options = session_options(self.params)
        providers = check_providers(self.params.get("providers"))
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:
            raise RuntimeError(condense(exc)) from None
        return _Session(session)
