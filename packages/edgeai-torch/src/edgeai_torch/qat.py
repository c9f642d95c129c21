"""The ``torch-qat`` compiler: quantization-aware fine-tuning of a ``torch`` checkpoint, exported to ONNX QDQ.

Which PyTorch tooling: torch 2.13's recommended flow (PT2E) lives in the separate ``torchao`` package, which is
not a dependency of edgeai-torch (0.18.0 resolves from the registry; not installed or tried here), so this step
uses the FX graph mode QAT that torch still ships
(:func:`torch.ao.quantization.quantize_fx.prepare_qat_fx`, deprecated but present). BatchNorm is folded into
the preceding convolutions first (:func:`torch.fx.experimental.optimization.fuse`), so the fake-quantized
weights are those the runtime sees, as in the ONNX PTQ step, which quantizes the exported (folded) graph.

Settings matching ``onnx-quantize`` (mode static, its defaults) so PTQ vs QAT compares like with like:

* weights: int8, symmetric, one scale per output channel (``per_channel_symmetric``, [-128, 127]);
* activations: 8-bit per tensor, asymmetric with a zero point by default; ``activation_symmetric = true``
  fixes the zero point at the middle of the range (ONNX Runtime's ``ActivationSymmetric``). Torch's FX
  backend configs take activations as ``quint8``; an asymmetric uint8 and an asymmetric int8 grid are the same
  grid shifted by 128, so the exported QDQ model has uint8 activations and int8 weights (ONNX Runtime's U8S8);
* ranges: moving-average min/max observers during fine-tuning (PTQ uses min/max over its calibration samples).

The fine-tuned network is exported with the torchscript exporter: every fake-quantize becomes a
QuantizeLinear/DequantizeLinear pair (opset 13 or later for the per-channel weights), and weight pairs are then
folded to int8 initializers followed by DequantizeLinear (what ONNX Runtime's quantizer writes), so the file
holds int8 weights. ONNX Runtime and TVM's ONNX frontend load the result.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import fx, nn

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Compiler,
    Dataset,
    EdgeaiError,
    IOSpec,
    TensorSpec,
    UsageError,
)
from edgeai_torch.export import _quiet_exporter
from edgeai_torch.optimize import count_macs, file_sizes, parameter_counts, start_fine_tuning
from edgeai_torch.training import torch_threads

log = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"


def qat_qconfig(activation_symmetric: bool) -> Any:
    """The QConfig of the module docstring."""
    from torch.ao.quantization import (
        FakeQuantize,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        QConfig,
    )

    activation = FakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver,
        quant_min=0,
        quant_max=255,
        dtype=torch.quint8,
        qscheme=torch.per_tensor_symmetric if activation_symmetric else torch.per_tensor_affine,
    )
    weight = FakeQuantize.with_args(
        observer=MovingAveragePerChannelMinMaxObserver,
        quant_min=-128,
        quant_max=127,
        dtype=torch.qint8,
        qscheme=torch.per_channel_symmetric,
        ch_axis=0,
    )
    return QConfig(activation=activation, weight=weight)


def prepare_qat(
    module: nn.Module, example: torch.Tensor, activation_symmetric: bool = False
) -> fx.GraphModule:
    """Fold BatchNorm into convolutions, then insert fake-quantization (FX graph mode QAT)."""
    from torch.ao.quantization import QConfigMapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx
    from torch.fx.experimental.optimization import fuse

    module.eval()
    folded = fuse(module)  # Conv+BatchNorm folded with the running statistics
    mapping = QConfigMapping().set_global(qat_qconfig(activation_symmetric))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        prepared = prepare_qat_fx(folded.train(), mapping, (example,))
    return prepared


def freeze_qat(prepared: nn.Module) -> nn.Module:
    """Eval mode with the observers off: the ranges are final and the graph exports."""
    from torch.ao.quantization import disable_observer

    prepared.eval()
    prepared.apply(disable_observer)
    return prepared


def export_qdq(prepared: nn.Module, example: torch.Tensor, path: Path, io: IOSpec, opset: int) -> None:
    """Export the frozen fake-quantized network to ONNX QDQ with int8 weight initializers."""
    if opset < 13:
        raise UsageError(f"torch-qat: per-channel QDQ needs opset 13 or later, got {opset}")
    in_name, out_name = io.inputs[0].name, io.outputs[0].name
    try:
        with _quiet_exporter(), torch.no_grad():
            torch.onnx.export(
                prepared,
                (example,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[in_name],
                output_names=[out_name],
                dynamic_axes={in_name: {0: "batch"}, out_name: {0: "batch"}},
            )
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise EdgeaiError(f"torch-qat: exporting the fake-quantized network failed: {reason}") from exc
    model = onnx.load(str(path))
    fold_weight_quantizers(model)
    onnx.save(model, str(path))


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    found = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:  # topological order: an Identity of a constant is that constant
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            found[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        elif node.op_type == "Identity" and node.input[0] in found:
            found[node.output[0]] = found[node.input[0]]
    return found


def fold_weight_quantizers(model: onnx.ModelProto) -> int:
    """Replace ``QuantizeLinear(constant float weight)`` by the int8 constant it computes; returns how many."""
    constants = _constants(model)
    graph = model.graph
    folded = 0
    for node in list(graph.node):
        if node.op_type != "QuantizeLinear" or node.input[0] not in constants:
            continue
        weight = constants[node.input[0]].astype(np.float32)
        scale = constants.get(node.input[1])
        zero = constants.get(node.input[2]) if len(node.input) > 2 else None
        if scale is None or zero is None:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * weight.ndim
        if scale.ndim == 1 and scale.size > 1:
            shape[axis] = scale.size
        info = np.iinfo(zero.dtype)
        q = np.rint(weight / scale.reshape(shape)) + zero.astype(np.int64).reshape(shape)
        tensor = numpy_helper.from_array(np.clip(q, info.min, info.max).astype(zero.dtype), node.output[0])
        graph.initializer.append(tensor)
        graph.node.remove(node)
        folded += 1
    # drop float weights, and Constant and Identity nodes, that nothing reads any more
    while True:
        used = {name for n in graph.node for name in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if n.op_type in ("Constant", "Identity") and n.output[0] not in used]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    return folded


class TorchQat(Compiler):
    """Fake-quantized fine-tuning and QDQ export; see the module docstring."""

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__, "onnx": onnx.__version__}

    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        p = self.params
        checkpoint, tuning = start_fine_tuning("torch-qat", artifact, dataset, p, self.context)
        module = checkpoint.module
        example = tuning.example
        started = time.perf_counter()
        with torch_threads(p["threads"]):
            parameters, _ = parameter_counts(module)
            macs = count_macs(module, example)
            float_accuracy = tuning.test_accuracy(module)
            torch.manual_seed(self.context.seed)
            try:
                prepared = prepare_qat(module, example, p["activation_symmetric"])
            except Exception as exc:  # tracing: data-dependent control flow and the like
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                raise EdgeaiError(
                    f"torch-qat: torch.fx cannot prepare the network for QAT: {reason}"
                ) from exc
            info: dict[str, Any] = {
                "tooling": "torch.ao.quantization FX QAT (prepare_qat_fx)",
                "weights": "int8 symmetric per-channel",
                "activations": "uint8 " + ("symmetric" if p["activation_symmetric"] else "asymmetric"),
                "activation_symmetric": p["activation_symmetric"],
            }
            info.update(tuning.run(prepared))
            freeze_qat(prepared)
            info["qat_torch_test_accuracy"] = tuning.test_accuracy(prepared)
            io = IOSpec(
                inputs=tuple(
                    TensorSpec(s.name, (None, *s.shape[1:]), s.dtype, layout=s.layout)
                    for s in artifact.io.inputs
                ),
                outputs=tuple(TensorSpec(s.name, (None, *s.shape[1:]), s.dtype) for s in artifact.io.outputs),
            )
            target = self.context.workdir / ONNX_NAME
            target.parent.mkdir(parents=True, exist_ok=True)
            export_qdq(prepared, example, target, io, p["opset"])
        try:
            onnx.checker.check_model(str(target), full_check=True)
        except Exception as exc:
            raise ArtifactError(f"torch-qat: {target} fails onnx.checker: {exc}") from None
        ops = Counter(n.op_type for n in onnx.load(str(target)).graph.node)
        info.update(
            parameters_before=parameters,
            parameters_after=parameters,
            macs_before=macs,
            macs_after=macs,
            float_test_accuracy=float_accuracy,
            quantize_nodes=ops.get("QuantizeLinear", 0),
            dequantize_nodes=ops.get("DequantizeLinear", 0),
            opset=p["opset"],
            time_s=time.perf_counter() - started,
            **file_sizes(target),
        )
        log.info(
            "torch-qat: torch test accuracy %s (float) -> %s (fake-quantized), %d bytes",
            float_accuracy,
            info["qat_torch_test_accuracy"],
            info["file_bytes"],
        )
        metadata = {
            **artifact.metadata,
            "architecture": checkpoint.architecture,
            "precision": "int8",
            "qat": info,
        }
        return self.save_artifact(target, "onnx", io, metadata)
