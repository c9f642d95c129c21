"""The ``keras-to-onnx`` converter: tf2onnx through a SavedModel signature, checked with ONNX Runtime.

tf2onnx 1.17's ``from_keras`` fails on Keras 3 models. The route that works (and matches Keras to ~4e-6) is a
SavedModel: the Keras model is exported with one signature named like its IO spec (``input`` -> ``logits``) and
that signature's function goes through ``tf2onnx.convert.from_function`` in this process (no second TensorFlow
start-up, as ``python -m tf2onnx.convert --saved-model`` would cost). ``layout = "NCHW"`` makes tf2onnx put a
transpose in front, so the ONNX model takes NCHW inputs like a PyTorch export.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Converter,
    EdgeaiError,
    IOSpec,
    TensorSpec,
    allowed_difference,
    import_optional,
)
from edgeai_tflite import KERAS, ONNX
from edgeai_tflite._tf import quiet, tf, versions
from edgeai_tflite._util import condense
from edgeai_tflite.compiler import CARRIED_METADATA, VERIFY_SAMPLES, keras_source

log = logging.getLogger(__name__)


def _nchw(spec: TensorSpec) -> TensorSpec:
    if len(spec.shape) != 4:
        return spec
    n, h, w, c = spec.shape
    return dataclasses.replace(spec, shape=(n, c, h, w), layout="NCHW")


def captured_constants(function: Any, user_inputs: int) -> dict[str, np.ndarray | None]:
    """``{graph input name: value}`` for the tensors a traced ``tf.function`` captured (a Keras
    ``Normalization`` layer's adapted mean and variance): the concrete function's graph inputs after the user's
    ``user_inputs`` are its captured tensors, in order. A captured resource (a variable) maps to its current
    value; anything else that is not a constant maps to None."""
    concrete = function.get_concrete_function()
    placeholders = list(concrete.graph.inputs)[user_inputs:]
    values: dict[str, np.ndarray | None] = {}
    for placeholder, captured in zip(placeholders, concrete.captured_inputs, strict=False):
        name = placeholder.name
        try:
            if captured.dtype == tf.resource:
                variable = next((v for v in concrete.variables if v.handle is captured), None)
                values[name] = None if variable is None else np.asarray(variable.numpy())
            else:
                values[name] = np.asarray(captured.numpy())
        except Exception:  # a symbolic tensor: not a constant
            values[name] = None
    return values


def fold_captured_inputs(model_proto: Any, function: Any, user_inputs: int, model_name: str) -> Any:
    """Make the graph inputs tf2onnx left behind for captured constants initializers with their values.

    tf2onnx turns the captured tensors of a SavedModel signature into extra graph inputs (EfficientNetB0's
    Normalization mean and variance); fed nothing, the model cannot run. Each one whose value is known becomes an
    initializer; if any is left, :class:`EdgeaiError` names them and why."""
    from onnx import numpy_helper

    graph = model_proto.graph
    extra = list(graph.input)[user_inputs:]
    values = captured_constants(function, user_inputs)
    left: list[str] = []
    for tensor in extra:
        value = values.get(tensor.name)
        if value is None:
            left.append(tensor.name)
            continue
        dims = [d.dim_value for d in tensor.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims) and int(np.prod(dims)) == value.size:
            value = value.reshape(dims)
        graph.initializer.append(numpy_helper.from_array(value, tensor.name))
        graph.input.remove(tensor)
    if left:
        raise EdgeaiError(
            f"the ONNX export of {model_name} has {len(left)} graph input(s) beyond "
            f"the model's {user_inputs} ({', '.join(left)}): tensors the Keras model captures that are not "
            "constants tf2onnx or edgeai can fold; export the model with those values frozen"
        )
    log.info("folded %d captured constant(s) of %s into initializers", len(extra), model_name)
    return model_proto


class KerasToOnnx(Converter):
    """``keras-to-onnx``: one self-contained ``model.onnx`` with a dynamic batch axis."""

    def versions(self) -> dict[str, str]:
        found = versions()
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found["tf2onnx"] = importlib.metadata.version("tf2onnx")
        return found

    def convert(self, artifact: Artifact) -> Artifact:
        if artifact.format != KERAS:
            raise ArtifactError(f"converter keras-to-onnx takes keras models, not {artifact.format}")
        tf2onnx: Any = import_optional("tf2onnx", "converter:keras-to-onnx", "edgeai-tflite[compile]")
        p = self.params
        workdir = Path(self.context.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        source = keras_source(artifact, workdir, None)
        loaded = tf.saved_model.load(str(source.saved_model))
        function = loaded.signatures[source.signature]
        specs = [tf.TensorSpec(s.shape, tf.dtypes.as_dtype(s.dtype), name=s.name) for s in source.io.inputs]
        names = [s.name for s in source.io.inputs]
        output_names = [o.name for o in source.io.outputs]

        @tf.function(input_signature=specs)
        def serve(*args: Any) -> dict[str, Any]:
            outputs = function(**dict(zip(names, args, strict=True)))
            return {name: outputs[name] for name in output_names}

        nchw = p["layout"] == "NCHW"
        path = workdir / "model.onnx"
        try:
            with quiet():
                model_proto, _ = tf2onnx.convert.from_function(
                    serve,
                    input_signature=specs,
                    opset=p["opset"],
                    inputs_as_nchw=[
                        n for n, s in zip(names, source.io.inputs, strict=True) if len(s.shape) == 4
                    ]
                    if nchw
                    else None,
                    output_path=str(path),
                )
        except Exception as exc:
            raise EdgeaiError(f"tf2onnx cannot convert {artifact.path}: {condense(exc)}") from exc
        if len(model_proto.graph.input) > len(names):
            model_proto = fold_captured_inputs(model_proto, serve, len(names), artifact.path.name)
            path.write_bytes(model_proto.SerializeToString())
        export_s = time.perf_counter() - started
        graph_inputs = [i.name for i in model_proto.graph.input]
        graph_outputs = [o.name for o in model_proto.graph.output]
        inputs = tuple(_nchw(s) if nchw else s for s in source.io.inputs)
        io = IOSpec(
            inputs=tuple(dataclasses.replace(s, name=n) for s, n in zip(inputs, graph_inputs, strict=True)),
            outputs=tuple(
                dataclasses.replace(s, name=n) for s, n in zip(source.io.outputs, graph_outputs, strict=True)
            ),
        )
        opset = next((int(o.version) for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), None)
        metadata: dict[str, Any] = {
            k: artifact.metadata[k] for k in CARRIED_METADATA if k in artifact.metadata
        }
        metadata.update(
            {
                "exporter": "tf2onnx (SavedModel signature)",
                "opset": opset,
                "layout": p["layout"],
                "export_time_s": export_s,
            }
        )
        metadata.update(self._verify(path, source, io, nchw))
        return self.save_artifact(path, ONNX, io, metadata)

    def _verify(self, path: Path, source: Any, io: IOSpec, nchw: bool) -> dict[str, Any]:
        p = self.params
        if not p["verify"]:
            return {"verified": False}
        if importlib.util.find_spec("onnxruntime") is None:
            log.info("onnxruntime is not installed: the ONNX export of %s is not verified", path.name)
            return {"verified": False, "verify_skipped": "onnxruntime is not installed"}
        import onnxruntime as ort

        rng = np.random.default_rng(self.context.seed)
        worst = 0.0
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for batch in (VERIFY_SAMPLES, 1):
            inputs = [
                rng.random((batch, *(d or 1 for d in s.shape[1:])), dtype=np.float32)
                for s in source.io.inputs
            ]
            expected = source.reference(inputs)
            feed = {
                spec.name: np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if nchw and x.ndim == 4 else x
                for spec, x in zip(io.inputs, inputs, strict=True)
            }
            got = session.run([o.name for o in io.outputs], feed)
            for e, g in zip(expected, got, strict=True):
                diff = float(np.max(np.abs(np.asarray(e) - g)))
                worst = max(worst, diff)
                # the core's softmax-aware policy: probability outputs accept a looser absolute difference
                allowed = allowed_difference(np.asarray(e), p["tolerance"])
                if diff > allowed:
                    raise EdgeaiError(
                        f"the ONNX export differs from the Keras model by {diff:.3g} (tolerance {allowed:g}) in "
                        "ONNX Runtime; raise tolerance if that is expected, or report the model"
                    )
        log.info("verified %s: max |onnxruntime - keras| = %.3g", path.name, worst)
        return {"verified": True, "verify_max_abs_diff": worst, "verify_tolerance": p["tolerance"]}
