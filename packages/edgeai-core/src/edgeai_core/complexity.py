"""Model complexity: the per-layer and whole-model figures an analyzer computes from an artifact.

An analyzer (a component of kind ``analyzer``, see :class:`~edgeai_core.components.ModelAnalyzer`) reads an
artifact of one of its formats and returns a :class:`ModelComplexity`. The core only defines the records and
their JSON form; it never imports a framework. Fit checks against target profiles and the report read these
records.

Counting rules, shared by every analyzer:

- ``macs``: multiply-accumulates; ``flops`` counts a MAC as 2 FLOPs plus the other arithmetic (a bias
  addition, elementwise and activation operations count one FLOP per output element and operation; pooling,
  normalization and softmax a fixed number per element that the analyzer documents).
- ``params``: elements of the layer's constant inputs (weights, biases), each constant counted once, at the
  first layer that reads it, so the layers' sum is the model's; integer tensors that only describe shapes,
  axes or indices are not parameters. ``weight_bytes`` maps dtype names (``"float32"``, ``"int8"``...) to the
  bytes those constants take.
- ``activation_bytes``: bytes of the layer's outputs. ``peak_activation_bytes`` is the largest sum of live
  non-constant tensors (graph inputs included) at any step of the graph's execution order, a tensor living from
  the step that produces it to the last step that reads it (graph outputs live to the end); a tensor whose
  shape is unknown counts 0 bytes.
- An operator the analyzer cannot count appears in ``unknown_ops``; its layer has ``macs=None`` and the totals
  are then lower bounds (``lower_bound=True``), never silently complete.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgeai_core.errors import EdgeaiError


class AnalysisError(EdgeaiError):
    """An artifact could not be analysed (unreadable file, unsupported format)."""

    exit_code = 2


@dataclass(frozen=True, kw_only=True)
class LayerComplexity:
    """One layer (an ONNX node, a TFLite operator...) of an analysed model.

    ``shapes`` hold concrete dims; a symbolic (dynamic) dim that the analyzer had to fix is reported in
    :attr:`ModelComplexity.assumed_dims`. ``macs``/``flops`` are None for an operator the analyzer does not know.
    """

    name: str
    op_type: str
    input_shapes: tuple[tuple[int, ...], ...] = ()
    output_shapes: tuple[tuple[int, ...], ...] = ()
    params: int = 0
    weight_bytes: Mapping[str, int] = field(default_factory=dict)
    macs: int | None = 0
    flops: int | None = 0
    activation_bytes: int = 0
    dtypes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op_type": self.op_type,
            "input_shapes": [list(s) for s in self.input_shapes],
            "output_shapes": [list(s) for s in self.output_shapes],
            "params": self.params,
            "weight_bytes": dict(self.weight_bytes),
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "dtypes": list(self.dtypes),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LayerComplexity:
        return cls(
            name=str(data["name"]),
            op_type=str(data["op_type"]),
            input_shapes=tuple(tuple(int(d) for d in s) for s in data.get("input_shapes", ())),
            output_shapes=tuple(tuple(int(d) for d in s) for s in data.get("output_shapes", ())),
            params=int(data.get("params", 0)),
            weight_bytes={str(k): int(v) for k, v in dict(data.get("weight_bytes", {})).items()},
            macs=None if data.get("macs") is None else int(data["macs"]),
            flops=None if data.get("flops") is None else int(data["flops"]),
            activation_bytes=int(data.get("activation_bytes", 0)),
            dtypes=tuple(str(d) for d in data.get("dtypes", ())),
        )


@dataclass(frozen=True, kw_only=True)
class ModelComplexity:
    """Whole-model figures plus the per-layer table, as one analyzer computed them.

    ``format``: the artifact format analysed (``"onnx"``). ``analyzer``: the analyzer's name.
    ``op_types``: every operator type in the model (for operator-support checks). ``dtypes``: every tensor
    element type used by compute (for int8-only targets). ``assumed_dims``: ``{"input:dim": value}`` for
    dynamic dims fixed for the analysis.
    """

    format: str
    analyzer: str
    layers: Sequence[LayerComplexity] = ()
    params: int = 0
    weight_bytes: Mapping[str, int] = field(default_factory=dict)
    macs: int = 0
    flops: int = 0
    peak_activation_bytes: int = 0
    op_types: tuple[str, ...] = ()
    dtypes: tuple[str, ...] = ()
    unknown_ops: tuple[str, ...] = ()
    assumed_dims: Mapping[str, int] = field(default_factory=dict)

    @property
    def lower_bound(self) -> bool:
        """True when some operator was not counted, so ``macs``/``flops`` are lower bounds."""
        return bool(self.unknown_ops)

    @property
    def total_weight_bytes(self) -> int:
        return sum(self.weight_bytes.values())

    def top_layers(self, key: str = "macs", n: int = 10) -> list[LayerComplexity]:
        """The ``n`` layers with the largest ``key`` (``macs``, ``flops``, ``params``, ``activation_bytes``)."""

        def value(layer: LayerComplexity) -> int:
            v = getattr(layer, key)
            return int(v) if v is not None else -1

        return sorted(self.layers, key=value, reverse=True)[:n]

    def to_json(self, *, layers: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format,
            "analyzer": self.analyzer,
            "params": self.params,
            "weight_bytes": dict(self.weight_bytes),
            "total_weight_bytes": self.total_weight_bytes,
            "macs": self.macs,
            "flops": self.flops,
            "peak_activation_bytes": self.peak_activation_bytes,
            "op_types": list(self.op_types),
            "dtypes": list(self.dtypes),
            "unknown_ops": list(self.unknown_ops),
            "lower_bound": self.lower_bound,
            "assumed_dims": dict(self.assumed_dims),
        }
        if layers:
            out["layers"] = [layer.to_json() for layer in self.layers]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelComplexity:
        return cls(
            format=str(data["format"]),
            analyzer=str(data["analyzer"]),
            layers=tuple(LayerComplexity.from_json(x) for x in data.get("layers", ())),
            params=int(data.get("params", 0)),
            weight_bytes={str(k): int(v) for k, v in dict(data.get("weight_bytes", {})).items()},
            macs=int(data.get("macs", 0)),
            flops=int(data.get("flops", 0)),
            peak_activation_bytes=int(data.get("peak_activation_bytes", 0)),
            op_types=tuple(str(x) for x in data.get("op_types", ())),
            dtypes=tuple(str(x) for x in data.get("dtypes", ())),
            unknown_ops=tuple(str(x) for x in data.get("unknown_ops", ())),
            assumed_dims={str(k): int(v) for k, v in dict(data.get("assumed_dims", {})).items()},
        )


__all__ = ["AnalysisError", "LayerComplexity", "ModelComplexity"]
