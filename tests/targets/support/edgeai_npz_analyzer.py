"""A test plugin: an analyzer of the core's ``npz-mlp`` artifacts (dense layers), exact by construction.

Per layer ``i`` (``layer{i}.weight`` of shape (in, out), ``layer{i}.bias``): a Gemm with in*out MACs and
in*out + out parameters, then a Relu (but the last); activations are float32 vectors, so the peak activation
memory is the largest (in + out) * 4 bytes of a layer (batch 1).
"""

from __future__ import annotations

import numpy as np

from edgeai_core.api import AnalyzerRecord, LayerComplexity, ModelAnalyzer, ModelComplexity, hookimpl


class NpzMlpAnalyzer(ModelAnalyzer):
    def analyze(self, artifact):  # type: ignore[no-untyped-def]
        with np.load(artifact.path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        layers, weight_bytes, peak = [], {}, 0
        i = 0
        while f"layer{i}.weight" in arrays:
            w, b = arrays[f"layer{i}.weight"], arrays[f"layer{i}.bias"]
            n_in, n_out = w.shape
            bytes_by = {str(w.dtype): int(w.nbytes)}
            bytes_by[str(b.dtype)] = bytes_by.get(str(b.dtype), 0) + int(b.nbytes)
            for k, v in bytes_by.items():
                weight_bytes[k] = weight_bytes.get(k, 0) + v
            layers.append(
                LayerComplexity(
                    name=f"layer{i}", op_type="Gemm", input_shapes=((1, n_in),), output_shapes=((1, n_out),),
                    params=int(w.size + b.size), weight_bytes=bytes_by, macs=int(n_in * n_out),
                    flops=int(2 * n_in * n_out + n_out), activation_bytes=4 * n_out,
                    dtypes=tuple(sorted({"float32", str(w.dtype)})),
                )
            )  # fmt: skip
            peak = max(peak, 4 * (n_in + n_out))
            i += 1
            if f"layer{i}.weight" in arrays:
                layers.append(
                    LayerComplexity(
                        name=f"relu{i - 1}", op_type="Relu", input_shapes=((1, n_out),),
                        output_shapes=((1, n_out),), macs=0, flops=n_out, activation_bytes=4 * n_out,
                        dtypes=("float32",),
                    )
                )  # fmt: skip
        return ModelComplexity(
            format=artifact.format,
            analyzer=self.record.name,
            layers=tuple(layers),
            params=sum(layer.params for layer in layers),
            weight_bytes=weight_bytes,
            macs=sum(layer.macs or 0 for layer in layers),
            flops=sum(layer.flops or 0 for layer in layers),
            peak_activation_bytes=peak,
            op_types=tuple(sorted({layer.op_type for layer in layers})),
            dtypes=tuple(sorted({d for layer in layers for d in layer.dtypes})),
        )


@hookimpl
def edgeai_register_analyzers():  # type: ignore[no-untyped-def]
    return [
        AnalyzerRecord(
            name="npz-mlp", summary="Dense layers of npz-mlp archives (tests)",
            factory="edgeai_npz_analyzer:NpzMlpAnalyzer", formats=("npz-mlp",),
        )
    ]  # fmt: skip
